// Internal to protocol/: reads one text frame into a RapidJSON document for
// the request validator (requests.cpp). Not part of the layer's public API.
//
// The reader is iterative (no recursion, so hostile nesting cannot overflow
// the stack) and stops at a nesting depth limit. Numbers are converted from
// their literal text, which lets it keep two facts the DOM alone would lose:
// the exact byte range of the top-level `order` object (kept verbatim, see
// PROTOCOL.md clarification 9) and which integer-typed fields held an integer
// literal too wide for 64 bits (so "3.0" and "1e2" can be told apart from
// "123456789012345678901234567890" in the error message).
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace possync::protocol::detail {

struct JsonFrame {
  rapidjson::Document doc;
  // Byte range [order_begin, order_end) of the value of the first top-level
  // "order" member, when that value is an object.
  std::optional<std::size_t> order_begin;
  std::size_t order_end = 0;
  // Field paths ("id", "limit", "order.customer.id", "order.lines[3].product_id")
  // of integer literals beyond 64 bits. Such a literal is stored in `doc` as a
  // double. Only the paths where the validator expects an integer are kept, so
  // the list stays small whatever the frame holds.
  std::vector<std::string> wide_integer_paths;

  bool is_wide_integer(std::string_view path) const;
};

// Parses `text` into `out`. On malformed JSON (syntax, invalid UTF-8, a lone
// surrogate escape, nesting deeper than max_depth) returns the human message
// for a bad_json error; `out.doc` is then unspecified.
std::optional<std::string> read_json_frame(std::string_view text, std::size_t max_depth,
                                           JsonFrame& out);

}  // namespace possync::protocol::detail
