// Every SQL text of the PostgreSQL backend that carries values, as a named
// prepared statement (declared on each connection by connect()); callers
// name them through these constants and pass values only as parameters.
// The SQL lives in statements.cpp. list_orders' filter combinations are the
// one family of texts assembled at run time, from fixed fragments only
// (list_orders_statement).
#pragma once

#include <string>

namespace pqxx {
class connection_base;
}

namespace possync::storage::postgres {

// The order columns records.cpp's read_order() expects, for `sync_orders o`.
#define POSSYNC_PG_ORDER_COLUMNS                                                               \
  "o.order_id, o.ref, o.shop, o.sender, o.sender_name, o.mode, o.created_at, o.updated_at, " \
  "o.order_json, o.line_count"
inline constexpr int kOrderColumnCount = 10;

// The history columns cluster.cpp reads, joined with the order's shop and sender.
#define POSSYNC_PG_HISTORY_EVENT_COLUMNS                                                        \
  "h.id, h.order_id, h.receiver, h.from_status, h.to_status, h.by_session, h.reason, h.at, " \
  "o.shop, o.sender"

namespace stmt {
// records
inline constexpr const char* kOrderById = "order_by_id";
inline constexpr const char* kReceiversOf = "receivers_of";
inline constexpr const char* kReceiversOfMany = "receivers_of_many";
inline constexpr const char* kSessionById = "session_by_id";
inline constexpr const char* kSessionsByIds = "sessions_by_ids";
// reads
inline constexpr const char* kAuthSession = "auth_session";
inline constexpr const char* kSessionsOfShop = "sessions_of_shop";
inline constexpr const char* kSessionsAll = "sessions_all";
inline constexpr const char* kPending = "pending";
inline constexpr const char* kInbox = "inbox";
inline constexpr const char* kOutbox = "outbox";
inline constexpr const char* kHistoryOf = "history_of";
// writes
// The order engine's batch (writes.cpp): each one statement for a whole batch.
inline constexpr const char* kOrdersByRefs = "orders_by_refs";
inline constexpr const char* kLockOrders = "lock_orders";
inline constexpr const char* kNewOrderIds = "new_order_ids";
inline constexpr const char* kWriteBatch = "write_batch";
inline constexpr const char* kInsertSession = "insert_session";
inline constexpr const char* kUpdateSession = "update_session";
inline constexpr const char* kRotateToken = "rotate_token";
inline constexpr const char* kDeleteSession = "delete_session";
inline constexpr const char* kNotify = "notify";
inline constexpr const char* kPing = "ping";
// cluster
inline constexpr const char* kJoinNode = "join_node";
inline constexpr const char* kHeartbeat = "heartbeat";
inline constexpr const char* kDeadNodes = "dead_nodes";
inline constexpr const char* kReapNode = "reap_node";
inline constexpr const char* kLeaveNode = "leave_node";
inline constexpr const char* kDeletePresenceOfNode = "delete_presence_of_node";
inline constexpr const char* kUpsertPresence = "upsert_presence";
inline constexpr const char* kDeletePresence = "delete_presence";
inline constexpr const char* kRemotePresence = "remote_presence";
inline constexpr const char* kHistoryByIds = "history_by_ids";
inline constexpr const char* kHistorySince = "history_since";
inline constexpr const char* kOrdersByIds = "orders_by_ids";
inline constexpr const char* kServerNow = "server_now";
inline constexpr const char* kInsertRevocation = "insert_revocation";
inline constexpr const char* kRevocationsSince = "revocations_since";
inline constexpr const char* kPruneRevocations = "prune_revocations";
}  // namespace stmt

// Declares and prepares every statement above on a fresh connection.
void declare_statements(pqxx::connection_base& conn);

// list_orders with the filters present in `mask` (bit 0 shop, 1 sender,
// 2 ref, 3 receiver, 4 statuses): declares "list_orders_<mask>" on first
// use and returns its name. Parameters, in this order: before, limit, then
// one per present filter in bit order (statuses as a text[] literal).
std::string list_orders_statement(pqxx::connection_base& conn, unsigned mask);

}  // namespace possync::storage::postgres
