// The read requests of the SQLite backend, as plain functions of a reader's
// read-only connection. Each runs in one read transaction, so an order and
// its deliveries come from the same snapshot. SQLite failures throw
// SqliteError. Reader threads only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/sqlite/db.hpp"
#include "storage/store.hpp"

namespace possync::storage::sqlite::reads {

Result<SessionEntry> authenticate(Db& db, const std::string& session, const std::string& token);
Result<std::vector<SessionEntry>> list_sessions(Db& db, const std::optional<std::string>& shop);
Result<std::vector<OrderRecord>> pending(Db& db, const std::string& receiver, std::int64_t after_id, int limit);
Result<std::vector<OrderRecord>> list(Db& db, const ListQuery& query);
Result<OrderPage> list_orders(Db& db, const OrderFilter& filter);
Result<OrderDetail> get_order(Db& db, std::int64_t order_id);

}  // namespace possync::storage::sqlite::reads
