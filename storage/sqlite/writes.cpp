#include "storage/sqlite/writes.hpp"

#include <algorithm>
#include <utility>

#include "storage/sqlite/records.hpp"
#include "storage/tokens.hpp"

namespace possync::storage::sqlite::writes {

namespace {

using protocol::Status;

std::string now() { return protocol::format_time_ms(protocol::now_unix_ms()); }

Error error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

std::string order_not_found(std::int64_t order_id) { return "order " + std::to_string(order_id) + " not found"; }

void insert_history(Db& db, std::int64_t order_id, const std::string& receiver, std::optional<Status> from,
                    Status to, const std::string& by, const std::optional<std::string>& reason,
                    const std::string& at) {
  Query q = db.query(
      "INSERT INTO history (order_id, receiver, from_status, to_status, by_session, reason, at)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  std::optional<std::string_view> from_text;
  if (from) from_text = protocol::to_string(*from);
  q.bind_all(order_id, receiver, from_text, protocol::to_string(to), by, reason, at).run();
}

// What a transition needs to know about the order it touches.
struct OrderHead {
  std::int64_t order_id = 0;
  std::string shop;
  std::string sender;
  Mode mode = Mode::copy;
};

// Moves one delivery from → to, appends its history row and returns the
// change for the router. The caller has checked can_transition(from, to) and
// touches the order's updated_at once per request (touch_order).
StatusChange transition(Db& db, const OrderHead& order, const std::string& receiver, Status from, Status to,
                        const std::string& by, const std::optional<std::string>& reason, const std::string& at) {
  Query q = db.query(
      "UPDATE deliveries SET status = ?1, updated_at = ?2"
      " WHERE order_id = ?3 AND receiver = ?4 AND status = ?5");
  q.bind_all(protocol::to_string(to), at, order.order_id, receiver, protocol::to_string(from)).run();
  if (db.changes() != 1) {
    throw SqliteError(SQLITE_INTERNAL, "delivery of order " + std::to_string(order.order_id) + " to " + receiver +
                                           " changed under the writer");
  }
  insert_history(db, order.order_id, receiver, from, to, by, reason, at);
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

void touch_order(Db& db, std::int64_t order_id, const std::string& at) {
  db.query("UPDATE sync_orders SET updated_at = ?1 WHERE order_id = ?2").bind_all(at, order_id).run();
}

std::optional<OrderHead> find_order(Db& db, std::int64_t order_id) {
  Query q = db.query("SELECT order_id, shop, sender, mode FROM sync_orders WHERE order_id = ?1");
  q.bind(1, order_id);
  if (!q.step()) return std::nullopt;
  OrderHead head{q.int64(0), q.text(1), q.text(2), Mode::copy};
  head.mode = protocol::parse_mode(q.text(3)).value_or(Mode::copy);
  return head;
}

std::optional<Status> find_delivery_status(Db& db, std::int64_t order_id, const std::string& receiver) {
  Query q = db.query("SELECT status FROM deliveries WHERE order_id = ?1 AND receiver = ?2");
  q.bind_all(order_id, receiver);
  if (!q.step()) return std::nullopt;
  return status_column(q, 0);
}

// The common start of ack/deliver/reject: the caller holds the receiver role
// and the order has a delivery for it.
struct ReceiverTarget {
  OrderHead order;
  Status status = Status::sent;
};
Result<ReceiverTarget> receiver_target(Db& db, const std::string& receiver, std::int64_t order_id) {
  auto session = find_session(db, receiver);
  if (!session || !session->receiver) {
    return error(ErrorCode::forbidden, "session " + receiver + " lacks the receiver role");
  }
  auto status = find_delivery_status(db, order_id, receiver);
  auto order = status ? find_order(db, order_id) : std::nullopt;
  if (!order) return error(ErrorCode::not_found, order_not_found(order_id));
  return ReceiverTarget{std::move(*order), *status};
}

Error final_conflict(std::int64_t order_id, Status status) {
  return error(ErrorCode::conflict,
               "order " + std::to_string(order_id) + " is " + std::string(protocol::to_string(status)));
}

std::string order_json(Db& db, std::int64_t order_id) {
  Query q = db.query("SELECT order_json FROM sync_orders WHERE order_id = ?1");
  q.bind(1, order_id);
  if (!q.step()) throw SqliteError(SQLITE_INTERNAL, "order " + std::to_string(order_id) + " vanished");
  return q.text(0);
}

}  // namespace

// ---------------------------------------------------------------------------

Result<SendOutcome> send(Db& db, const SendRequest& request) {
  {
    Query q = db.query("SELECT order_id FROM sync_orders WHERE sender = ?1 AND ref = ?2");
    q.bind_all(request.sender, request.ref);
    if (q.step()) {
      const std::int64_t existing = q.int64(0);
      auto order = load_order(db, existing);
      if (!order) throw SqliteError(SQLITE_INTERNAL, "order " + std::to_string(existing) + " vanished");
      return SendOutcome{std::move(*order), true};
    }
  }

  auto sender = find_session(db, request.sender);
  if (!sender || !sender->sender) {
    return error(ErrorCode::forbidden, "session " + request.sender + " lacks the sender role");
  }
  if (request.to.empty()) return error(ErrorCode::bad_request, "to: must name at least one receiver");
  for (std::size_t i = 0; i < request.to.size(); ++i) {
    const std::string& name = request.to[i];
    const std::string field = "to[" + std::to_string(i) + "]: ";
    if (name == request.sender) return error(ErrorCode::bad_request, field + "cannot send to yourself");
    if (std::find(request.to.begin(), request.to.begin() + static_cast<std::ptrdiff_t>(i), name) !=
        request.to.begin() + static_cast<std::ptrdiff_t>(i)) {
      return error(ErrorCode::bad_request, field + "duplicate receiver " + name);
    }
    auto receiver = find_session(db, name);
    if (!receiver || !receiver->receiver || receiver->shop != sender->shop) {
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

  db.query(
        "INSERT INTO sync_orders (shop, sender, sender_name, ref, mode, order_json, line_count, created_at,"
        " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)")
      .bind_all(order.shop, order.from, order.from_name, order.ref, protocol::to_string(order.mode),
                order.order_json, order.line_count, at)
      .run();
  order.order_id = db.last_insert_rowid();

  for (std::size_t i = 0; i < request.to.size(); ++i) {
    db.query(
          "INSERT INTO deliveries (order_id, receiver, position, status, updated_at)"
          " VALUES (?1, ?2, ?3, 'sent', ?4)")
        .bind_all(order.order_id, request.to[i], i, at)
        .run();
    insert_history(db, order.order_id, request.to[i], std::nullopt, Status::sent, order.from, std::nullopt, at);
    order.receivers.push_back({request.to[i], Status::sent, at});
  }
  return SendOutcome{std::move(order), false};
}

Result<TransitionOutcome> ack(Db& db, const std::string& receiver, std::int64_t order_id) {
  auto target = receiver_target(db, receiver, order_id);
  if (!target) return target.error();
  TransitionOutcome outcome;
  outcome.order_id = order_id;
  if (target.value().status != Status::sent) return outcome;  // already past sent: a no-op

  const std::string at = now();
  outcome.changes.push_back(
      transition(db, target.value().order, receiver, Status::sent, Status::received, receiver, std::nullopt, at));
  touch_order(db, order_id, at);
  return outcome;
}

Result<TransitionOutcome> deliver(Db& db, const std::string& receiver, std::int64_t order_id) {
  auto target = receiver_target(db, receiver, order_id);
  if (!target) return target.error();
  const OrderHead& order = target.value().order;
  const Status current = target.value().status;

  TransitionOutcome outcome;
  outcome.order_id = order_id;
  if (current == Status::delivered) {
    outcome.duplicate = true;
    outcome.order_json = order_json(db, order_id);
    return outcome;
  }
  if (!protocol::can_transition(current, Status::delivered)) return final_conflict(order_id, current);

  const std::string at = now();
  outcome.changes.push_back(
      transition(db, order, receiver, current, Status::delivered, receiver, std::nullopt, at));
  if (order.mode == Mode::claim) {
    // The writer is the only one changing deliveries, and this runs inside
    // its transaction: whoever reaches here first for a claim order wins, and
    // every later deliver finds its own delivery already `taken`.
    std::vector<std::pair<std::string, Status>> others;
    {
      Query q = db.query(
          "SELECT receiver, status FROM deliveries"
          " WHERE order_id = ?1 AND receiver <> ?2 AND status IN ('sent', 'received') ORDER BY position");
      q.bind_all(order_id, receiver);
      while (q.step()) others.emplace_back(q.text(0), status_column(q, 1));
    }
    for (const auto& [other, status] : others) {
      outcome.changes.push_back(transition(db, order, other, status, Status::taken, receiver, std::nullopt, at));
    }
  }
  touch_order(db, order_id, at);
  outcome.order_json = order_json(db, order_id);
  return outcome;
}

Result<TransitionOutcome> reject(Db& db, const std::string& receiver, std::int64_t order_id,
                                 const std::optional<std::string>& reason) {
  auto target = receiver_target(db, receiver, order_id);
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
      transition(db, target.value().order, receiver, current, Status::rejected, receiver, reason, at));
  touch_order(db, order_id, at);
  return outcome;
}

Result<TransitionOutcome> cancel(Db& db, const std::string& sender, std::int64_t order_id) {
  auto order = find_order(db, order_id);
  if (!order) return error(ErrorCode::not_found, order_not_found(order_id));
  if (order->sender != sender) {
    if (find_delivery_status(db, order_id, sender)) {
      return error(ErrorCode::forbidden,
                   "only the sender of order " + std::to_string(order_id) + " may cancel it");
    }
    return error(ErrorCode::not_found, order_not_found(order_id));
  }

  TransitionOutcome outcome;
  outcome.order_id = order_id;
  const std::string at = now();
  for (const auto& delivery : load_receivers(db, order_id)) {
    if (protocol::is_final(delivery.status)) continue;
    outcome.changes.push_back(
        transition(db, *order, delivery.session, delivery.status, Status::cancelled, sender, std::nullopt, at));
  }
  if (outcome.changes.empty()) {
    return error(ErrorCode::conflict, "every delivery of order " + std::to_string(order_id) + " is final");
  }
  touch_order(db, order_id, at);
  outcome.receivers = load_receivers(db, order_id);
  return outcome;
}

// ---------------------------------------------------------------------------

Result<PutSessionOutcome> put_session(Db& db, const SessionUpdate& update) {
  if (!protocol::valid_session_id(update.session)) {
    return error(ErrorCode::bad_request, "session: invalid id '" + update.session + "'");
  }
  if (update.shop && !protocol::valid_session_id(*update.shop)) {
    return error(ErrorCode::bad_request, "shop: invalid id '" + *update.shop + "'");
  }

  const std::string at = now();
  PutSessionOutcome outcome;
  auto existing = find_session(db, update.session);
  if (!existing) {
    SessionEntry& entry = outcome.session;
    entry.session = update.session;
    entry.name = update.name.value_or(update.session);
    entry.shop = update.shop.value_or("main");
    entry.sender = update.sender.value_or(false);
    entry.receiver = update.receiver.value_or(false);
    std::string token = generate_token();
    db.query(
          "INSERT INTO sessions (id, name, shop, sender, receiver, token_hash, created_at, updated_at)"
          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)")
        .bind_all(entry.session, entry.name, entry.shop, entry.sender, entry.receiver, hash_token(token), at)
        .run();
    outcome.created = true;
    outcome.token = std::move(token);
    return outcome;
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
  db.query("UPDATE sessions SET name = ?1, shop = ?2, sender = ?3, receiver = ?4, updated_at = ?5 WHERE id = ?6")
      .bind_all(entry.name, entry.shop, entry.sender, entry.receiver, at, entry.session)
      .run();
  return outcome;
}

Result<std::string> rotate_token(Db& db, const std::string& session) {
  std::string token = generate_token();
  db.query("UPDATE sessions SET token_hash = ?1, updated_at = ?2 WHERE id = ?3")
      .bind_all(hash_token(token), now(), session)
      .run();
  if (db.changes() == 0) return error(ErrorCode::not_found, "session " + session + " not found");
  return token;
}

Result<Done> delete_session(Db& db, const std::string& session) {
  db.query("DELETE FROM sessions WHERE id = ?1").bind(1, session).run();
  if (db.changes() == 0) return error(ErrorCode::not_found, "session " + session + " not found");
  return Done{};
}

}  // namespace possync::storage::sqlite::writes
