// parse_request: the envelope (PROTOCOL.md §3), every request body (§4) and
// the clarifications of §7 that concern validation.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "protocol/requests.hpp"
#include "tests/unit/protocol_parse_support.hpp"

using namespace possync::protocol;
using namespace possync::protocol::test;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;

// ---- envelope ---------------------------------------------------------------

TEST_CASE("parse: frames that are not JSON are bad_json with no id and no type",
          "[protocol][parse]") {
  for (std::string frame : {"", "nul", "{", "{\"type\":\"ping\"", "{\"type\":\"ping\"} x",
                            "{'type':'ping'}", "{\"type\":\"ping\",}", "\xff\xfe"}) {
    CAPTURE(frame);
    const auto r = parse(frame);
    check_error(r, ErrorCode::bad_json, "");
    CHECK(r.id.empty());
    CHECK(r.type.empty());
  }
}

TEST_CASE("parse: JSON values that are not objects are bad_json", "[protocol][parse]") {
  for (std::string frame : {"[]", "\"x\"", "12", "null", "true", "[{\"type\":\"ping\"}]"}) {
    CAPTURE(frame);
    const auto r = parse(frame);
    check_error(r, ErrorCode::bad_json, "the frame is not a JSON object");
    CHECK(r.id.empty());
    CHECK(r.type.empty());
  }
}

TEST_CASE("parse: 100000 nested arrays are refused as bad_json without recursion",
          "[protocol][parse]") {
  const std::string arrays = std::string(100000, '[') + std::string(100000, ']');
  check_error(parse(arrays), ErrorCode::bad_json, "JSON nesting deeper than 64 levels");
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  objects += "1" + std::string(100000, '}');
  check_error(parse(objects), ErrorCode::bad_json, "JSON nesting deeper than 64 levels");
  // Unterminated deep nesting too.
  check_error(parse(std::string(100000, '[')), ErrorCode::bad_json, "JSON nesting deeper");
}

TEST_CASE("parse: nesting of exactly max_depth levels is accepted, one more is not",
          "[protocol][parse]") {
  // The envelope object is level 1, so 63 arrays inside make 64 levels.
  const auto nested = [](int arrays) {
    return R"({"type":"ping","x":)" + std::string(static_cast<std::size_t>(arrays), '[') +
           std::string(static_cast<std::size_t>(arrays), ']') + "}";
  };
  request_as<Ping>(parse(nested(63)));
  check_error(parse(nested(64)), ErrorCode::bad_json, "JSON nesting deeper than 64 levels");
  Limits shallow;
  shallow.max_depth = 3;
  request_as<Ping>(parse(nested(2), shallow));
  check_error(parse(nested(3), shallow), ErrorCode::bad_json, "JSON nesting deeper than 3 levels");
}

TEST_CASE("parse: invalid UTF-8, lone surrogates and NUL bytes are bad_json", "[protocol][parse]") {
  check_errors({
      {"{\"type\":\"ping\",\"x\":\"\xc3\"}", ErrorCode::bad_json, "invalid JSON"},
      {"{\"type\":\"ping\",\"x\":\"\xed\xa0\x80\"}", ErrorCode::bad_json, "invalid JSON"},
      {R"({"type":"ping","x":"\udc00"})", ErrorCode::bad_json, "invalid JSON"},
      {R"({"type":"ping","x":"\ud800"})", ErrorCode::bad_json, "invalid JSON"},
      {R"({"type":"ping","\udc00":1})", ErrorCode::bad_json, "invalid JSON"},
      {std::string("{\"type\":\"ping\"}\0junk", 20), ErrorCode::bad_json, "invalid JSON"},
      {std::string("{\"type\":\"pi\0ng\"}", 16), ErrorCode::bad_json, "invalid JSON"},
  });
  request_as<Ping>(parse(R"({"type":"ping","x":"\ud83d\ude00 é \u0000"})"));
}

TEST_CASE("parse: a missing, non-string or unknown type is bad_request naming type",
          "[protocol][parse]") {
  const std::vector<ErrorCase> cases = {
      {R"({"id":"c1"})", ErrorCode::bad_request, "type: is required"},
      {R"({"id":"c1","type":5})", ErrorCode::bad_request, "type: must be a string"},
      {R"({"id":"c1","type":null})", ErrorCode::bad_request, "type: must be a string"},
      {R"({"id":"c1","type":"Ping"})", ErrorCode::bad_request, R"(type: unknown type "Ping")"},
      {R"({"id":"c1","type":"welcome"})", ErrorCode::bad_request, "type: unknown type"},
  };
  check_errors(cases);
  for (const auto& c : cases) {
    const auto r = parse(c.frame);
    CHECK(r.type.empty());
    CHECK(r.id == "\"c1\"");  // a good id is still echoed
  }
  const auto long_type = parse(R"({"type":")" + std::string(5000, 'x') + "\"}");
  check_error(long_type, ErrorCode::bad_request, "type: unknown type");
  CHECK(long_type.error->message.size() < 200);  // client text is not echoed whole
}

TEST_CASE("parse: every documented request type is recognised", "[protocol][parse]") {
  CHECK(parse(R"({"type":"hello"})").type == "hello");
  CHECK(parse(kValidSend).type == "send");
  CHECK(parse(R"({"type":"ack","order_id":1})").type == "ack");
  CHECK(parse(R"({"type":"list"})").type == "list");
  CHECK(parse(R"({"type":"deliver","order_id":1})").type == "deliver");
  CHECK(parse(R"({"type":"reject","order_id":1})").type == "reject");
  CHECK(parse(R"({"type":"cancel","order_id":1})").type == "cancel");
  request_as<SessionsQuery>(parse(R"({"type":"sessions","id":9})"));
  request_as<Ping>(parse(R"({"type":"ping","id":10})"));
}

TEST_CASE("parse: the id is echoed as JSON text, strings escaped, integers as digits",
          "[protocol][parse]") {
  CHECK(parse(R"({"type":"ping","id":"c7"})").id == "\"c7\"");
  CHECK(parse(R"({"type":"ping","id":5})").id == "5");
  CHECK(parse(R"({"type":"ping","id":-3})").id == "-3");
  CHECK(parse(R"({"type":"ping","id":0})").id == "0");
  CHECK(parse(R"({"type":"ping","id":18446744073709551615})").id == "18446744073709551615");
  CHECK(parse(R"({"type":"ping","id":""})").id == "\"\"");
  CHECK(parse(R"({"type":"ping","id":"a\"b\\c\u0001"})").id == R"("a\"b\\c\u0001")");
  CHECK(parse(R"({"type":"ping"})").id.empty());
  CHECK(parse(R"({"type":"ping","id":")" + std::string(64, 'x') + "\"}").id.size() == 66);
  // 64 two-byte characters are 64 code points, not 128.
  std::string accents;
  for (int i = 0; i < 64; ++i) accents += "é";
  CHECK(parse(R"({"type":"ping","id":")" + accents + "\"}").id == "\"" + accents + "\"");
}

TEST_CASE("parse: an invalid id is refused naming id, without id and type in the result",
          "[protocol][parse]") {
  const std::vector<ErrorCase> cases = {
      {R"({"type":"ping","id":{}})", ErrorCode::bad_request, "id: must be a string or an integer"},
      {R"({"type":"ping","id":[1]})", ErrorCode::bad_request, "id: must be a string or an integer"},
      {R"({"type":"ping","id":1.5})", ErrorCode::bad_request, "id: must be a string or an integer"},
      {R"({"type":"ping","id":1.0})", ErrorCode::bad_request, "id: must be a string or an integer"},
      {R"({"type":"ping","id":true})", ErrorCode::bad_request,
       "id: must be a string or an integer"},
      {R"({"type":"ping","id":null})", ErrorCode::bad_request,
       "id: must be a string or an integer"},
      {R"({"type":"ping","id":123456789012345678901234567890})", ErrorCode::bad_request,
       "id: must be a string or an integer"},
      {R"({"type":"ping","id":")" + std::string(65, 'x') + "\"}", ErrorCode::too_large,
       "id: longer than 64 characters"},
  };
  check_errors(cases);
  for (const auto& c : cases) {
    const auto r = parse(c.frame);
    CHECK(r.id.empty());
    CHECK(r.type.empty());
  }
}

TEST_CASE("parse: unknown extra fields are ignored", "[protocol][parse]") {
  request_as<Ping>(parse(R"({"type":"ping","id":1,"extra":{"deep":[1,2,{"x":null}]},"n":1e400})"));
  const auto ack = request_as<Ack>(parse(R"({"zzz":true,"order_id":42,"type":"ack"})"));
  CHECK(ack.order_id == 42);
}

TEST_CASE("parse: a body error keeps the id and the type", "[protocol][parse]") {
  const auto r = parse(R"({"type":"ack","id":"a1","order_id":0})");
  check_error(r, ErrorCode::bad_request, "order_id: must be a positive integer");
  CHECK(r.id == "\"a1\"");
  CHECK(r.type == "ack");
}

// ---- hello ------------------------------------------------------------------

TEST_CASE("parse: hello carries session, token and client", "[protocol][parse]") {
  const auto r = parse(
      R"({"type":"hello","id":1,"session":"kitchen-1","token":"s3cret","client":"odoo-pos/17.0"})");
  CHECK(r.id == "1");
  const auto hello = request_as<Hello>(r);
  CHECK(hello.session == "kitchen-1");
  CHECK(hello.token == "s3cret");
  CHECK(hello.client == "odoo-pos/17.0");
}

TEST_CASE("parse: hello with missing or non-string credentials leaves them empty",
          "[protocol][parse]") {
  const auto missing = request_as<Hello>(parse(R"({"type":"hello"})"));
  CHECK(missing.session.empty());
  CHECK(missing.token.empty());
  CHECK(missing.client.empty());
  const auto wrong = request_as<Hello>(parse(R"({"type":"hello","session":5,"token":["x"]})"));
  CHECK(wrong.session.empty());
  CHECK(wrong.token.empty());
}

TEST_CASE("parse: hello.client must be a string within max_text_chars", "[protocol][parse]") {
  Limits limits;
  limits.max_text_chars = 5;
  request_as<Hello>(parse(R"({"type":"hello","client":"ñññññ"})", limits));
  request_as<Hello>(parse(R"({"type":"hello","client":null})", limits));
  check_errors({{R"({"type":"hello","client":"123456"})", ErrorCode::too_large,
                 "client: longer than 5 characters"},
                {R"({"type":"hello","client":7})", ErrorCode::bad_request, "client:"}},
               limits);
}

// ---- ack / deliver / cancel / reject -------------------------------------------

TEST_CASE("parse: ack, deliver and cancel need a positive integer order_id", "[protocol][parse]") {
  CHECK(request_as<Ack>(parse(R"({"type":"ack","order_id":42})")).order_id == 42);
  CHECK(request_as<Deliver>(parse(R"({"type":"deliver","id":6,"order_id":42})")).order_id == 42);
  CHECK(request_as<Cancel>(parse(R"({"type":"cancel","id":8,"order_id":9223372036854775807})"))
            .order_id == 9223372036854775807);
  for (std::string type : {"ack", "deliver", "cancel", "reject"}) {
    for (std::string bad :
         {R"(,"order_id":0)", R"(,"order_id":-1)", R"(,"order_id":42.0)", R"(,"order_id":4.2e1)",
          R"(,"order_id":"42")", R"(,"order_id":null)", "", R"(,"order_id":9223372036854775808)",
          R"(,"order_id":123456789012345678901234567890)"}) {
      const std::string frame = R"({"type":")" + type + "\"" + bad + "}";
      CAPTURE(frame);
      const auto r = parse(frame);
      check_error(r, ErrorCode::bad_request, "order_id: must be a positive integer");
      CHECK(r.type == type);
    }
  }
}

TEST_CASE("parse: reject takes an optional reason, a string or null of at most max_reason_chars",
          "[protocol][parse]") {
  const auto no_reason = request_as<Reject>(parse(R"({"type":"reject","id":7,"order_id":42})"));
  CHECK(no_reason.order_id == 42);
  CHECK_FALSE(no_reason.reason.has_value());
  CHECK_FALSE(request_as<Reject>(parse(R"({"type":"reject","order_id":42,"reason":null})"))
                  .reason.has_value());
  CHECK(request_as<Reject>(parse(R"({"type":"reject","order_id":42,"reason":"out of stock"})"))
            .reason == "out of stock");
  std::string reason1000;
  for (int i = 0; i < 1000; ++i) reason1000 += "é";
  CHECK(
      request_as<Reject>(parse(R"({"type":"reject","order_id":1,"reason":")" + reason1000 + "\"}"))
          .reason == reason1000);
  check_errors({
      {R"({"type":"reject","order_id":1,"reason":")" + reason1000 + "x\"}", ErrorCode::too_large,
       "reason: longer than 1000 characters"},
      {R"({"type":"reject","order_id":1,"reason":5})", ErrorCode::bad_request,
       "reason: must be a string or null"},
  });
}

// ---- list ---------------------------------------------------------------------

TEST_CASE("parse: list defaults to the inbox, the box's statuses, limit 100, no cursor",
          "[protocol][parse]") {
  const auto list = request_as<List>(parse(R"({"type":"list","id":5})"));
  CHECK(list.box == Box::inbox);
  CHECK(list.statuses.empty());
  CHECK(list.limit == 100);
  CHECK_FALSE(list.before.has_value());
  Limits limits;
  limits.default_list_limit = 25;
  CHECK(request_as<List>(parse(R"({"type":"list"})", limits)).limit == 25);
  const auto nulls = request_as<List>(
      parse(R"({"type":"list","box":null,"status":null,"limit":null,"before":null})"));
  CHECK(nulls.box == Box::inbox);
  CHECK(nulls.limit == 100);
}

TEST_CASE("parse: list reads box, status, limit and before", "[protocol][parse]") {
  const auto list = request_as<List>(parse(
      R"({"type":"list","id":5,"box":"outbox","status":["sent","received","sent","taken"],"limit":500,"before":120})"));
  CHECK(list.box == Box::outbox);
  CHECK(list.statuses == std::vector<Status>{Status::sent, Status::received, Status::taken});
  CHECK(list.limit == 500);
  CHECK(list.before == 120);
  CHECK(request_as<List>(parse(R"({"type":"list","box":"inbox","limit":1})")).limit == 1);
}

TEST_CASE("parse: list refuses a bad box, status, limit or before naming the field",
          "[protocol][parse]") {
  check_errors({
      {R"({"type":"list","box":"trash"})", ErrorCode::bad_request,
       "box: must be \"inbox\" or \"outbox\""},
      {R"({"type":"list","box":1})", ErrorCode::bad_request, "box:"},
      {R"({"type":"list","status":"sent"})", ErrorCode::bad_request, "status: must be an array"},
      {R"({"type":"list","status":["sent","lost"]})", ErrorCode::bad_request,
       R"(status[1]: unknown status "lost")"},
      {R"({"type":"list","status":[3]})", ErrorCode::bad_request,
       "status[0]: must be a status name"},
      {R"({"type":"list","limit":0})", ErrorCode::bad_request,
       "limit: must be an integer from 1 to 500"},
      {R"({"type":"list","limit":-5})", ErrorCode::bad_request, "limit:"},
      {R"({"type":"list","limit":2.5})", ErrorCode::bad_request, "limit:"},
      {R"({"type":"list","limit":10.0})", ErrorCode::bad_request, "limit:"},
      {R"({"type":"list","limit":"10"})", ErrorCode::bad_request, "limit:"},
      {R"({"type":"list","limit":501})", ErrorCode::too_large,
       "limit: must be an integer from 1 to 500"},
      {R"({"type":"list","limit":18446744073709551615})", ErrorCode::too_large, "limit:"},
      {R"({"type":"list","limit":123456789012345678901234567890})", ErrorCode::too_large, "limit:"},
      {R"({"type":"list","before":0})", ErrorCode::bad_request,
       "before: must be a positive integer"},
      {R"({"type":"list","before":1.5})", ErrorCode::bad_request,
       "before: must be a positive integer"},
      {R"({"type":"list","before":"9"})", ErrorCode::bad_request,
       "before: must be a positive integer"},
  });
}

// ---- utf8_length -----------------------------------------------------------------

TEST_CASE("utf8_length counts code points, not bytes", "[protocol][parse]") {
  CHECK(utf8_length("") == 0);
  CHECK(utf8_length("abc") == 3);
  CHECK(utf8_length("é") == 1);
  CHECK(utf8_length("Água com gás") == 12);
  CHECK(utf8_length("日本") == 2);
  CHECK(utf8_length("😀x") == 2);
  CHECK(utf8_length(std::string_view("a\0b", 3)) == 3);
}
