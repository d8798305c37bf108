// Inputs the fuzzers (tests/fuzz) found to break something, one test each,
// named after what broke. The inputs are also kept in tests/fuzz/corpus, so
// the fuzzers start from them and fuzz_corpus_test.cpp replays them.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include <rapidjson/document.h>

#include "protocol/json.hpp"
#include "protocol/requests.hpp"
#include "tests/fuzz/targets.hpp"

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

namespace {

std::string put_session(const std::string& id, const std::string& body) {
  return "PUT /api/sessions/" + id + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer fuzz-admin-token\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

// fuzz_http: PUT /api/sessions/{id} read its body with RapidJSON's default
// parser, which accepts bytes that are not UTF-8. The name was stored and
// came back in the reply (and in every welcome and directory of the shop)
// as text no strict JSON reader accepts.
TEST_CASE("fuzz regression: a session name that is not UTF-8 is refused, not stored", "[fuzz]") {
  auto answers = possync::fuzz::http_answers(put_session("latin1-1", "{\"name\":\"B\xe1r 9\"}"));
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 400);
  answers = possync::fuzz::http_answers(put_session("surrogate-1", R"({"name":"\udc00"})"));
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 400);
  answers = possync::fuzz::http_answers(
      "GET /api/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer fuzz-admin-token\r\n\r\n");
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].body.find("latin1-1") == std::string::npos);
  CHECK(answers[0].body.find("surrogate-1") == std::string::npos);
}

// Found with it: the same recursive parser overflowed the stack (a crash of
// the broker) on a body of nested arrays within --max-http-body-bytes.
TEST_CASE("fuzz regression: a deeply nested session body is refused, not a stack overflow", "[fuzz]") {
  const std::string deep(1000 * 1000, '[');
  auto answers = possync::fuzz::http_answers(put_session("deep-1", deep));
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 400);
}
