// The PostgreSQL rows behind the write rules of storage/engine/rules.hpp,
// and the checks only PostgreSQL needs (text cannot hold U+0000).
#include "storage/postgres/writes.hpp"

#include <stdexcept>
#include <utility>

#include "storage/postgres/records.hpp"
#include "storage/postgres/statements.hpp"

namespace possync::storage::postgres {

namespace {

using protocol::Status;

Error error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

std::string status_text(Status status) { return std::string(protocol::to_string(status)); }

}  // namespace

// SQLite would keep a NUL; PostgreSQL cannot, and must not look up a
// truncated ref (it would answer another order as the duplicate).
std::optional<Error> PgRows::refuse_send(const SendRequest& request) {
  if (has_nul(request.ref)) return error(ErrorCode::bad_request, "ref: must not contain U+0000");
  if (has_nul(request.sender)) return error(ErrorCode::forbidden, "session lacks the sender role");
  for (std::size_t i = 0; i < request.to.size(); ++i) {
    if (has_nul(request.to[i])) {
      return error(ErrorCode::not_found, "to[" + std::to_string(i) + "]: unknown receiver session");
    }
  }
  return std::nullopt;
}

std::optional<Error> PgRows::refuse_reason(const std::optional<std::string>& reason) {
  if (reason && has_nul(*reason)) return error(ErrorCode::bad_request, "reason: must not contain U+0000");
  return std::nullopt;
}

std::optional<Error> PgRows::refuse_session_update(const SessionUpdate& update) {
  if (update.name && has_nul(*update.name)) return error(ErrorCode::bad_request, "name: must not contain U+0000");
  return std::nullopt;
}

std::unordered_map<std::string, SessionEntry> PgRows::sessions(const std::vector<std::string>& ids) {
  std::unordered_map<std::string, SessionEntry> out;
  for (const auto& row : ctx_.tx.exec_prepared(stmt::kSessionsByIds, text_array(ids))) {
    SessionEntry entry = read_session(row);
    out.emplace(entry.session, std::move(entry));
  }
  return out;
}

std::optional<SessionEntry> PgRows::session(const std::string& id) { return find_session(ctx_.tx, id); }

std::optional<std::int64_t> PgRows::order_by_ref(const std::string& sender, const std::string& ref) {
  const pqxx::result r = ctx_.tx.exec_prepared(stmt::kOrderByRef, sender, ref);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<std::int64_t>();
}

std::optional<OrderRecord> PgRows::order(std::int64_t order_id) { return load_order(ctx_.tx, order_id); }

// Locks the order's deliveries (FOR UPDATE OF d): two nodes deciding about
// one order take turns.
std::optional<engine::OrderState> PgRows::order_state(std::int64_t order_id) {
  std::optional<engine::OrderState> out;
  for (const auto& row : ctx_.tx.exec_prepared(stmt::kLockOrder, order_id)) {
    if (!out) {
      out.emplace();
      out->order_id = order_id;
      out->shop = row[2].as<std::string>();
      out->sender = row[3].as<std::string>();
      out->mode = protocol::parse_mode(row[4].as<std::string>()).value_or(Mode::copy);
    }
    out->deliveries.push_back({row[0].as<std::string>(), status_field(row[1])});
  }
  return out;
}

std::string PgRows::order_json(std::int64_t order_id) {
  const pqxx::result r = ctx_.tx.exec_prepared(stmt::kOrderJson, order_id);
  if (r.empty()) throw std::runtime_error("order " + std::to_string(order_id) + " vanished");
  return r[0][0].as<std::string>();
}

std::vector<ReceiverStatus> PgRows::receivers(std::int64_t order_id) { return load_receivers(ctx_.tx, order_id); }

// ON CONFLICT (sender, ref) DO NOTHING: no row when another node stored it.
std::optional<std::int64_t> PgRows::insert_order(const OrderRecord& order) {
  const pqxx::result inserted = ctx_.tx.exec_prepared(stmt::kInsertOrder, order.shop, order.from, order.from_name,
                                                      order.ref, std::string(protocol::to_string(order.mode)),
                                                      order.order_json, order.line_count, order.created_at);
  if (inserted.empty()) return std::nullopt;
  return inserted[0][0].as<std::int64_t>();
}

// Two statements whatever the number of receivers (unnest of the array).
void PgRows::insert_deliveries(std::int64_t order_id, const std::vector<std::string>& to, const std::string& by,
                               const std::string& at) {
  const std::string receivers = text_array(to);
  ctx_.tx.exec_prepared(stmt::kInsertDeliveries, order_id, receivers, at);
  for (const auto& row :
       ctx_.tx.exec_prepared(stmt::kInsertCreationHistory, order_id, receivers, by, at, nullable(ctx_.node))) {
    ctx_.history_ids.push_back(row[0].as<std::int64_t>());
  }
}

void PgRows::move_delivery(std::int64_t order_id, const std::string& receiver, Status from, Status to,
                           const std::string& by, const std::optional<std::string>& reason, const std::string& at) {
  const pqxx::result r =
      ctx_.tx.exec_prepared(stmt::kUpdateDelivery, status_text(to), at, order_id, receiver, status_text(from));
  if (r.affected_rows() != 1) {
    throw std::runtime_error("delivery of order " + std::to_string(order_id) + " to " + receiver +
                             " changed under the writer");
  }
  const pqxx::row row = ctx_.tx.exec_prepared1(stmt::kInsertHistory, order_id, receiver, status_text(from),
                                               status_text(to), by, nullable(reason), at, nullable(ctx_.node));
  ctx_.history_ids.push_back(row[0].as<std::int64_t>());
}

void PgRows::touch_order(std::int64_t order_id, const std::string& at) {
  ctx_.tx.exec_prepared(stmt::kTouchOrder, at, order_id);
}

// ON CONFLICT (id) DO NOTHING: false when another node created it.
bool PgRows::insert_session(const SessionEntry& entry, const std::string& token_hash, const std::string& at) {
  const pqxx::result r = ctx_.tx.exec_prepared(stmt::kInsertSession, entry.session, entry.name, entry.shop,
                                               entry.sender, entry.receiver, token_hash, at);
  return !r.empty();
}

void PgRows::update_session(const SessionEntry& entry, const std::string& at) {
  ctx_.tx.exec_prepared(stmt::kUpdateSession, entry.name, entry.shop, entry.sender, entry.receiver, at, entry.session);
}

bool PgRows::update_token(const std::string& session, const std::string& token_hash, const std::string& at) {
  return ctx_.tx.exec_prepared(stmt::kRotateToken, token_hash, at, session).affected_rows() != 0;
}

bool PgRows::delete_session(const std::string& session) {
  return ctx_.tx.exec_prepared(stmt::kDeleteSession, session).affected_rows() != 0;
}

}  // namespace possync::storage::postgres
