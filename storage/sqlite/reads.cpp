#include "storage/sqlite/reads.hpp"

#include <limits>
#include <utility>

#include "storage/sqlite/records.hpp"
#include "storage/tokens.hpp"

namespace possync::storage::sqlite::reads {

namespace {

using protocol::Status;

// A deferred read transaction: one consistent snapshot for the whole read.
class ReadTransaction {
 public:
  explicit ReadTransaction(Db& db) : db_(db) { db_.query("BEGIN").run(); }
  // Nothing was written: ending the snapshot by rollback is as good as commit.
  ~ReadTransaction() {
    if (!db_.in_transaction()) return;
    try {
      db_.query("ROLLBACK").run();
    } catch (...) {
      sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  Db& db_;
};

std::int64_t before_or_max(const std::optional<std::int64_t>& before) {
  return before.value_or(std::numeric_limits<std::int64_t>::max());
}

int at_least_one(int limit) { return limit < 1 ? 1 : limit; }

SessionEntry read_session(const Query& q) {
  SessionEntry entry;
  entry.session = q.text(0);
  entry.name = q.text(1);
  entry.shop = q.text(2);
  entry.sender = q.boolean(3);
  entry.receiver = q.boolean(4);
  return entry;
}

// Orders joined with one delivery each (receivers = that delivery only);
// the delivery's receiver, status and updated_at follow the order columns.
std::vector<OrderRecord> read_orders_with_delivery(Query& q) {
  std::vector<OrderRecord> orders;
  while (q.step()) {
    OrderRecord order = read_order(q);
    constexpr int c = POSSYNC_ORDER_COLUMN_COUNT;
    order.receivers.push_back({q.text(c), status_column(q, c + 1), q.text(c + 2)});
    orders.push_back(std::move(order));
  }
  return orders;
}

// Up to `max` orders of the current query; receivers left for fill_receivers.
std::vector<OrderRecord> read_orders_complete(Query& q, std::size_t max) {
  std::vector<OrderRecord> orders;
  while (orders.size() < max && q.step()) orders.push_back(read_order(q));
  return orders;
}

// Every receiver of each order (one more query per order, same snapshot).
void fill_receivers(Db& db, std::vector<OrderRecord>& orders) {
  for (auto& order : orders) order.receivers = load_receivers(db, order.order_id);
}

}  // namespace

Result<SessionEntry> authenticate(Db& db, const std::string& session, const std::string& token) {
  // Hash before looking: an unknown session costs the same as a known one.
  const std::string presented = hash_token(token);
  ReadTransaction txn(db);
  Query q = db.query("SELECT id, name, shop, sender, receiver, token_hash FROM sessions WHERE id = ?1");
  q.bind(1, session);
  if (q.step()) {
    const std::string stored = q.text(5);
    if (constant_time_equal(presented, stored)) return read_session(q);
  }
  return Error{ErrorCode::unauthorized, "bad session or token"};
}

Result<std::vector<SessionEntry>> list_sessions(Db& db, const std::optional<std::string>& shop) {
  ReadTransaction txn(db);
  std::vector<SessionEntry> sessions;
  Query q = shop ? db.query("SELECT id, name, shop, sender, receiver FROM sessions WHERE shop = ?1 ORDER BY id")
                 : db.query("SELECT id, name, shop, sender, receiver FROM sessions ORDER BY id");
  if (shop) q.bind(1, *shop);
  while (q.step()) sessions.push_back(read_session(q));
  return sessions;
}

Result<std::vector<OrderRecord>> pending(Db& db, const std::string& receiver, std::int64_t after_id, int limit) {
  ReadTransaction txn(db);
  Query q = db.query(
      "SELECT " POSSYNC_ORDER_COLUMNS ", d.receiver, d.status, d.updated_at"
      " FROM deliveries d JOIN sync_orders o ON o.order_id = d.order_id"
      " WHERE d.receiver = ?1 AND d.status = 'sent' AND d.order_id > ?2 ORDER BY d.order_id LIMIT ?3");
  q.bind(1, receiver).bind(2, after_id).bind(3, at_least_one(limit));
  return read_orders_with_delivery(q);
}

Result<std::vector<OrderRecord>> list(Db& db, const ListQuery& query) {
  ReadTransaction txn(db);
  const int limit = at_least_one(query.limit);
  if (query.box == protocol::Box::inbox) {
    const std::vector<Status> statuses =
        query.statuses.empty() ? std::vector<Status>{Status::sent, Status::received} : query.statuses;
    Query q = db.query(
        "SELECT " POSSYNC_ORDER_COLUMNS ", d.receiver, d.status, d.updated_at"
        " FROM deliveries d JOIN sync_orders o ON o.order_id = d.order_id"
        " WHERE d.receiver = :session AND d.status IN " POSSYNC_STATUS_SET " AND d.order_id < :before"
        " ORDER BY d.order_id DESC LIMIT :limit");
    q.bind(":session", query.session).bind(":before", before_or_max(query.before)).bind(":limit", limit);
    bind_status_set(q, statuses);
    return read_orders_with_delivery(q);
  }

  std::vector<OrderRecord> orders;
  {
    Query q = db.query(
        "SELECT " POSSYNC_ORDER_COLUMNS " FROM sync_orders o"
        " WHERE o.sender = :session AND o.order_id < :before"
        " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.order_id = o.order_id AND d.status IN "
        POSSYNC_STATUS_SET ")"
        " ORDER BY o.order_id DESC LIMIT :limit");
    q.bind(":session", query.session).bind(":before", before_or_max(query.before)).bind(":limit", limit);
    if (query.statuses.empty()) {
      bind_status_set(q, {Status::sent, Status::received, Status::delivered, Status::rejected, Status::cancelled,
                          Status::taken});
    } else {
      bind_status_set(q, query.statuses);
    }
    orders = read_orders_complete(q, static_cast<std::size_t>(limit));
  }
  fill_receivers(db, orders);
  return orders;
}

Result<OrderPage> list_orders(Db& db, const OrderFilter& filter) {
  // The SQL text is assembled from fixed fragments, one per filter present,
  // so each combination gets its own cached statement and its own plan (an
  // index per filter); values are only ever bound.
  std::string sql = "SELECT " POSSYNC_ORDER_COLUMNS " FROM sync_orders o WHERE o.order_id < :before";
  if (filter.shop) sql += " AND o.shop = :shop";
  if (filter.sender) sql += " AND o.sender = :sender";
  if (filter.ref) sql += " AND o.ref = :ref";
  const bool by_status = !filter.statuses.empty();
  if (filter.receiver) {
    sql += " AND o.order_id IN (SELECT d.order_id FROM deliveries d WHERE d.receiver = :receiver";
    if (by_status) sql += " AND d.status IN " POSSYNC_STATUS_SET;
    sql += ")";
  } else if (by_status) {
    sql += " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.order_id = o.order_id AND d.status IN "
           POSSYNC_STATUS_SET ")";
  }
  sql += " ORDER BY o.order_id DESC LIMIT :limit";

  const int limit = at_least_one(filter.limit);
  ReadTransaction txn(db);
  OrderPage page;
  {
    Query q = db.query(sql);
    q.bind(":before", before_or_max(filter.before));
    if (filter.shop) q.bind(":shop", *filter.shop);
    if (filter.sender) q.bind(":sender", *filter.sender);
    if (filter.ref) q.bind(":ref", *filter.ref);
    if (filter.receiver) q.bind(":receiver", *filter.receiver);
    if (by_status) bind_status_set(q, filter.statuses);
    // One row more than asked tells whether another page exists.
    q.bind(":limit", static_cast<std::int64_t>(limit) + 1);
    page.orders = read_orders_complete(q, static_cast<std::size_t>(limit));
    // Only step again after a full page: a statement stepped past its end
    // would start over.
    if (page.orders.size() == static_cast<std::size_t>(limit) && q.step()) {
      page.next_before = page.orders.back().order_id;
    }
  }
  fill_receivers(db, page.orders);
  return page;
}

Result<OrderDetail> get_order(Db& db, std::int64_t order_id) {
  ReadTransaction txn(db);
  OrderDetail detail;
  auto order = load_order(db, order_id);
  if (!order) return Error{ErrorCode::not_found, "order " + std::to_string(order_id) + " not found"};
  detail.order = std::move(*order);
  Query q = db.query(
      "SELECT at, receiver, from_status, to_status, by_session, reason FROM history"
      " WHERE order_id = ?1 ORDER BY id");
  q.bind(1, order_id);
  while (q.step()) {
    HistoryEntry entry;
    entry.at = q.text(0);
    entry.session = q.text(1);
    entry.from = optional_status_column(q, 2);
    entry.to = status_column(q, 3);
    entry.by = q.text(4);
    entry.reason = q.optional_text(5);
    detail.history.push_back(std::move(entry));
  }
  return detail;
}

}  // namespace possync::storage::sqlite::reads
