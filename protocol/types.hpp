// The vocabulary of the possync wire protocol (PROTOCOL.md §1, §3): error
// codes, delivery statuses and their state machine, modes, limits, and the
// records the store returns and the serializers write. No I/O, no threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace possync::protocol {

inline constexpr int kProtocolVersion = 1;

enum class ErrorCode {
  bad_json,
  bad_request,
  unauthorized,
  forbidden,
  not_found,
  conflict,
  too_large,
  rate_limited,
  unavailable,
  internal,
};
std::string_view to_string(ErrorCode code) noexcept;

// An error reply's code and human message (the message names the field path
// for bad_request / too_large, e.g. "order.lines[2].qty: must be a non-zero number").
struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
};

// A value or an Error. Used across layer boundaries instead of exceptions.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}      // NOLINT(google-explicit-constructor)
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Done {};  // the value of a Result that carries nothing but success

// ---------------------------------------------------------------------------
// Delivery statuses and the state machine of PROTOCOL.md §1.
enum class Status { sent, received, delivered, rejected, cancelled, taken };
std::string_view to_string(Status s) noexcept;
std::optional<Status> parse_status(std::string_view s) noexcept;
// delivered, rejected, cancelled and taken are final.
bool is_final(Status s) noexcept;
// sent → received; sent|received → delivered|rejected|cancelled|taken. Nothing else.
bool can_transition(Status from, Status to) noexcept;

enum class Mode { copy, claim };
std::string_view to_string(Mode m) noexcept;
std::optional<Mode> parse_mode(std::string_view s) noexcept;

enum class Box { inbox, outbox };

// Validation limits, gathered in one place. The broker fills them from its
// configuration; the defaults are the documented ones.
struct Limits {
  std::size_t max_lines = 1000;         // order.lines
  std::size_t max_receivers = 64;       // send.to
  std::size_t max_ref_chars = 128;      // send.ref
  std::size_t max_text_chars = 4096;    // order/line name and note, customer name, hello.client
  std::size_t max_reason_chars = 1000;  // reject.reason
  std::size_t max_id_chars = 64;        // envelope id
  std::size_t max_depth = 64;           // JSON nesting, whole frame
  int max_list_limit = 500;
  int default_list_limit = 100;
};

// Session ids and shop ids: ^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$
bool valid_session_id(std::string_view id) noexcept;

// RFC 3339 UTC with milliseconds and Z, e.g. "2026-11-27T04:16:43.123Z".
std::string format_time_ms(std::int64_t unix_ms);
std::int64_t now_unix_ms() noexcept;

// ---------------------------------------------------------------------------
// Records shared by the store, the broker and the serializers.

struct SessionEntry {
  std::string session;
  std::string name;
  std::string shop = "main";
  bool sender = false;
  bool receiver = false;
  bool online = false;   // filled by the broker, not the store
  int connections = 0;   // filled by the broker, not the store
};

struct ReceiverStatus {
  std::string session;
  Status status = Status::sent;
  std::string updated_at;
};

struct OrderRecord {
  std::int64_t order_id = 0;
  std::string ref;
  std::string shop;
  std::string from;        // sender session id
  std::string from_name;   // sender display name at send time
  Mode mode = Mode::copy;
  std::string created_at;
  std::string updated_at;  // latest change of any delivery
  std::string order_json;  // the `order` member exactly as sent (raw JSON text)
  int line_count = 0;
  // All receivers, except in an inbox listing / replay where it holds only
  // the caller's own delivery.
  std::vector<ReceiverStatus> receivers;
};

struct HistoryEntry {
  std::string at;
  std::string session;                // the receiver whose delivery changed
  std::optional<Status> from;         // nullopt for the creation entry
  Status to = Status::sent;
  std::string by;                     // the session that caused it
  std::optional<std::string> reason;
};

// One delivery transition, as the router needs it to notify connections.
struct StatusChange {
  std::int64_t order_id = 0;
  std::string shop;
  std::string sender;    // the order's sender
  std::string session;   // the receiver whose delivery changed
  Status status = Status::sent;
  std::string at;
  std::string by;
  std::optional<std::string> reason;
};

}  // namespace possync::protocol
