#include "storage/sqlite/records.hpp"

#include <array>

namespace possync::storage::sqlite {

using protocol::Status;

Status status_column(const Query& q, int column) {
  const std::string text = q.text(column);
  if (auto status = protocol::parse_status(text)) return *status;
  throw SqliteError(SQLITE_CORRUPT, "unknown delivery status '" + text + "' in the database");
}

std::optional<Status> optional_status_column(const Query& q, int column) {
  if (q.is_null(column)) return std::nullopt;
  return status_column(q, column);
}

protocol::OrderRecord read_order(const Query& q) {
  protocol::OrderRecord order;
  order.order_id = q.int64(0);
  order.ref = q.text(1);
  order.shop = q.text(2);
  order.from = q.text(3);
  order.from_name = q.text(4);
  const std::string mode = q.text(5);
  if (auto parsed = protocol::parse_mode(mode)) {
    order.mode = *parsed;
  } else {
    throw SqliteError(SQLITE_CORRUPT, "unknown order mode '" + mode + "' in the database");
  }
  order.created_at = q.text(6);
  order.updated_at = q.text(7);
  order.order_json = q.text(8);
  order.line_count = q.integer(9);
  return order;
}

std::vector<protocol::ReceiverStatus> load_receivers(Db& db, std::int64_t order_id) {
  Query q = db.query(
      "SELECT receiver, status, updated_at FROM deliveries WHERE order_id = ?1 ORDER BY position");
  q.bind(1, order_id);
  std::vector<protocol::ReceiverStatus> receivers;
  while (q.step()) {
    receivers.push_back({q.text(0), status_column(q, 1), q.text(2)});
  }
  return receivers;
}

std::optional<protocol::OrderRecord> load_order(Db& db, std::int64_t order_id) {
  std::optional<protocol::OrderRecord> order;
  {
    Query q = db.query("SELECT " POSSYNC_ORDER_COLUMNS " FROM sync_orders o WHERE o.order_id = ?1");
    q.bind(1, order_id);
    if (!q.step()) return std::nullopt;
    order = read_order(q);
  }
  order->receivers = load_receivers(db, order_id);
  return order;
}

std::optional<protocol::SessionEntry> find_session(Db& db, const std::string& session) {
  Query q = db.query("SELECT id, name, shop, sender, receiver FROM sessions WHERE id = ?1");
  q.bind(1, session);
  if (!q.step()) return std::nullopt;
  protocol::SessionEntry entry;
  entry.session = q.text(0);
  entry.name = q.text(1);
  entry.shop = q.text(2);
  entry.sender = q.boolean(3);
  entry.receiver = q.boolean(4);
  return entry;
}

void bind_status_set(Query& q, const std::vector<Status>& statuses) {
  static constexpr std::array<const char*, 6> kSlots = {":s0", ":s1", ":s2", ":s3", ":s4", ":s5"};
  std::array<bool, 6> wanted{};
  for (Status s : statuses) wanted[static_cast<std::size_t>(s)] = true;
  for (std::size_t i = 0; i < kSlots.size(); ++i) {
    if (wanted[i]) {
      q.bind(kSlots[i], protocol::to_string(static_cast<Status>(i)));
    } else {
      q.bind(kSlots[i], std::nullopt);
    }
  }
}

}  // namespace possync::storage::sqlite
