#include "storage/postgres/reads.hpp"

#include <limits>
#include <utility>

#include "storage/postgres/records.hpp"
#include "storage/postgres/statements.hpp"
#include "storage/tokens.hpp"

namespace possync::storage::postgres::reads {

namespace {

using protocol::Status;

std::int64_t before_or_max(const std::optional<std::int64_t>& before) {
  return before.value_or(std::numeric_limits<std::int64_t>::max());
}

int at_least_one(int limit) { return limit < 1 ? 1 : limit; }

const std::vector<Status> kAllStatuses = {Status::sent,     Status::received,  Status::delivered,
                                          Status::rejected, Status::cancelled, Status::taken};

// Orders joined with one delivery each (receivers = that delivery only).
std::vector<OrderRecord> orders_with_delivery(const pqxx::result& r) {
  std::vector<OrderRecord> orders;
  orders.reserve(r.size());
  constexpr auto c = static_cast<pqxx::row::size_type>(kOrderColumnCount);
  for (const auto& row : r) {
    OrderRecord order = read_order(row);
    order.receivers.push_back({row[c].as<std::string>(), status_field(row[c + 1]), row[c + 2].as<std::string>()});
    orders.push_back(std::move(order));
  }
  return orders;
}

}  // namespace

Result<SessionEntry> authenticate(pqxx::transaction_base& tx, const std::string& session, const std::string& token) {
  // Hash before looking: an unknown session costs the same as a known one.
  const std::string presented = hash_token(token);
  if (has_nul(session)) return Error{ErrorCode::unauthorized, "bad session or token"};  // no such id can exist
  const pqxx::result r = tx.exec_prepared(stmt::kAuthSession, session);
  if (!r.empty() && constant_time_equal(presented, r[0][5].as<std::string>())) return read_session(r[0]);
  return Error{ErrorCode::unauthorized, "bad session or token"};
}

Result<std::vector<SessionEntry>> list_sessions(pqxx::transaction_base& tx, const std::optional<std::string>& shop) {
  const pqxx::result r =
      shop ? tx.exec_prepared(stmt::kSessionsOfShop, *shop) : tx.exec_prepared(stmt::kSessionsAll);
  std::vector<SessionEntry> sessions;
  sessions.reserve(r.size());
  for (const auto& row : r) sessions.push_back(read_session(row));
  return sessions;
}

Result<std::vector<OrderRecord>> pending(pqxx::transaction_base& tx, const std::string& receiver, std::int64_t after_id,
                                         int limit) {
  return orders_with_delivery(tx.exec_prepared(stmt::kPending, receiver, after_id, at_least_one(limit)));
}

Result<std::vector<OrderRecord>> list(pqxx::transaction_base& tx, const ListQuery& query) {
  const int limit = at_least_one(query.limit);
  if (query.box == protocol::Box::inbox) {
    const std::vector<Status> statuses =
        query.statuses.empty() ? std::vector<Status>{Status::sent, Status::received} : query.statuses;
    return orders_with_delivery(
        tx.exec_prepared(stmt::kInbox, query.session, status_array(statuses), before_or_max(query.before), limit));
  }
  const pqxx::result r =
      tx.exec_prepared(stmt::kOutbox, query.session, before_or_max(query.before),
                       status_array(query.statuses.empty() ? kAllStatuses : query.statuses), limit);
  std::vector<OrderRecord> orders;
  orders.reserve(r.size());
  for (const auto& row : r) orders.push_back(read_order(row));
  fill_receivers(tx, orders);
  return orders;
}

Result<OrderPage> list_orders(pqxx::transaction_base& tx, const OrderFilter& filter) {
  // A value PostgreSQL cannot store matches nothing (and must not be cut short).
  for (const auto* value : {&filter.shop, &filter.sender, &filter.receiver, &filter.ref}) {
    if (*value && has_nul(**value)) return OrderPage{};
  }
  unsigned mask = 0;
  std::vector<std::string> params;
  const int limit = at_least_one(filter.limit);
  params.push_back(std::to_string(before_or_max(filter.before)));
  // One row more than asked tells whether another page exists.
  params.push_back(std::to_string(static_cast<std::int64_t>(limit) + 1));
  if (filter.shop) {
    mask |= 1U;
    params.push_back(*filter.shop);
  }
  if (filter.sender) {
    mask |= 2U;
    params.push_back(*filter.sender);
  }
  if (filter.ref) {
    mask |= 4U;
    params.push_back(*filter.ref);
  }
  if (filter.receiver) {
    mask |= 8U;
    params.push_back(*filter.receiver);
  }
  if (!filter.statuses.empty()) {
    mask |= 16U;
    params.push_back(status_array(filter.statuses));
  }
  const std::string name = list_orders_statement(tx.conn(), mask);
  const pqxx::result r = tx.exec_prepared(name, pqxx::prepare::make_dynamic_params(params));

  OrderPage page;
  const auto wanted = static_cast<std::size_t>(limit);
  for (const auto& row : r) {
    if (page.orders.size() == wanted) {
      page.next_before = page.orders.back().order_id;
      break;
    }
    page.orders.push_back(read_order(row));
  }
  fill_receivers(tx, page.orders);
  return page;
}

Result<OrderDetail> get_order(pqxx::transaction_base& tx, std::int64_t order_id) {
  OrderDetail detail;
  auto order = load_order(tx, order_id);
  if (!order) return Error{ErrorCode::not_found, "order " + std::to_string(order_id) + " not found"};
  detail.order = std::move(*order);
  for (const auto& row : tx.exec_prepared(stmt::kHistoryOf, order_id)) {
    HistoryEntry entry;
    entry.at = row[0].as<std::string>();
    entry.session = row[1].as<std::string>();
    entry.from = optional_status_field(row[2]);
    entry.to = status_field(row[3]);
    entry.by = row[4].as<std::string>();
    entry.reason = optional_text(row[5]);
    detail.history.push_back(std::move(entry));
  }
  return detail;
}

Result<std::vector<NodePresence>> remote_presence(pqxx::transaction_base& tx, const std::string& node,
                                                  int node_timeout_ms) {
  std::vector<NodePresence> out;
  for (const auto& row : tx.exec_prepared(stmt::kRemotePresence, node, node_timeout_ms)) {
    out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(), row[3].as<int>()});
  }
  return out;
}

}  // namespace possync::storage::postgres::reads
