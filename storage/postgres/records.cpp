#include "storage/postgres/records.hpp"

#include <stdexcept>
#include <unordered_map>

#include "storage/postgres/statements.hpp"

namespace possync::storage::postgres {

using protocol::Status;

Status status_field(const pqxx::field& field) {
  const std::string text = field.as<std::string>();
  if (auto status = protocol::parse_status(text)) return *status;
  throw std::runtime_error("unknown delivery status '" + text + "' in the database");
}

std::optional<Status> optional_status_field(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return status_field(field);
}

std::optional<std::string> optional_text(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return field.as<std::string>();
}

protocol::OrderRecord read_order(const pqxx::row& row, pqxx::row::size_type first) {
  protocol::OrderRecord order;
  order.order_id = row[first].as<std::int64_t>();
  order.ref = row[first + 1].as<std::string>();
  order.shop = row[first + 2].as<std::string>();
  order.from = row[first + 3].as<std::string>();
  order.from_name = row[first + 4].as<std::string>();
  const std::string mode = row[first + 5].as<std::string>();
  if (auto parsed = protocol::parse_mode(mode)) {
    order.mode = *parsed;
  } else {
    throw std::runtime_error("unknown order mode '" + mode + "' in the database");
  }
  order.created_at = row[first + 6].as<std::string>();
  order.updated_at = row[first + 7].as<std::string>();
  order.order_json = row[first + 8].as<std::string>();
  order.line_count = row[first + 9].as<int>();
  return order;
}

std::vector<protocol::ReceiverStatus> load_receivers(pqxx::transaction_base& tx, std::int64_t order_id) {
  std::vector<protocol::ReceiverStatus> receivers;
  for (const auto& row : tx.exec_prepared(stmt::kReceiversOf, order_id)) {
    receivers.push_back({row[0].as<std::string>(), status_field(row[1]), row[2].as<std::string>()});
  }
  return receivers;
}

void fill_receivers(pqxx::transaction_base& tx, std::vector<protocol::OrderRecord>& orders) {
  if (orders.empty()) return;
  std::vector<std::int64_t> ids;
  std::unordered_map<std::int64_t, protocol::OrderRecord*> by_id;
  for (auto& order : orders) {
    ids.push_back(order.order_id);
    by_id[order.order_id] = &order;
    order.receivers.clear();
  }
  for (const auto& row : tx.exec_prepared(stmt::kReceiversOfMany, id_array(ids))) {
    auto it = by_id.find(row[0].as<std::int64_t>());
    if (it == by_id.end()) continue;
    it->second->receivers.push_back({row[1].as<std::string>(), status_field(row[2]), row[3].as<std::string>()});
  }
}

std::optional<protocol::OrderRecord> load_order(pqxx::transaction_base& tx, std::int64_t order_id) {
  const pqxx::result r = tx.exec_prepared(stmt::kOrderById, order_id);
  if (r.empty()) return std::nullopt;
  protocol::OrderRecord order = read_order(r[0]);
  order.receivers = load_receivers(tx, order_id);
  return order;
}

protocol::SessionEntry read_session(const pqxx::row& row) {
  protocol::SessionEntry entry;
  entry.session = row[0].as<std::string>();
  entry.name = row[1].as<std::string>();
  entry.shop = row[2].as<std::string>();
  entry.sender = row[3].as<bool>();
  entry.receiver = row[4].as<bool>();
  return entry;
}

std::optional<protocol::SessionEntry> find_session(pqxx::transaction_base& tx, const std::string& session) {
  const pqxx::result r = tx.exec_prepared(stmt::kSessionById, session);
  if (r.empty()) return std::nullopt;
  return read_session(r[0]);
}

void ArrayLiteral::separate() {
  if (text_.size() > 1) text_ += ',';
}

void ArrayLiteral::add(std::string_view text) {
  separate();
  text_ += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') text_ += '\\';
    text_ += c;
  }
  text_ += '"';
}

void ArrayLiteral::add(std::int64_t number) {
  separate();
  text_ += std::to_string(number);
}

void ArrayLiteral::add_null() {
  separate();
  text_ += "NULL";
}

std::string ArrayLiteral::take() {
  text_ += '}';
  return std::move(text_);
}

std::string text_array(const std::vector<std::string>& values) {
  ArrayLiteral out;
  for (const auto& value : values) out.add(std::string_view(value));
  return out.take();
}

std::string status_array(const std::vector<Status>& statuses) {
  ArrayLiteral out;
  for (Status s : statuses) out.add(protocol::to_string(s));
  return out.take();
}

std::string id_array(const std::vector<std::int64_t>& ids) {
  ArrayLiteral out;
  for (const auto id : ids) out.add(id);
  return out.take();
}

}  // namespace possync::storage::postgres
