// Reading any possync JSON text (requests, replies, pushes) into a RapidJSON
// document the way the broker does: iteratively (deep nesting cannot
// overflow the stack), with a depth limit, and accepting numbers RapidJSON
// alone refuses (1e400 becomes an infinite double, integers beyond 64 bits
// doubles). Clients use it so every message the broker sends can be read.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

namespace possync::protocol {

// nullopt on success; otherwise why the text is not JSON (doc unspecified).
std::optional<std::string> parse_json(std::string_view text, rapidjson::Document& doc, std::size_t max_depth = 256);

}  // namespace possync::protocol
