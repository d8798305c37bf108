#include "storage/engine/rules.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "storage/tokens.hpp"

namespace possync::storage::engine {

namespace {

std::string now() { return protocol::format_time_ms(protocol::now_unix_ms()); }

Error error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

std::string order_not_found(std::int64_t order_id) { return "order " + std::to_string(order_id) + " not found"; }

Error final_conflict(std::int64_t order_id, Status status) {
  return error(ErrorCode::conflict,
               "order " + std::to_string(order_id) + " is " + std::string(protocol::to_string(status)));
}

// The repeated send's answer: the original order, as stored.
Result<SendOutcome> existing(RowOps& ops, std::int64_t order_id) {
  const OrderRecord* order = ops.order(order_id);
  if (!order) throw std::runtime_error("order " + std::to_string(order_id) + " vanished");
  return SendOutcome{*order, true};
}

// Moves one delivery and returns the change for the router.
StatusChange change_delivery(RowOps& ops, const OrderRecord& order, const std::string& receiver, Status from, Status to,
                             const std::string& by, const std::optional<std::string>& reason, const std::string& at) {
  ops.move_delivery(order.order_id, receiver, from, to, by, reason, at);
  StatusChange change;
  change.order_id = order.order_id;
  change.shop = order.shop;
  change.sender = order.from;
  change.session = receiver;
  change.status = to;
  change.at = at;
  change.by = by;
  change.reason = reason;
  return change;
}

// The common start of ack/deliver/reject: the caller holds the receiver
// role, and the order has a delivery for it.
struct ReceiverTarget {
  const OrderRecord* order = nullptr;  // the batch's own record (RowOps::order)
  Status status = Status::sent;
};
Result<ReceiverTarget> receiver_target(RowOps& ops, const std::string& receiver, std::int64_t order_id) {
  auto session = ops.session(receiver);
  if (!session || !session->receiver) {
    return error(ErrorCode::forbidden, "session " + receiver + " lacks the receiver role");
  }
  const OrderRecord* order = ops.order(order_id);
  if (!order) return error(ErrorCode::not_found, order_not_found(order_id));
  auto mine = std::find_if(order->receivers.begin(), order->receivers.end(),
                           [&](const ReceiverStatus& d) { return d.session == receiver; });
  if (mine == order->receivers.end()) return error(ErrorCode::not_found, order_not_found(order_id));
  const Status status = mine->status;
  return ReceiverTarget{order, status};
}

}  // namespace

Result<SendOutcome> send(RowOps& ops, const SendRequest& request) {
  if (auto refusal = ops.refuse_send(request)) return *refusal;
  if (auto id = ops.order_by_ref(request.sender, request.ref)) return existing(ops, *id);

  // The sender and every receiver in one read; the checks then go in `to`
  // order, so the first bad entry is the one named.
  std::vector<std::string> ids;
  ids.reserve(request.to.size() + 1);
  ids.push_back(request.sender);
  ids.insert(ids.end(), request.to.begin(), request.to.end());
  const auto known = ops.sessions(ids);
  const auto found_sender = known.find(request.sender);
  if (found_sender == known.end() || !found_sender->second.sender) {
    return error(ErrorCode::forbidden, "session " + request.sender + " lacks the sender role");
  }
  const SessionEntry& sender = found_sender->second;
  if (request.to.empty()) return error(ErrorCode::bad_request, "to: must name at least one receiver");
  for (std::size_t i = 0; i < request.to.size(); ++i) {
    const std::string& name = request.to[i];
    const std::string field = "to[" + std::to_string(i) + "]: ";
    if (name == request.sender) return error(ErrorCode::bad_request, field + "cannot send to yourself");
    const auto before = request.to.begin() + static_cast<std::ptrdiff_t>(i);
    if (std::find(request.to.begin(), before, name) != before) {
      return error(ErrorCode::bad_request, field + "duplicate receiver " + name);
    }
    auto it = known.find(name);
    if (it == known.end() || !it->second.receiver || it->second.shop != sender.shop) {
      return error(ErrorCode::not_found, field + "unknown receiver session " + name);
    }
  }

  const std::string at = now();
  OrderRecord order;
  order.ref = request.ref;
  order.shop = sender.shop;
  order.from = sender.session;
  order.from_name = sender.name;
  order.mode = request.mode;
  order.created_at = at;
  order.updated_at = at;
  order.order_json = request.order_json;
  order.line_count = request.line_count;
  auto id = ops.insert_order(order);
  if (!id) {
    // Another writer (node) committed the same (sender, ref) after our look.
    auto theirs = ops.order_by_ref(request.sender, request.ref);
    if (!theirs) throw std::runtime_error("(sender, ref) conflict without a row");
    return existing(ops, *theirs);
  }
  order.order_id = *id;
  ops.insert_deliveries(order.order_id, request.to, order.from, at);
  for (const auto& name : request.to) order.receivers.push_back({name, Status::sent, at});
  return SendOutcome{std::move(order), false};
}

Result<TransitionOutcome> ack(RowOps& ops, const std::string& receiver, std::int64_t order_id) {
  auto target = receiver_target(ops, receiver, order_id);
  if (!target) return target.error();
  TransitionOutcome outcome;
  outcome.order_id = order_id;
  if (target.value().status != Status::sent) return outcome;  // already past sent: a no-op

  const std::string at = now();
  outcome.changes.push_back(
      change_delivery(ops, *target.value().order, receiver, Status::sent, Status::received, receiver, std::nullopt, at));
  ops.touch_order(order_id, at);
  return outcome;
}

Result<TransitionOutcome> deliver(RowOps& ops, const std::string& receiver, std::int64_t order_id) {
  auto target = receiver_target(ops, receiver, order_id);
  if (!target) return target.error();
  const OrderRecord& order = *target.value().order;
  const Status current = target.value().status;

  TransitionOutcome outcome;
  outcome.order_id = order_id;
  if (current == Status::delivered) {
    outcome.duplicate = true;
    outcome.order_json = order.order_json;
    return outcome;
  }
  if (!protocol::can_transition(current, Status::delivered)) return final_conflict(order_id, current);

  const std::string at = now();
  outcome.changes.push_back(
      change_delivery(ops, order, receiver, current, Status::delivered, receiver, std::nullopt, at));
  if (order.mode == Mode::claim) {
    // Whoever reaches here first for a claim order wins: the writer is the
    // only one changing deliveries (SQLite), or holds their locks since it
    // read the order (PostgreSQL), and a later deliver of the same batch
    // reads this one's changes: every later deliver finds its own delivery
    // already `taken`.
    for (const auto& other : order.receivers) {
      if (other.session == receiver || protocol::is_final(other.status)) continue;
      outcome.changes.push_back(
          change_delivery(ops, order, other.session, other.status, Status::taken, receiver, std::nullopt, at));
    }
  }
  ops.touch_order(order_id, at);
  outcome.order_json = order.order_json;
  return outcome;
}

Result<TransitionOutcome> reject(RowOps& ops, const std::string& receiver, std::int64_t order_id,
                                 const std::optional<std::string>& reason) {
  if (auto refusal = ops.refuse_reason(reason)) return *refusal;
  auto target = receiver_target(ops, receiver, order_id);
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
      change_delivery(ops, *target.value().order, receiver, current, Status::rejected, receiver, reason, at));
  ops.touch_order(order_id, at);
  return outcome;
}

Result<TransitionOutcome> cancel(RowOps& ops, const std::string& sender, std::int64_t order_id) {
  const OrderRecord* order = ops.order(order_id);
  if (!order) return error(ErrorCode::not_found, order_not_found(order_id));
  if (order->from != sender) {
    const bool is_receiver = std::any_of(order->receivers.begin(), order->receivers.end(),
                                         [&](const ReceiverStatus& d) { return d.session == sender; });
    if (is_receiver) {
      return error(ErrorCode::forbidden, "only the sender of order " + std::to_string(order_id) + " may cancel it");
    }
    return error(ErrorCode::not_found, order_not_found(order_id));
  }

  TransitionOutcome outcome;
  outcome.order_id = order_id;
  const std::string at = now();
  for (const auto& delivery : order->receivers) {
    if (protocol::is_final(delivery.status)) continue;
    outcome.changes.push_back(
        change_delivery(ops, *order, delivery.session, delivery.status, Status::cancelled, sender, std::nullopt, at));
  }
  if (outcome.changes.empty()) {
    return error(ErrorCode::conflict, "every delivery of order " + std::to_string(order_id) + " is final");
  }
  ops.touch_order(order_id, at);
  outcome.receivers = order->receivers;  // as the changes above left them
  return outcome;
}

// ---------------------------------------------------------------------------

Result<PutSessionOutcome> put_session(RowOps& ops, const SessionUpdate& update) {
  if (!protocol::valid_session_id(update.session)) {
    return error(ErrorCode::bad_request, "session: invalid id '" + update.session + "'");
  }
  if (update.shop && !protocol::valid_session_id(*update.shop)) {
    return error(ErrorCode::bad_request, "shop: invalid id '" + *update.shop + "'");
  }
  if (auto refusal = ops.refuse_session_update(update)) return *refusal;

  const std::string at = now();
  PutSessionOutcome outcome;
  auto existing_session = ops.session(update.session);
  if (!existing_session) {
    SessionEntry& entry = outcome.session;
    entry.session = update.session;
    entry.name = update.name.value_or(update.session);
    entry.shop = update.shop.value_or("main");
    entry.sender = update.sender.value_or(false);
    entry.receiver = update.receiver.value_or(false);
    std::string token = generate_token();
    if (ops.insert_session(entry, hash_token(token), at)) {
      outcome.created = true;
      outcome.token = std::move(token);
      return outcome;
    }
    // Another writer (node) created it since our look: update that one.
    existing_session = ops.session(update.session);
    if (!existing_session) throw std::runtime_error("session " + update.session + " conflicts but is absent");
    outcome = PutSessionOutcome{};
  }

  SessionEntry& entry = outcome.session;
  entry = *existing_session;
  if (update.name) entry.name = *update.name;
  if (update.shop) {
    outcome.shop_changed = *update.shop != existing_session->shop;
    entry.shop = *update.shop;
  }
  if (update.sender) entry.sender = *update.sender;
  if (update.receiver) entry.receiver = *update.receiver;
  ops.update_session(entry, at);
  return outcome;
}

Result<std::string> rotate_token(RowOps& ops, const std::string& session) {
  std::string token = generate_token();
  if (!ops.update_token(session, hash_token(token), now())) {
    return error(ErrorCode::not_found, "session " + session + " not found");
  }
  return token;
}

Result<Done> delete_session(RowOps& ops, const std::string& session) {
  if (!ops.delete_session(session)) return error(ErrorCode::not_found, "session " + session + " not found");
  return Done{};
}

}  // namespace possync::storage::engine
