#include "storage/postgres/statements.hpp"

#include <pqxx/pqxx>

namespace possync::storage::postgres {

namespace {

struct Statement {
  const char* name;
  const char* sql;
};

// Receivers and statuses travel as one array parameter ($n::text[]), ids as
// $n::bigint[]: one statement serves any count.
constexpr Statement kStatements[] = {
    // ---- records
    {stmt::kOrderById, "SELECT " POSSYNC_PG_ORDER_COLUMNS " FROM sync_orders o WHERE o.order_id = $1"},
    {stmt::kReceiversOf,
     "SELECT receiver, status, updated_at FROM deliveries WHERE order_id = $1 ORDER BY position"},
    {stmt::kReceiversOfMany,
     "SELECT order_id, receiver, status, updated_at FROM deliveries WHERE order_id = ANY($1::bigint[])"
     " ORDER BY order_id, position"},
    {stmt::kSessionById, "SELECT id, name, shop, sender, receiver FROM sessions WHERE id = $1"},
    {stmt::kSessionsByIds,
     "SELECT id, name, shop, sender, receiver FROM sessions WHERE id = ANY($1::text[])"},

    // ---- reads
    {stmt::kAuthSession, "SELECT id, name, shop, sender, receiver, token_hash FROM sessions WHERE id = $1"},
    {stmt::kSessionsOfShop, "SELECT id, name, shop, sender, receiver FROM sessions WHERE shop = $1 ORDER BY id"},
    {stmt::kSessionsAll, "SELECT id, name, shop, sender, receiver FROM sessions ORDER BY id"},
    {stmt::kPending,
     "SELECT " POSSYNC_PG_ORDER_COLUMNS ", d.receiver, d.status, d.updated_at"
     " FROM deliveries d JOIN sync_orders o ON o.order_id = d.order_id"
     " WHERE d.receiver = $1 AND d.status = 'sent' AND d.order_id > $2 ORDER BY d.order_id LIMIT $3"},
    {stmt::kInbox,
     "SELECT " POSSYNC_PG_ORDER_COLUMNS ", d.receiver, d.status, d.updated_at"
     " FROM deliveries d JOIN sync_orders o ON o.order_id = d.order_id"
     " WHERE d.receiver = $1 AND d.status = ANY($2::text[]) AND d.order_id < $3"
     " ORDER BY d.order_id DESC LIMIT $4"},
    {stmt::kOutbox,
     "SELECT " POSSYNC_PG_ORDER_COLUMNS " FROM sync_orders o"
     " WHERE o.sender = $1 AND o.order_id < $2"
     " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.order_id = o.order_id AND d.status = ANY($3::text[]))"
     " ORDER BY o.order_id DESC LIMIT $4"},
    {stmt::kHistoryOf,
     "SELECT at, receiver, from_status, to_status, by_session, reason FROM history"
     " WHERE order_id = $1 ORDER BY id"},

    // ---- writes
    // The (sender, ref) pairs of a batch's sends that are stored already.
    {stmt::kOrdersByRefs,
     "SELECT o.sender, o.ref, o.order_id FROM sync_orders o"
     " JOIN unnest($1::text[], $2::text[]) AS k(sender, ref) ON o.sender = k.sender AND o.ref = k.ref"},
    // The batch's orders with every delivery, the deliveries locked until
    // the writer's transaction ends: transitions of one order are
    // serialized across nodes (the claim is decided by whoever locks first;
    // the other reads the result). Locked in order_id order, as every
    // node's batch does: two batches wait for each other, never deadlock.
    {stmt::kLockOrders,
     "SELECT " POSSYNC_PG_ORDER_COLUMNS ", d.receiver, d.status, d.updated_at FROM deliveries d"
     " JOIN sync_orders o ON o.order_id = d.order_id"
     " WHERE d.order_id = ANY($1::bigint[]) ORDER BY d.order_id, d.position FOR UPDATE OF d"},
    {stmt::kNewOrderIds,
     "SELECT nextval(pg_get_serial_sequence('sync_orders', 'order_id')) FROM generate_series(1, $1::int)"},
    // Everything a batch decided, in one statement (one round trip):
    //   new_orders   the batch's orders. A send of the same (ref, sender) by
    //                another node waits here for that node's transaction
    //                and then inserts nothing: the count tells, and the
    //                batch runs again (its load then finds the other's order);
    //   new_rows     their deliveries (statuses as the batch left them);
    //   moved        stored deliveries from their status before to the
    //                batch's last (a row whose status differs is not
    //                updated, and the count tells);
    //   touched      stored orders' updated_at;
    //   hist         the history rows, in the batch's order (ids grow so).
    // Rows of an order that was not inserted are left out, so that the
    // counts, not a foreign key error, say what happened. Every part runs
    // once, whatever the final SELECT reads; it returns the two counts on
    // every row and one history id per row (one row with a NULL id when
    // there is no history row).
    {stmt::kWriteBatch,
     "WITH new_orders AS ("
     "  INSERT INTO sync_orders (order_id, shop, sender, sender_name, ref, mode, order_json, line_count, created_at,"
     "  updated_at) OVERRIDING SYSTEM VALUE"
     "  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
     "  $8::int[], $9::text[], $10::text[])"
     "  ON CONFLICT ON CONSTRAINT sync_orders_ref_sender DO NOTHING RETURNING order_id),"
     " new_rows AS ("
     "  INSERT INTO deliveries (order_id, receiver, position, status, updated_at)"
     "  SELECT * FROM unnest($11::bigint[], $12::text[], $13::int[], $14::text[], $15::text[])"
     "  AS r(order_id, receiver, position, status, updated_at)"
     "  WHERE r.order_id IN (SELECT order_id FROM new_orders)),"
     " moved AS ("
     "  UPDATE deliveries d SET status = m.to_status, updated_at = m.at"
     "  FROM unnest($16::bigint[], $17::text[], $18::text[], $19::text[], $20::text[])"
     "  AS m(order_id, receiver, from_status, to_status, at)"
     "  WHERE d.order_id = m.order_id AND d.receiver = m.receiver AND d.status = m.from_status RETURNING 1),"
     " touched AS ("
     "  UPDATE sync_orders o SET updated_at = t.at FROM unnest($21::bigint[], $22::text[]) AS t(order_id, at)"
     "  WHERE o.order_id = t.order_id),"
     " hist AS ("
     "  INSERT INTO history (order_id, receiver, from_status, to_status, by_session, reason, at, node)"
     "  SELECT h.order_id, h.receiver, h.from_status, h.to_status, h.by_session, h.reason, h.at, $30"
     "  FROM unnest($23::bigint[], $24::text[], $25::text[], $26::text[], $27::text[], $28::text[], $29::text[])"
     "  WITH ORDINALITY AS h(order_id, receiver, from_status, to_status, by_session, reason, at, n)"
     "  WHERE h.order_id <> ALL($1::bigint[]) OR h.order_id IN (SELECT order_id FROM new_orders)"
     "  ORDER BY h.n RETURNING id)"
     " SELECT c.orders, c.moved, h.id FROM"
     " (SELECT (SELECT count(*) FROM new_orders) AS orders, (SELECT count(*) FROM moved) AS moved) AS c"
     " LEFT JOIN hist h ON true ORDER BY h.id"},
    {stmt::kInsertSession,
     "INSERT INTO sessions (id, name, shop, sender, receiver, token_hash, created_at, updated_at)"
     " VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (id) DO NOTHING RETURNING id"},
    {stmt::kUpdateSession,
     "UPDATE sessions SET name = $1, shop = $2, sender = $3, receiver = $4, updated_at = $5 WHERE id = $6"},
    {stmt::kRotateToken, "UPDATE sessions SET token_hash = $1, updated_at = $2 WHERE id = $3"},
    {stmt::kDeleteSession, "DELETE FROM sessions WHERE id = $1"},
    {stmt::kNotify, "SELECT pg_notify($1, $2)"},
    {stmt::kPing, "SELECT 1"},

    // ---- cluster (times by the server's clock; intervals in milliseconds)
    {stmt::kJoinNode,
     "INSERT INTO cluster_nodes (node_id) VALUES ($1) ON CONFLICT (node_id)"
     " DO UPDATE SET started_at = now(), heartbeat_at = now() RETURNING now()::text"},
    {stmt::kHeartbeat, "UPDATE cluster_nodes SET heartbeat_at = now() WHERE node_id = $1 RETURNING now()::text"},
    {stmt::kDeadNodes,
     "SELECT node_id FROM cluster_nodes"
     " WHERE node_id <> $1 AND heartbeat_at < now() - $2::bigint * interval '1 millisecond' ORDER BY node_id"},
    {stmt::kReapNode,
     "DELETE FROM cluster_nodes WHERE node_id = $1 AND heartbeat_at < now() - $2::bigint * interval '1 millisecond'"},
    {stmt::kLeaveNode, "DELETE FROM cluster_nodes WHERE node_id = $1"},
    {stmt::kDeletePresenceOfNode,
     "DELETE FROM cluster_presence WHERE node = $1 RETURNING session, shop"},
    {stmt::kUpsertPresence,
     "INSERT INTO cluster_presence (node, session, shop, connections) VALUES ($1, $2, $3, $4)"
     " ON CONFLICT (node, session) DO UPDATE"
     " SET shop = EXCLUDED.shop, connections = EXCLUDED.connections, updated_at = now()"},
    {stmt::kDeletePresence, "DELETE FROM cluster_presence WHERE node = $1 AND session = $2"},
    {stmt::kRemotePresence,
     "SELECT p.node, p.session, p.shop, p.connections FROM cluster_presence p"
     " JOIN cluster_nodes n ON n.node_id = p.node"
     " WHERE p.node <> $1 AND n.heartbeat_at >= now() - $2::bigint * interval '1 millisecond'"
     " ORDER BY p.node, p.session"},
    {stmt::kHistoryByIds,
     "SELECT " POSSYNC_PG_HISTORY_EVENT_COLUMNS
     " FROM history h JOIN sync_orders o ON o.order_id = h.order_id WHERE h.id = ANY($1::bigint[]) ORDER BY h.id"},
    {stmt::kHistorySince,
     "SELECT " POSSYNC_PG_HISTORY_EVENT_COLUMNS
     " FROM history h JOIN sync_orders o ON o.order_id = h.order_id"
     " WHERE h.logged_at >= $1::timestamptz - $2::bigint * interval '1 millisecond'"
     " AND h.node IS DISTINCT FROM $3 AND h.id > $4 ORDER BY h.id LIMIT $5"},
    {stmt::kOrdersByIds,
     "SELECT " POSSYNC_PG_ORDER_COLUMNS " FROM sync_orders o WHERE o.order_id = ANY($1::bigint[])"},
    {stmt::kServerNow, "SELECT now()::text"},
    {stmt::kInsertRevocation,
     "INSERT INTO cluster_revocations (node, session, close_code) VALUES ($1, $2, $3) RETURNING id"},
    {stmt::kRevocationsSince,
     "SELECT id, node, session, close_code FROM cluster_revocations"
     " WHERE logged_at >= $1::timestamptz - $2::bigint * interval '1 millisecond' AND node <> $3 ORDER BY id"},
    {stmt::kPruneRevocations, "DELETE FROM cluster_revocations WHERE logged_at < now() - interval '1 hour'"},
};

}  // namespace

void declare_statements(pqxx::connection_base& conn) {
  // Prepared now rather than on first use: the first use may come when the
  // server has just gone away, and libpqxx 6.4 leaks the failed PGresult
  // of a lazy preparation (seen under LeakSanitizer in the outage test).
  for (const Statement& s : kStatements) {
    conn.prepare(s.name, s.sql);
    conn.prepare_now(s.name);
  }
}

std::string list_orders_statement(pqxx::connection_base& conn, unsigned mask) {
  // Fixed fragments only; each filter combination gets its own statement
  // and its own plan (an index per filter).
  std::string sql = "SELECT " POSSYNC_PG_ORDER_COLUMNS " FROM sync_orders o WHERE o.order_id < $1";
  int next = 3;  // $2 is the limit
  const auto param = [&next] { return "$" + std::to_string(next++); };
  if (mask & 1U) sql += " AND o.shop = " + param();
  if (mask & 2U) sql += " AND o.sender = " + param();
  if (mask & 4U) sql += " AND o.ref = " + param();
  const bool by_status = (mask & 16U) != 0;
  if (mask & 8U) {
    sql += " AND o.order_id IN (SELECT d.order_id FROM deliveries d WHERE d.receiver = " + param();
    if (by_status) sql += " AND d.status = ANY(" + param() + "::text[])";
    sql += ")";
  } else if (by_status) {
    sql += " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.order_id = o.order_id AND d.status = ANY(" + param() +
           "::text[]))";
  }
  sql += " ORDER BY o.order_id DESC LIMIT $2";
  const std::string name = "list_orders_" + std::to_string(mask);
  conn.prepare(name, sql);  // the same definition again is a no-op
  return name;
}

}  // namespace possync::storage::postgres
