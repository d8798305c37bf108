// Row ↔ record helpers shared by the writer (writes.cpp), the readers
// (reads.cpp) and the cluster listener (cluster.cpp) of the PostgreSQL
// backend. Every function runs on the caller's transaction and throws
// (libpqxx exceptions, or std::runtime_error for a value the schema forbids).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "protocol/types.hpp"

namespace possync::storage::postgres {

// The order columns starting at `first` (see POSSYNC_PG_ORDER_COLUMNS);
// receivers left empty.
protocol::OrderRecord read_order(const pqxx::row& row, pqxx::row::size_type first = 0);

// A status column; a value outside the vocabulary is corruption.
protocol::Status status_field(const pqxx::field& field);
std::optional<protocol::Status> optional_status_field(const pqxx::field& field);
std::optional<std::string> optional_text(const pqxx::field& field);

// Every delivery of an order, in the order of the send's `to` list.
std::vector<protocol::ReceiverStatus> load_receivers(pqxx::transaction_base& tx, std::int64_t order_id);
// Every receiver of each order, with one query.
void fill_receivers(pqxx::transaction_base& tx, std::vector<protocol::OrderRecord>& orders);

// The order with all its receivers; nullopt when there is no such order.
std::optional<protocol::OrderRecord> load_order(pqxx::transaction_base& tx, std::int64_t order_id);

// The session's directory entry; nullopt when unknown.
std::optional<protocol::SessionEntry> find_session(pqxx::transaction_base& tx, const std::string& session);
protocol::SessionEntry read_session(const pqxx::row& row);

// A PostgreSQL array literal for a $n::text[] / $n::bigint[] / $n::int[]
// parameter, built element by element. Text is quoted and escaped, so any
// text is safe inside; NULL is an element of its own.
class ArrayLiteral {
 public:
  void add(std::string_view text);
  void add(std::int64_t number);
  void add_null();
  void add(const std::optional<std::string>& text) { text ? add(std::string_view(*text)) : add_null(); }
  // The literal; the builder is spent.
  std::string take();

 private:
  void separate();
  std::string text_ = "{";
};

// Whole-vector shorthands of ArrayLiteral.
std::string text_array(const std::vector<std::string>& values);
std::string status_array(const std::vector<protocol::Status>& statuses);
std::string id_array(const std::vector<std::int64_t>& ids);

// PostgreSQL text cannot hold U+0000, and libpq passes text parameters as C
// strings (a NUL would silently cut the value short): values that may
// carry one are checked with this first.
inline bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

// NULL for an empty optional (libpqxx sends a null const char* as SQL NULL).
inline const char* nullable(const std::optional<std::string>& value) {
  return value ? value->c_str() : nullptr;
}

}  // namespace possync::storage::postgres
