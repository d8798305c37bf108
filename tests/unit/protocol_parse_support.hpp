// Shared helpers of the parse_request tests (protocol_parse_test.cpp and
// protocol_parse_send_test.cpp): frame builders and error checks.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "protocol/requests.hpp"

namespace possync::protocol::test {

using Catch::Matchers::StartsWith;


inline ParseResult parse(std::string_view frame, const Limits& limits = Limits{}) {
  return parse_request(frame, limits);
}

template <class T>
T request_as(const ParseResult& r) {
  INFO("error: " << (r.error ? r.error->message : std::string("none")));
  REQUIRE_FALSE(r.error.has_value());
  REQUIRE(r.request.has_value());
  REQUIRE(std::holds_alternative<T>(*r.request));
  return std::get<T>(*r.request);
}

struct ErrorCase {
  std::string frame;
  ErrorCode code;
  std::string message;  // the expected message, or its beginning
};

inline void check_error(const ParseResult& r, ErrorCode code, std::string_view message) {
  REQUIRE(r.error.has_value());
  CHECK_FALSE(r.request.has_value());
  CHECK(to_string(r.error->code) == to_string(code));
  CHECK_THAT(r.error->message, StartsWith(std::string(message)));
}

inline void check_errors(const std::vector<ErrorCase>& cases, const Limits& limits = Limits{}) {
  for (const auto& c : cases) {
    CAPTURE(c.frame);
    check_error(parse(c.frame, limits), c.code, c.message);
  }
}

// A valid order line; each override replaces (or adds) a field, an empty
// value removes it.
inline std::string line(std::vector<std::pair<std::string, std::string>> overrides = {}) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"product_id", "31"}, {"name", "\"Margherita\""}, {"qty", "2"}, {"price_unit", "9.5"}};
  for (auto& [key, value] : overrides) {
    auto it = std::find_if(fields.begin(), fields.end(), [&](auto& f) { return f.first == key; });
    if (it != fields.end()) {
      it->second = value;
    } else {
      fields.emplace_back(key, value);
    }
  }
  std::string out = "{";
  for (const auto& [key, value] : fields) {
    if (value.empty()) continue;
    if (out.size() > 1) out += ",";
    out += "\"" + key + "\":" + value;
  }
  return out + "}";
}

inline std::string send_frame(const std::string& order_members,
                       const std::string& envelope = R"("ref":"r1","to":["kitchen-1"])") {
  return R"({"type":"send","id":"c7",)" + envelope + R"(,"order":{)" + order_members + "}}";
}

// A send whose order has the given lines (a JSON array body) and extra members.
inline std::string send_lines(const std::string& lines, const std::string& order_extra = "") {
  return send_frame(order_extra + R"("lines":[)" + lines + "]");
}

inline std::string repeat_joined(const std::string& item, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += (i ? "," : "") + item;
  return out;
}

inline const std::string kValidSend =
    R"({"type":"send","id":"c7","ref":"Order 00012-003-0004","to":["kitchen-1","bar-2"],"mode":"copy",)"
    R"("order":{"name":"Order 00012-003-0004","table":"T4","note":"no onions",)"
    R"("customer":{"id":88,"name":"Ana Souza","phone":"+55 11 5555-0100"},)"
    R"("lines":[{"product_id":31,"name":"Margherita","qty":2,"price_unit":9.5,"discount":10,"note":"extra basil"},)"
    R"({"product_id":"sku-77","name":"Água com gás","qty":1,"price_unit":2.0}]}})";


}  // namespace possync::protocol::test
