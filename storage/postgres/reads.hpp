// The read requests of the PostgreSQL backend, as plain functions of a
// reader's transaction (REPEATABLE READ, READ ONLY: one snapshot for the
// whole read, so an order and its deliveries agree). libpqxx failures
// throw; the reader thread maps them (connection.hpp). Reader threads only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "storage/store.hpp"

namespace possync::storage::postgres::reads {

Result<SessionEntry> authenticate(pqxx::transaction_base& tx, const std::string& session, const std::string& token);
Result<std::vector<SessionEntry>> list_sessions(pqxx::transaction_base& tx, const std::optional<std::string>& shop);
Result<std::vector<OrderRecord>> pending(pqxx::transaction_base& tx, const std::string& receiver, std::int64_t after_id,
                                         int limit);
Result<std::vector<OrderRecord>> list(pqxx::transaction_base& tx, const ListQuery& query);
Result<OrderPage> list_orders(pqxx::transaction_base& tx, const OrderFilter& filter);
Result<OrderDetail> get_order(pqxx::transaction_base& tx, std::int64_t order_id);
// Sessions held on other live nodes (store.hpp remote_presence).
Result<std::vector<NodePresence>> remote_presence(pqxx::transaction_base& tx, const std::string& node,
                                                  int node_timeout_ms);

}  // namespace possync::storage::postgres::reads
