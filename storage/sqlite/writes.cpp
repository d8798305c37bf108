// The SQLite rows behind the write rules of storage/engine/rules.hpp.
#include "storage/sqlite/writes.hpp"

#include <utility>

#include "storage/sqlite/records.hpp"

namespace possync::storage::sqlite {

using protocol::Status;

std::unordered_map<std::string, SessionEntry> SqliteRows::sessions(const std::vector<std::string>& ids) {
  std::unordered_map<std::string, SessionEntry> out;
  for (const auto& id : ids) {
    if (out.count(id) != 0) continue;
    if (auto entry = find_session(db_, id)) out.emplace(id, std::move(*entry));
  }
  return out;
}

std::optional<SessionEntry> SqliteRows::session(const std::string& id) { return find_session(db_, id); }

std::optional<std::int64_t> SqliteRows::order_by_ref(const std::string& sender, const std::string& ref) {
  Query q = db_.query("SELECT order_id FROM sync_orders WHERE sender = ?1 AND ref = ?2");
  q.bind_all(sender, ref);
  if (!q.step()) return std::nullopt;
  return q.int64(0);
}

std::optional<OrderRecord> SqliteRows::order(std::int64_t order_id) { return load_order(db_, order_id); }

std::optional<engine::OrderState> SqliteRows::order_state(std::int64_t order_id) {
  Query q = db_.query(
      "SELECT o.shop, o.sender, o.mode, d.receiver, d.status FROM sync_orders o"
      " JOIN deliveries d ON d.order_id = o.order_id WHERE o.order_id = ?1 ORDER BY d.position");
  q.bind(1, order_id);
  std::optional<engine::OrderState> out;
  while (q.step()) {
    if (!out) {
      out.emplace();
      out->order_id = order_id;
      out->shop = q.text(0);
      out->sender = q.text(1);
      out->mode = protocol::parse_mode(q.text(2)).value_or(Mode::copy);
    }
    out->deliveries.push_back({q.text(3), status_column(q, 4)});
  }
  return out;
}

std::string SqliteRows::order_json(std::int64_t order_id) {
  Query q = db_.query("SELECT order_json FROM sync_orders WHERE order_id = ?1");
  q.bind(1, order_id);
  if (!q.step()) throw SqliteError(SQLITE_INTERNAL, "order " + std::to_string(order_id) + " vanished");
  return q.text(0);
}

std::vector<ReceiverStatus> SqliteRows::receivers(std::int64_t order_id) { return load_receivers(db_, order_id); }

std::optional<std::int64_t> SqliteRows::insert_order(const OrderRecord& order) {
  db_.query(
         "INSERT INTO sync_orders (shop, sender, sender_name, ref, mode, order_json, line_count, created_at)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
      .bind_all(order.shop, order.from, order.from_name, order.ref, protocol::to_string(order.mode), order.order_json,
                order.line_count, order.created_at)
      .run();
  return db_.last_insert_rowid();
}

void SqliteRows::insert_deliveries(std::int64_t order_id, const std::vector<std::string>& to, const std::string& by,
                                   const std::string& at) {
  for (std::size_t i = 0; i < to.size(); ++i) {
    db_.query(
           "INSERT INTO deliveries (order_id, receiver, position, status, updated_at)"
           " VALUES (?1, ?2, ?3, 'sent', ?4)")
        .bind_all(order_id, to[i], i, at)
        .run();
    insert_history(order_id, to[i], std::nullopt, Status::sent, by, std::nullopt, at);
  }
}

void SqliteRows::move_delivery(std::int64_t order_id, const std::string& receiver, Status from, Status to,
                               const std::string& by, const std::optional<std::string>& reason, const std::string& at) {
  db_.query(
         "UPDATE deliveries SET status = ?1, updated_at = ?2"
         " WHERE order_id = ?3 AND receiver = ?4 AND status = ?5")
      .bind_all(protocol::to_string(to), at, order_id, receiver, protocol::to_string(from))
      .run();
  if (db_.changes() != 1) {
    throw SqliteError(SQLITE_INTERNAL, "delivery of order " + std::to_string(order_id) + " to " + receiver +
                                           " changed under the writer");
  }
  insert_history(order_id, receiver, from, to, by, reason, at);
}

// Nothing to write: an order's updated_at is its deliveries' newest
// (migration 0002), and move_delivery() has just set it.
void SqliteRows::touch_order(std::int64_t order_id, const std::string& at) {
  (void)order_id;
  (void)at;
}

bool SqliteRows::insert_session(const SessionEntry& entry, const std::string& token_hash, const std::string& at) {
  // One writer: the engine's look for the session cannot be overtaken.
  db_.query(
         "INSERT INTO sessions (id, name, shop, sender, receiver, token_hash, created_at, updated_at)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)")
      .bind_all(entry.session, entry.name, entry.shop, entry.sender, entry.receiver, token_hash, at)
      .run();
  return true;
}

void SqliteRows::update_session(const SessionEntry& entry, const std::string& at) {
  db_.query("UPDATE sessions SET name = ?1, shop = ?2, sender = ?3, receiver = ?4, updated_at = ?5 WHERE id = ?6")
      .bind_all(entry.name, entry.shop, entry.sender, entry.receiver, at, entry.session)
      .run();
}

bool SqliteRows::update_token(const std::string& session, const std::string& token_hash, const std::string& at) {
  db_.query("UPDATE sessions SET token_hash = ?1, updated_at = ?2 WHERE id = ?3")
      .bind_all(token_hash, at, session)
      .run();
  return db_.changes() != 0;
}

bool SqliteRows::delete_session(const std::string& session) {
  db_.query("DELETE FROM sessions WHERE id = ?1").bind(1, session).run();
  return db_.changes() != 0;
}

void SqliteRows::insert_history(std::int64_t order_id, const std::string& receiver, std::optional<Status> from,
                                Status to, const std::string& by, const std::optional<std::string>& reason,
                                const std::string& at) {
  Query q = db_.query(
      "INSERT INTO history (order_id, receiver, from_status, to_status, by_session, reason, at)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  std::optional<std::string_view> from_text;
  if (from) from_text = protocol::to_string(*from);
  q.bind_all(order_id, receiver, from_text, protocol::to_string(to), by, reason, at).run();
}

}  // namespace possync::storage::sqlite
