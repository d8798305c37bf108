#include "storage/postgres/writes.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "storage/postgres/records.hpp"
#include "storage/postgres/statements.hpp"
#include "storage/tokens.hpp"

namespace possync::storage::postgres::writes {

namespace {

using protocol::Status;

std::string now() { return protocol::format_time_ms(protocol::now_unix_ms()); }

Error error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

std::string order_not_found(std::int64_t order_id) { return "order " + std::to_string(order_id) + " not found"; }

void insert_history(WriteContext& ctx, std::int64_t order_id, const std::string& receiver, Status from, Status to,
                    const std::string& by, const std::optional<std::string>& reason, const std::string& at) {
  const pqxx::row row =
      ctx.tx.exec_prepared1(stmt::kInsertHistory, order_id, receiver, std::string(protocol::to_string(from)),
                            std::string(protocol::to_string(to)), by, nullable(reason), at, nullable(ctx.node));
  ctx.history_ids.push_back(row[0].as<std::int64_t>());
}

// What a transition needs to know about the order it touches.
struct OrderHead {
  std::int64_t order_id = 0;
  std::string shop;
  std::string sender;
  Mode mode = Mode::copy;
};

// The order's head and its deliveries in `to` order, the deliveries locked
// for the rest of the transaction; nullopt when there is no such order.
// Called before any decision about the order.
struct LockedDelivery {
  std::string receiver;
  Status status = Status::sent;
};
struct LockedOrder {
  OrderHead head;
  std::vector<LockedDelivery> deliveries;
};
std::optional<LockedOrder> lock_order(WriteContext& ctx, std::int64_t order_id) {
  std::optional<LockedOrder> out;
  for (const auto& row : ctx.tx.exec_prepared(stmt::kLockOrder, order_id)) {
    if (!out) {
      out.emplace();
      out->head = OrderHead{order_id, row[2].as<std::string>(), row[3].as<std::string>(),
                            protocol::parse_mode(row[4].as<std::string>()).value_or(Mode::copy)};
    }
    out->deliveries.push_back({row[0].as<std::string>(), status_field(row[1])});
  }
  return out;
}

// Moves one delivery from → to, appends its history row and returns the
// change for the router. The caller holds the order's delivery locks and
// has checked can_transition(from, to).
StatusChange transition(WriteContext& ctx, const OrderHead& order, const std::string& receiver, Status from,
                        Status to, const std::string& by, const std::optional<std::string>& reason,
                        const std::string& at) {
  const pqxx::result r =
      ctx.tx.exec_prepared(stmt::kUpdateDelivery, std::string(protocol::to_string(to)), at, order.order_id, receiver,
                           std::string(protocol::to_string(from)));
  if (r.affected_rows() != 1) {
    throw std::runtime_error("delivery of order " + std::to_string(order.order_id) + " to " + receiver +
                             " changed under the writer");
  }
  insert_history(ctx, order.order_id, receiver, from, to, by, reason, at);
  StatusChange change;
  change.order_id = order.order_id;
  change.shop = order.shop;
  change.sender = order.sender;
  change.session = receiver;
  change.status = to;
  change.at = at;
  change.by = by;
  change.reason = reason;
  return change;
}

void touch_order(WriteContext& ctx, std::int64_t order_id, const std::string& at) {
  ctx.tx.exec_prepared(stmt::kTouchOrder, at, order_id);
}

// The common start of ack/deliver/reject: the caller holds the receiver role
// and the order has a delivery for it (whose rows are now locked).
struct ReceiverTarget {
  OrderHead order;
  Status status = Status::sent;
  std::vector<LockedDelivery> deliveries;
};
Result<ReceiverTarget> receiver_target(WriteContext& ctx, const std::string& receiver, std::int64_t order_id) {
  auto session = find_session(ctx.tx, receiver);
  if (!session || !session->receiver) {
    return error(ErrorCode::forbidden, "session " + receiver + " lacks the receiver role");
  }
  std::optional<LockedOrder> order = lock_order(ctx, order_id);
  if (!order) return error(ErrorCode::not_found, order_not_found(order_id));
  auto mine = std::find_if(order->deliveries.begin(), order->deliveries.end(),
                           [&](const LockedDelivery& d) { return d.receiver == receiver; });
  if (mine == order->deliveries.end()) return error(ErrorCode::not_found, order_not_found(order_id));
  const Status status = mine->status;
  return ReceiverTarget{std::move(order->head), status, std::move(order->deliveries)};
}

Error final_conflict(std::int64_t order_id, Status status) {
  return error(ErrorCode::conflict,
               "order " + std::to_string(order_id) + " is " + std::string(protocol::to_string(status)));
}

std::string order_json(WriteContext& ctx, std::int64_t order_id) {
  const pqxx::result r = ctx.tx.exec_prepared(stmt::kOrderJson, order_id);
  if (r.empty()) throw std::runtime_error("order " + std::to_string(order_id) + " vanished");
  return r[0][0].as<std::string>();
}

Result<SendOutcome> existing_order(WriteContext& ctx, std::int64_t order_id) {
  auto order = load_order(ctx.tx, order_id);
  if (!order) throw std::runtime_error("order " + std::to_string(order_id) + " vanished");
  return SendOutcome{std::move(*order), true};
}

}  // namespace

// ---------------------------------------------------------------------------

Result<SendOutcome> send(WriteContext& ctx, const SendRequest& request) {
  // SQLite would keep a NUL; PostgreSQL cannot, and must not look up a
  // truncated ref (it would answer another order as the duplicate).
  if (has_nul(request.ref)) return error(ErrorCode::bad_request, "ref: must not contain U+0000");
  if (has_nul(request.sender)) return error(ErrorCode::forbidden, "session lacks the sender role");
  for (std::size_t i = 0; i < request.to.size(); ++i) {
    if (has_nul(request.to[i])) {
      return error(ErrorCode::not_found, "to[" + std::to_string(i) + "]: unknown receiver session");
    }
  }
  {
    const pqxx::result r = ctx.tx.exec_prepared(stmt::kOrderByRef, request.sender, request.ref);
    if (!r.empty()) return existing_order(ctx, r[0][0].as<std::int64_t>());
  }

  // The sender and every receiver with one query; the checks then go in
  // `to` order, as in SQLite, so the first bad entry is the one named.
  std::vector<std::string> sessions;
  sessions.reserve(request.to.size() + 1);
  sessions.push_back(request.sender);
  sessions.insert(sessions.end(), request.to.begin(), request.to.end());
  std::unordered_map<std::string, SessionEntry> known;
  for (const auto& row : ctx.tx.exec_prepared(stmt::kSessionsByIds, text_array(sessions))) {
    SessionEntry entry = read_session(row);
    known.emplace(entry.session, std::move(entry));
  }
  const auto found_sender = known.find(request.sender);
  if (found_sender == known.end() || !found_sender->second.sender) {
    return error(ErrorCode::forbidden, "session " + request.sender + " lacks the sender role");
  }
  const SessionEntry* sender = &found_sender->second;
  if (request.to.empty()) return error(ErrorCode::bad_request, "to: must name at least one receiver");
  for (std::size_t i = 0; i < request.to.size(); ++i) {
    const std::string& name = request.to[i];
    const std::string field = "to[" + std::to_string(i) + "]: ";
    if (name == request.sender) return error(ErrorCode::bad_request, field + "cannot send to yourself");
    if (std::find(request.to.begin(), request.to.begin() + static_cast<std::ptrdiff_t>(i), name) !=
        request.to.begin() + static_cast<std::ptrdiff_t>(i)) {
      return error(ErrorCode::bad_request, field + "duplicate receiver " + name);
    }
    auto it = known.find(name);
    if (it == known.end() || !it->second.receiver || it->second.shop != sender->shop) {
      return error(ErrorCode::not_found, field + "unknown receiver session " + name);
    }
  }

  const std::string at = now();
  protocol::OrderRecord order;
  order.ref = request.ref;
  order.shop = sender->shop;
  order.from = sender->session;
  order.from_name = sender->name;
  order.mode = request.mode;
  order.created_at = at;
  order.updated_at = at;
  order.order_json = request.order_json;
  order.line_count = request.line_count;

  const pqxx::result inserted = ctx.tx.exec_prepared(
      stmt::kInsertOrder, order.shop, order.from, order.from_name, order.ref,
      std::string(protocol::to_string(order.mode)), order.order_json, order.line_count, at);
  if (inserted.empty()) {
    // Another node committed the same (sender, ref) after our first look.
    const pqxx::result r = ctx.tx.exec_prepared(stmt::kOrderByRef, request.sender, request.ref);
    if (r.empty()) throw std::runtime_error("(sender, ref) conflict without a row");
    return existing_order(ctx, r[0][0].as<std::int64_t>());
  }
  order.order_id = inserted[0][0].as<std::int64_t>();

  const std::string receivers = text_array(request.to);
  ctx.tx.exec_prepared(stmt::kInsertDeliveries, order.order_id, receivers, at);
  for (const auto& row :
       ctx.tx.exec_prepared(stmt::kInsertCreationHistory, order.order_id, receivers, order.from, at,
                            nullable(ctx.node))) {
    ctx.history_ids.push_back(row[0].as<std::int64_t>());
  }
  for (const auto& name : request.to) order.receivers.push_back({name, Status::sent, at});
  return SendOutcome{std::move(order), false};
}

Result<TransitionOutcome> ack(WriteContext& ctx, const std::string& receiver, std::int64_t order_id) {
  auto target = receiver_target(ctx, receiver, order_id);
  if (!target) return target.error();
  TransitionOutcome outcome;
  outcome.order_id = order_id;
  if (target.value().status != Status::sent) return outcome;  // already past sent: a no-op

  const std::string at = now();
  outcome.changes.push_back(
      transition(ctx, target.value().order, receiver, Status::sent, Status::received, receiver, std::nullopt, at));
  touch_order(ctx, order_id, at);
  return outcome;
}

Result<TransitionOutcome> deliver(WriteContext& ctx, const std::string& receiver, std::int64_t order_id) {
  auto target = receiver_target(ctx, receiver, order_id);
  if (!target) return target.error();
  const OrderHead& order = target.value().order;
  const Status current = target.value().status;

  TransitionOutcome outcome;
  outcome.order_id = order_id;
  if (current == Status::delivered) {
    outcome.duplicate = true;
    outcome.order_json = order_json(ctx, order_id);
    return outcome;
  }
  if (!protocol::can_transition(current, Status::delivered)) return final_conflict(order_id, current);

  const std::string at = now();
  outcome.changes.push_back(transition(ctx, order, receiver, current, Status::delivered, receiver, std::nullopt, at));
  if (order.mode == Mode::claim) {
    // Every delivery of the order is locked since receiver_target: a deliver
    // on another node waits for this transaction and then finds its own
    // delivery `taken`.
    for (const auto& other : target.value().deliveries) {
      if (other.receiver == receiver || protocol::is_final(other.status)) continue;
      outcome.changes.push_back(
          transition(ctx, order, other.receiver, other.status, Status::taken, receiver, std::nullopt, at));
    }
  }
  touch_order(ctx, order_id, at);
  outcome.order_json = order_json(ctx, order_id);
  return outcome;
}

Result<TransitionOutcome> reject(WriteContext& ctx, const std::string& receiver, std::int64_t order_id,
                                 const std::optional<std::string>& reason) {
  if (reason && has_nul(*reason)) return error(ErrorCode::bad_request, "reason: must not contain U+0000");
  auto target = receiver_target(ctx, receiver, order_id);
  if (!target) return target.error();
  const Status current = target.value().status;

  TransitionOutcome outcome;
  outcome.order_id = order_id;
  if (current == Status::rejected) {
    outcome.duplicate = true;  // the first reason stays
    return outcome;
  }
  if (!protocol::can_transition(current, Status::rejected)) return final_conflict(order_id, current);

  const std::string at = now();
  outcome.changes.push_back(
      transition(ctx, target.value().order, receiver, current, Status::rejected, receiver, reason, at));
  touch_order(ctx, order_id, at);
  return outcome;
}

Result<TransitionOutcome> cancel(WriteContext& ctx, const std::string& sender, std::int64_t order_id) {
  std::optional<LockedOrder> locked = lock_order(ctx, order_id);
  if (!locked) return error(ErrorCode::not_found, order_not_found(order_id));
  const OrderHead* order = &locked->head;
  const std::vector<LockedDelivery>& deliveries = locked->deliveries;
  if (order->sender != sender) {
    const bool is_receiver = std::any_of(deliveries.begin(), deliveries.end(),
                                         [&](const LockedDelivery& d) { return d.receiver == sender; });
    if (is_receiver) {
      return error(ErrorCode::forbidden, "only the sender of order " + std::to_string(order_id) + " may cancel it");
    }
    return error(ErrorCode::not_found, order_not_found(order_id));
  }

  TransitionOutcome outcome;
  outcome.order_id = order_id;
  const std::string at = now();
  for (const auto& delivery : deliveries) {
    if (protocol::is_final(delivery.status)) continue;
    outcome.changes.push_back(
        transition(ctx, *order, delivery.receiver, delivery.status, Status::cancelled, sender, std::nullopt, at));
  }
  if (outcome.changes.empty()) {
    return error(ErrorCode::conflict, "every delivery of order " + std::to_string(order_id) + " is final");
  }
  touch_order(ctx, order_id, at);
  outcome.receivers = load_receivers(ctx.tx, order_id);
  return outcome;
}

// ---------------------------------------------------------------------------

Result<PutSessionOutcome> put_session(WriteContext& ctx, const SessionUpdate& update) {
  if (!protocol::valid_session_id(update.session)) {
    return error(ErrorCode::bad_request, "session: invalid id '" + update.session + "'");
  }
  if (update.shop && !protocol::valid_session_id(*update.shop)) {
    return error(ErrorCode::bad_request, "shop: invalid id '" + *update.shop + "'");
  }
  if (update.name && has_nul(*update.name)) return error(ErrorCode::bad_request, "name: must not contain U+0000");

  const std::string at = now();
  PutSessionOutcome outcome;
  auto existing = find_session(ctx.tx, update.session);
  if (!existing) {
    SessionEntry& entry = outcome.session;
    entry.session = update.session;
    entry.name = update.name.value_or(update.session);
    entry.shop = update.shop.value_or("main");
    entry.sender = update.sender.value_or(false);
    entry.receiver = update.receiver.value_or(false);
    std::string token = generate_token();
    const pqxx::result r = ctx.tx.exec_prepared(stmt::kInsertSession, entry.session, entry.name, entry.shop,
                                                entry.sender, entry.receiver, hash_token(token), at);
    if (!r.empty()) {
      outcome.created = true;
      outcome.token = std::move(token);
      return outcome;
    }
    // Another node created it since our look: update that one instead.
    existing = find_session(ctx.tx, update.session);
    if (!existing) throw std::runtime_error("session " + update.session + " conflicts but is absent");
    outcome = PutSessionOutcome{};
  }

  SessionEntry& entry = outcome.session;
  entry = *existing;
  if (update.name) entry.name = *update.name;
  if (update.shop) {
    outcome.shop_changed = *update.shop != existing->shop;
    entry.shop = *update.shop;
  }
  if (update.sender) entry.sender = *update.sender;
  if (update.receiver) entry.receiver = *update.receiver;
  ctx.tx.exec_prepared(stmt::kUpdateSession, entry.name, entry.shop, entry.sender, entry.receiver, at, entry.session);
  return outcome;
}

Result<std::string> rotate_token(WriteContext& ctx, const std::string& session) {
  std::string token = generate_token();
  const pqxx::result r = ctx.tx.exec_prepared(stmt::kRotateToken, hash_token(token), now(), session);
  if (r.affected_rows() == 0) return error(ErrorCode::not_found, "session " + session + " not found");
  return token;
}

Result<Done> delete_session(WriteContext& ctx, const std::string& session) {
  const pqxx::result r = ctx.tx.exec_prepared(stmt::kDeleteSession, session);
  if (r.affected_rows() == 0) return error(ErrorCode::not_found, "session " + session + " not found");
  return Done{};
}

}  // namespace possync::storage::postgres::writes
