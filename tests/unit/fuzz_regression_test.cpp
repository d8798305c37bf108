// Inputs the fuzzers (tests/fuzz) found to break something, one test each,
// named after what broke. The inputs are also kept in tests/fuzz/corpus, so
// the fuzzers start from them and fuzz_corpus_test.cpp replays them.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include <rapidjson/document.h>

#include "protocol/json.hpp"
#include "protocol/requests.hpp"

using namespace possync::protocol;

// fuzz_json: out_of_range_value() added the digit count to an exponent near
// LLONG_MAX (signed overflow, UB): 1e9223372036854775807 is beyond double's
// range like 1e400, and must read the same way.
TEST_CASE("fuzz regression: a decimal exponent near LLONG_MAX reads as inf or 0 without overflow", "[fuzz]") {
  rapidjson::Document doc;
  REQUIRE_FALSE(parse_json("[1234567890123456e9223372036854775807,-1e9223372036854775807,"
                           "0.001e-9223372036854775807,1e-9223372036854775808,1e99999999999999999999]",
                           doc));
  REQUIRE(doc.IsArray());
  CHECK(doc[0].GetDouble() == INFINITY);
  CHECK(doc[1].GetDouble() == -INFINITY);
  CHECK(doc[2].GetDouble() == 0.0);
  CHECK(doc[3].GetDouble() == 0.0);
  CHECK(doc[4].GetDouble() == INFINITY);

  // In a checked field it is "not finite"; in a free field it is kept verbatim.
  const std::string order =
      R"({"lines":[{"product_id":1,"name":"n","qty":1,"price_unit":1,"x":1e9223372036854775807}]})";
  auto ok = parse_request(R"({"type":"send","ref":"e","to":["k"],"order":)" + order + "}", Limits{});
  REQUIRE(ok.request);
  CHECK(std::get<Send>(*ok.request).order_json == order);
  auto bad = parse_request(R"({"type":"send","ref":"e","to":["k"],"order":{"lines":[{"product_id":1,"name":"n",)"
                           R"("qty":1e9223372036854775807,"price_unit":1}]}})",
                           Limits{});
  REQUIRE(bad.error);
  CHECK(bad.error->message == "order.lines[0].qty: must be a finite number");
}
