#include "storage/postgres/writes.hpp"

#include <stdexcept>
#include <utility>

#include "storage/postgres/connection.hpp"
#include "storage/postgres/feed.hpp"
#include "storage/postgres/records.hpp"
#include "storage/postgres/statements.hpp"

namespace possync::storage::postgres {

namespace {

using engine::SessionWrite;
using protocol::Status;

Error error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace

// SQLite would keep a NUL; PostgreSQL cannot, and must not look up a
// truncated ref (it would answer another order as the duplicate).
std::optional<Error> PgBatch::refuse_send(const SendRequest& request) {
  if (has_nul(request.ref)) return error(ErrorCode::bad_request, "ref: must not contain U+0000");
  if (has_nul(request.sender)) return error(ErrorCode::forbidden, "session lacks the sender role");
  for (std::size_t i = 0; i < request.to.size(); ++i) {
    if (has_nul(request.to[i])) {
      return error(ErrorCode::not_found, "to[" + std::to_string(i) + "]: unknown receiver session");
    }
  }
  return std::nullopt;
}

std::optional<Error> PgBatch::refuse_reason(const std::optional<std::string>& reason) {
  if (reason && has_nul(*reason)) return error(ErrorCode::bad_request, "reason: must not contain U+0000");
  return std::nullopt;
}

std::optional<Error> PgBatch::refuse_session_update(const SessionUpdate& update) {
  if (update.name && has_nul(*update.name)) return error(ErrorCode::bad_request, "name: must not contain U+0000");
  return std::nullopt;
}

// ---------------------------------------------------------------------------

void PgBatch::set_up(pqxx::connection_base& conn) { conn.set_variable("plan_cache_mode", "force_generic_plan"); }

pqxx::work& PgBatch::tx() {
  if (!tx_) throw std::logic_error("no open transaction");
  return *tx_;
}

void PgBatch::begin() {
  tx_.reset();
  if (!conn_) throw pqxx::broken_connection("no connection to the database");
  tx_.emplace(*conn_);
  node_ = hooks_.node ? hooks_.node() : std::nullopt;
}

void PgBatch::commit() {
  tx().commit();
  tx_.reset();
}

void PgBatch::rollback() noexcept {
  try {
    if (tx_) tx_->abort();
  } catch (...) {
    // A broken connection: nothing to roll back on the server.
  }
  tx_.reset();
}

engine::Failure PgBatch::classify_current() const noexcept {
  switch (postgres::classify_current()) {
    case Failure::connection:
      return engine::Failure::connection;
    case Failure::retry:
      return engine::Failure::retry;
    case Failure::busy:
      return engine::Failure::batch;
    case Failure::other:
      break;
  }
  return engine::Failure::request;
}

void PgBatch::connection_lost(const std::string& reason) {
  tx_.reset();
  if (hooks_.lost) hooks_.lost(reason);
}

bool PgBatch::reconnect() { return hooks_.reconnect && hooks_.reconnect(); }

// ---------------------------------------------------------------------------
// Reads: three statements at most, whatever the batch holds.

// Text with a NUL cannot be stored here, so no row has it: such keys are
// left out (found absent), and the rules refuse their requests.
void PgBatch::load(const engine::Wants& wants, engine::Found& found) {
  pqxx::work& t = tx();
  ArrayLiteral sessions;
  std::size_t session_count = 0;
  for (const auto& id : wants.sessions) {
    if (has_nul(id)) continue;
    sessions.add(std::string_view(id));
    ++session_count;
  }
  if (session_count > 0) {
    for (const auto& row : t.exec_prepared(stmt::kSessionsByIds, sessions.take())) {
      found.sessions.push_back(read_session(row));
    }
  }
  ArrayLiteral senders;
  ArrayLiteral refs;
  std::size_t ref_count = 0;
  for (const auto& key : wants.refs) {
    if (has_nul(key.sender) || has_nul(key.ref)) continue;
    senders.add(std::string_view(key.sender));
    refs.add(std::string_view(key.ref));
    ++ref_count;
  }
  if (ref_count > 0) {
    for (const auto& row : t.exec_prepared(stmt::kOrdersByRefs, senders.take(), refs.take())) {
      found.refs.emplace_back(engine::RefKey{row[0].as<std::string>(), row[1].as<std::string>()},
                              row[2].as<std::int64_t>());
    }
  }
  if (!wants.orders.empty()) {
    for (const auto& row : t.exec_prepared(stmt::kLockOrders, id_array(wants.orders))) {
      const auto id = row[0].as<std::int64_t>();
      if (found.orders.empty() || found.orders.back().order_id != id) found.orders.push_back(read_order(row));
      found.orders.back().receivers.push_back({row[kOrderColumnCount].as<std::string>(),
                                               status_field(row[kOrderColumnCount + 1]),
                                               row[kOrderColumnCount + 2].as<std::string>()});
    }
  }
}

std::vector<std::int64_t> PgBatch::new_order_ids(std::size_t count) {
  std::vector<std::int64_t> ids;
  ids.reserve(count);
  for (const auto& row : tx().exec_prepared(stmt::kNewOrderIds, static_cast<int>(count))) {
    ids.push_back(row[0].as<std::int64_t>());
  }
  return ids;
}

// ---------------------------------------------------------------------------
// Writes

namespace {

// Session writes are the admin API's, one or two in a batch: a statement each.
void write_session(pqxx::work& t, const SessionWrite& w) {
  const SessionEntry& e = w.entry;
  switch (w.kind) {
    case SessionWrite::Kind::insert:
      // ON CONFLICT (id) DO NOTHING: no row when another node created it.
      if (t.exec_prepared(stmt::kInsertSession, e.session, e.name, e.shop, e.sender, e.receiver, w.token_hash, w.at)
              .empty()) {
        throw engine::Overtaken("session " + e.session + " was created by another writer");
      }
      return;
    case SessionWrite::Kind::update:
      t.exec_prepared(stmt::kUpdateSession, e.name, e.shop, e.sender, e.receiver, w.at, e.session);
      return;
    case SessionWrite::Kind::token:
      if (t.exec_prepared(stmt::kRotateToken, w.token_hash, w.at, e.session).affected_rows() == 0) {
        throw engine::Overtaken("session " + e.session + " was deleted by another writer");
      }
      return;
    case SessionWrite::Kind::remove:
      if (t.exec_prepared(stmt::kDeleteSession, e.session).affected_rows() == 0) {
        throw engine::Overtaken("session " + e.session + " was deleted by another writer");
      }
      return;
  }
}

}  // namespace

// One statement for the whole batch (statements.cpp, kWriteBatch), then the
// NOTIFY of its history rows.
void PgBatch::write(const engine::Changes& changes) {
  pqxx::work& t = tx();
  for (const auto& w : changes.sessions) write_session(t, w);
  if (changes.orders.empty() && changes.moves.empty() && changes.history.empty()) return;

  ArrayLiteral ids, shops, senders, names, refs, modes, jsons, lines, created, updated;
  ArrayLiteral d_ids, d_receivers, d_positions, d_statuses, d_updated;
  for (const auto& o : changes.orders) {
    ids.add(o.order_id);
    shops.add(std::string_view(o.shop));
    senders.add(std::string_view(o.from));
    names.add(std::string_view(o.from_name));
    refs.add(std::string_view(o.ref));
    modes.add(protocol::to_string(o.mode));
    jsons.add(std::string_view(o.order_json));
    lines.add(static_cast<std::int64_t>(o.line_count));
    created.add(std::string_view(o.created_at));
    updated.add(std::string_view(o.updated_at));
    for (std::size_t i = 0; i < o.receivers.size(); ++i) {
      d_ids.add(o.order_id);
      d_receivers.add(std::string_view(o.receivers[i].session));
      d_positions.add(static_cast<std::int64_t>(i));
      d_statuses.add(protocol::to_string(o.receivers[i].status));
      d_updated.add(std::string_view(o.receivers[i].updated_at));
    }
  }
  ArrayLiteral m_ids, m_receivers, m_from, m_to, m_at;
  for (const auto& m : changes.moves) {
    m_ids.add(m.order_id);
    m_receivers.add(std::string_view(m.receiver));
    m_from.add(protocol::to_string(m.from));
    m_to.add(protocol::to_string(m.to));
    m_at.add(std::string_view(m.at));
  }
  ArrayLiteral t_ids, t_at;
  for (const auto& [id, when] : changes.touched) {
    t_ids.add(id);
    t_at.add(std::string_view(when));
  }
  ArrayLiteral h_ids, h_receivers, h_from, h_to, h_by, h_reasons, h_at;
  for (const auto& h : changes.history) {
    h_ids.add(h.order_id);
    h_receivers.add(std::string_view(h.receiver));
    if (h.from) {
      h_from.add(protocol::to_string(*h.from));
    } else {
      h_from.add_null();
    }
    h_to.add(protocol::to_string(h.to));
    h_by.add(std::string_view(h.by));
    h_reasons.add(h.reason);
    h_at.add(std::string_view(h.at));
  }
  const pqxx::result r = t.exec_prepared(
      stmt::kWriteBatch, ids.take(), shops.take(), senders.take(), names.take(), refs.take(), modes.take(),
      jsons.take(), lines.take(), created.take(), updated.take(), d_ids.take(), d_receivers.take(),
      d_positions.take(), d_statuses.take(), d_updated.take(), m_ids.take(), m_receivers.take(), m_from.take(),
      m_to.take(), m_at.take(), t_ids.take(), t_at.take(), h_ids.take(), h_receivers.take(), h_from.take(),
      h_to.take(), h_by.take(), h_reasons.take(), h_at.take(), nullable(node_));
  if (r.empty()) throw std::runtime_error("the batch's write returned no row");
  if (r[0][0].as<std::size_t>() != changes.orders.size()) {
    // Another node stored one of these (ref, sender) pairs since load.
    throw engine::Overtaken("a ref of this batch was stored by another writer");
  }
  if (r[0][1].as<std::size_t>() != changes.moves.size()) {
    // The rows are locked since load: a bug, not a race.
    throw std::runtime_error("a delivery changed under the writer");
  }
  std::vector<std::int64_t> history_ids;
  history_ids.reserve(r.size());
  for (const auto& row : r) {
    if (!row[2].is_null()) history_ids.push_back(row[2].as<std::int64_t>());
  }
  if (history_ids.empty()) return;
  // Delivered to the other nodes only if, and when, this commits.
  for (const std::string& payload : feed::encode({feed::history_record(node_.value_or(""), history_ids)})) {
    t.exec_prepared(stmt::kNotify, channel_, payload);
  }
}

}  // namespace possync::storage::postgres
