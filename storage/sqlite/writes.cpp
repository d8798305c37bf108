#include "storage/sqlite/writes.hpp"

#include <string_view>
#include <utility>

#include "storage/sqlite/records.hpp"

namespace possync::storage::sqlite {

using engine::SessionWrite;
using protocol::Status;

void SqliteBatch::begin() {
  next_order_id_ = 0;
  db_.query("BEGIN IMMEDIATE").run();
}

void SqliteBatch::commit() { db_.query("COMMIT").run(); }

void SqliteBatch::rollback() noexcept {
  if (db_.in_transaction()) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void SqliteBatch::load(const engine::Wants& wants, engine::Found& found) {
  for (const auto& id : wants.sessions) {
    if (auto entry = find_session(db_, id)) found.sessions.push_back(std::move(*entry));
  }
  for (const auto& key : wants.refs) {
    Query q = db_.query("SELECT order_id FROM sync_orders WHERE sender = ?1 AND ref = ?2");
    q.bind_all(key.sender, key.ref);
    if (q.step()) found.refs.emplace_back(key, q.int64(0));
  }
  for (const auto id : wants.orders) {
    if (auto order = load_order(db_, id)) found.orders.push_back(std::move(*order));
  }
}

std::vector<std::int64_t> SqliteBatch::new_order_ids(std::size_t count) {
  if (next_order_id_ == 0) {
    Query q = db_.query(
        "SELECT MAX(IFNULL((SELECT seq FROM sqlite_sequence WHERE name = 'sync_orders'), 0),"
        " IFNULL((SELECT MAX(order_id) FROM sync_orders), 0))");
    q.step();
    next_order_id_ = q.int64(0) + 1;
  }
  std::vector<std::int64_t> ids;
  ids.reserve(count);
  for (std::size_t i = 0; i < count; ++i) ids.push_back(next_order_id_++);
  return ids;
}

namespace {

void write_session(Db& db, const SessionWrite& w) {
  const SessionEntry& e = w.entry;
  switch (w.kind) {
    case SessionWrite::Kind::insert:
      db.query(
            "INSERT INTO sessions (id, name, shop, sender, receiver, token_hash, created_at, updated_at)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)")
          .bind_all(e.session, e.name, e.shop, e.sender, e.receiver, w.token_hash, w.at)
          .run();
      return;
    case SessionWrite::Kind::update:
      db.query("UPDATE sessions SET name = ?1, shop = ?2, sender = ?3, receiver = ?4, updated_at = ?5 WHERE id = ?6")
          .bind_all(e.name, e.shop, e.sender, e.receiver, w.at, e.session)
          .run();
      return;
    case SessionWrite::Kind::token:
      db.query("UPDATE sessions SET token_hash = ?1, updated_at = ?2 WHERE id = ?3")
          .bind_all(w.token_hash, w.at, e.session)
          .run();
      return;
    case SessionWrite::Kind::remove:
      db.query("DELETE FROM sessions WHERE id = ?1").bind(1, e.session).run();
      return;
  }
}

}  // namespace

// One writer: what load() read cannot have changed, so every write lands
// where the engine decided (a delivery's status is still checked: a
// mismatch is a bug, and fails the batch's rows rather than hiding it).
void SqliteBatch::write(const engine::Changes& changes) {
  for (const auto& w : changes.sessions) write_session(db_, w);
  for (const auto& order : changes.orders) {
    db_.query(
           "INSERT INTO sync_orders (order_id, shop, sender, sender_name, ref, mode, order_json, line_count,"
           " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
        .bind_all(order.order_id, order.shop, order.from, order.from_name, order.ref,
                  protocol::to_string(order.mode), order.order_json, order.line_count, order.created_at)
        .run();
    for (std::size_t i = 0; i < order.receivers.size(); ++i) {
      const auto& d = order.receivers[i];
      db_.query(
             "INSERT INTO deliveries (order_id, receiver, position, status, updated_at)"
             " VALUES (?1, ?2, ?3, ?4, ?5)")
          .bind_all(order.order_id, d.session, i, protocol::to_string(d.status), d.updated_at)
          .run();
    }
  }
  for (const auto& m : changes.moves) {
    db_.query(
           "UPDATE deliveries SET status = ?1, updated_at = ?2"
           " WHERE order_id = ?3 AND receiver = ?4 AND status = ?5")
        .bind_all(protocol::to_string(m.to), m.at, m.order_id, m.receiver, protocol::to_string(m.from))
        .run();
    if (db_.changes() != 1) {
      throw SqliteError(SQLITE_INTERNAL, "delivery of order " + std::to_string(m.order_id) + " to " + m.receiver +
                                             " changed under the writer");
    }
  }
  for (const auto& h : changes.history) {
    std::optional<std::string_view> from;
    if (h.from) from = protocol::to_string(*h.from);
    db_.query(
           "INSERT INTO history (order_id, receiver, from_status, to_status, by_session, reason, at)"
           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
        .bind_all(h.order_id, h.receiver, from, protocol::to_string(h.to), h.by, h.reason, h.at)
        .run();
  }
  // changes.touched: nothing to write, an order's updated_at is its
  // deliveries' newest (migration 0002).
}

engine::Failure SqliteBatch::classify_current() const noexcept {
  try {
    throw;
  } catch (const SqliteError& e) {
    if (is_transient(e.code())) return engine::Failure::batch;
  } catch (...) {
  }
  // SQLite rolls the whole transaction back on some errors (I/O, full disk):
  // then every request of the batch is lost.
  return db_.in_transaction() ? engine::Failure::request : engine::Failure::batch;
}

}  // namespace possync::storage::sqlite
