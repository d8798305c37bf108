// Row ↔ record helpers shared by the writer (writes.cpp) and the readers
// (reads.cpp) of the SQLite backend. Every function runs on the caller's
// connection, inside whatever transaction it has open, and throws SqliteError.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/types.hpp"
#include "storage/sqlite/db.hpp"

// The columns read_order() expects, in its order, for a query over
// `sync_orders o`. A macro so that SQL texts stay compile-time literals.
// updated_at is the newest of the order's deliveries' (migration 0002): a
// lookup in the deliveries' primary key.
#define POSSYNC_ORDER_COLUMNS                                                                                    \
  "o.order_id, o.ref, o.shop, o.sender, o.sender_name, o.mode, o.created_at, "                                   \
  "(SELECT MAX(u.updated_at) FROM deliveries u WHERE u.order_id = o.order_id), o.order_json, o.line_count"
#define POSSYNC_ORDER_COLUMN_COUNT 10

namespace possync::storage::sqlite {

// The order columns of the current row (see POSSYNC_ORDER_COLUMNS);
// receivers left empty.
protocol::OrderRecord read_order(const Query& q);

// A status or mode column; a value outside the vocabulary is corruption.
protocol::Status status_column(const Query& q, int column);
std::optional<protocol::Status> optional_status_column(const Query& q, int column);

// Every delivery of an order, in the order of the send's `to` list.
std::vector<protocol::ReceiverStatus> load_receivers(Db& db, std::int64_t order_id);

// The order with all its receivers; nullopt when there is no such order.
std::optional<protocol::OrderRecord> load_order(Db& db, std::int64_t order_id);

// The session's directory entry; nullopt when unknown.
std::optional<protocol::SessionEntry> find_session(Db& db, const std::string& session);

// The six statuses as bound parameters :s0 … :s5 of an `IN (:s0, …, :s5)`
// list: the given ones, NULL for the unused slots (NULL never matches), so
// one SQL text serves every set.
void bind_status_set(Query& q, const std::vector<protocol::Status>& statuses);
#define POSSYNC_STATUS_SET "(:s0, :s1, :s2, :s3, :s4, :s5)"

}  // namespace possync::storage::sqlite
