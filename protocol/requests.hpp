// Client → broker messages (PROTOCOL.md §3, §4) and their parser/validator.
// Malformed input never throws: it comes back as an Error with the documented
// code and a message that names the field path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/types.hpp"

namespace possync::protocol {

// A request id exactly as the JSON text to echo in the reply ("\"c7\"" or
// "5"); empty when the request had no id (or an invalid one).
using RequestId = std::string;

struct Hello {
  std::string session;  // empty when missing or not a string (→ unauthorized)
  std::string token;    // likewise
  std::string client;
};
struct Send {
  std::string ref;
  std::vector<std::string> to;
  Mode mode = Mode::copy;
  std::string order_json;  // raw text of the `order` member, byte for byte
  int line_count = 0;
};
struct Ack {
  std::int64_t order_id = 0;
};
struct List {
  Box box = Box::inbox;
  // Empty means the box's default: inbox {sent, received}; outbox: all.
  std::vector<Status> statuses;
  int limit = 100;
  std::optional<std::int64_t> before;
};
struct Deliver {
  std::int64_t order_id = 0;
};
struct Reject {
  std::int64_t order_id = 0;
  std::optional<std::string> reason;
};
struct Cancel {
  std::int64_t order_id = 0;
};
struct SessionsQuery {};
struct Ping {};

using Request = std::variant<Hello, Send, Ack, List, Deliver, Reject, Cancel, SessionsQuery, Ping>;

struct ParseResult {
  // The id to echo; empty when absent or invalid.
  RequestId id;
  // The request's type when the envelope (JSON object, `type`, `id`) is
  // valid; empty when the envelope itself is bad. The broker uses this to
  // decide between an envelope error, `unauthorized` and a body error.
  std::string type;
  std::optional<Request> request;  // set on success
  std::optional<Error> error;      // set iff !request
};

// Parses and validates one text frame. Never throws on bad input; iterative
// parsing, so deep nesting is rejected without recursion (bad_json beyond
// limits.max_depth).
ParseResult parse_request(std::string_view frame, const Limits& limits);

// Number of Unicode code points in a UTF-8 string (lengths in the protocol
// count code points).
std::size_t utf8_length(std::string_view s) noexcept;

}  // namespace possync::protocol
