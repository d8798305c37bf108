// parse_request: the envelope (PROTOCOL.md §3), every request body (§4) and
// the clarifications of §7 that concern validation.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "protocol/requests.hpp"

using namespace possync::protocol;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;

namespace {

ParseResult parse(std::string_view frame, const Limits& limits = Limits{}) {
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

void check_error(const ParseResult& r, ErrorCode code, std::string_view message) {
  REQUIRE(r.error.has_value());
  CHECK_FALSE(r.request.has_value());
  CHECK(to_string(r.error->code) == to_string(code));
  CHECK_THAT(r.error->message, StartsWith(std::string(message)));
}

void check_errors(const std::vector<ErrorCase>& cases, const Limits& limits = Limits{}) {
  for (const auto& c : cases) {
    CAPTURE(c.frame);
    check_error(parse(c.frame, limits), c.code, c.message);
  }
}

// A valid order line; each override replaces (or adds) a field, an empty
// value removes it.
std::string line(std::vector<std::pair<std::string, std::string>> overrides = {}) {
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

std::string send_frame(const std::string& order_members,
                       const std::string& envelope = R"("ref":"r1","to":["kitchen-1"])") {
  return R"({"type":"send","id":"c7",)" + envelope + R"(,"order":{)" + order_members + "}}";
}

// A send whose order has the given lines (a JSON array body) and extra members.
std::string send_lines(const std::string& lines, const std::string& order_extra = "") {
  return send_frame(order_extra + R"("lines":[)" + lines + "]");
}

std::string repeat_joined(const std::string& item, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += (i ? "," : "") + item;
  return out;
}

const std::string kValidSend =
    R"({"type":"send","id":"c7","ref":"Order 00012-003-0004","to":["kitchen-1","bar-2"],"mode":"copy",)"
    R"("order":{"name":"Order 00012-003-0004","table":"T4","note":"no onions",)"
    R"("customer":{"id":88,"name":"Ana Souza","phone":"+55 11 5555-0100"},)"
    R"("lines":[{"product_id":31,"name":"Margherita","qty":2,"price_unit":9.5,"discount":10,"note":"extra basil"},)"
    R"({"product_id":"sku-77","name":"Água com gás","qty":1,"price_unit":2.0}]}})";

}  // namespace

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

// ---- send -------------------------------------------------------------------

TEST_CASE("parse: the protocol's send example parses with its order kept verbatim",
          "[protocol][parse]") {
  const auto r = parse(kValidSend);
  CHECK(r.id == "\"c7\"");
  CHECK(r.type == "send");
  const auto send = request_as<Send>(r);
  CHECK(send.ref == "Order 00012-003-0004");
  CHECK(send.to == std::vector<std::string>{"kitchen-1", "bar-2"});
  CHECK(send.mode == Mode::copy);
  CHECK(send.line_count == 2);
  const std::string frame = kValidSend;
  const auto begin = frame.find(R"({"name":"Order)");
  CHECK(send.order_json == frame.substr(begin, frame.size() - 1 - begin));
}

TEST_CASE("parse: send keeps big integers, long decimals and \\u0000 of the order exactly",
          "[protocol][parse]") {
  const std::string order =
      R"({"big":123456789012345678901234567890,"d":0.1000000000000000000000001,"z":"a\u0000b",)"
      R"("huge":1e400,"tiny":-1E-400,"lines":[{"product_id":1,"name":"x","qty":1,"price_unit":2,)"
      R"("free":-123456789012345678901234567890.5e+999}]})";
  const auto send =
      request_as<Send>(parse(R"({"type":"send","ref":"r","to":["a"],"order":)" + order + "}"));
  CHECK(send.order_json == order);
  CHECK_THAT(send.order_json, Contains("123456789012345678901234567890"));
  CHECK_THAT(send.order_json, Contains("0.1000000000000000000000001"));
  CHECK_THAT(send.order_json, Contains(R"("a\u0000b")"));
}

TEST_CASE("parse: the order range is the top-level order member, whatever surrounds it",
          "[protocol][parse]") {
  const std::string order = "{ \"lines\" : [ " + line() + " ] ,\n \"order\":{\"x\":1} }";
  const std::string frame = R"({"meta":{"order":{"lines":[]}},"type":"send","order" :)"
                            "\n  " +
                            order + R"(  ,"ref":"r","to":["a"],"x":{"order":5}})";
  CHECK(request_as<Send>(parse(frame)).order_json == order);
  // A repeated top-level key: the first one is validated and kept.
  const std::string first = "{\"lines\":[" + line() + "],\"n\":1}";
  const std::string dup =
      R"({"type":"send","ref":"r","to":["a"],"order":)" + first + R"(,"order":{"lines":[]}})";
  CHECK(request_as<Send>(parse(dup)).order_json == first);
}

TEST_CASE("parse: send.mode is copy by default, claim when asked, nothing else",
          "[protocol][parse]") {
  CHECK(request_as<Send>(parse(send_lines(line()))).mode == Mode::copy);
  CHECK(request_as<Send>(parse(send_frame(R"("lines":[)" + line() + "]",
                                          R"("ref":"r","to":["a"],"mode":"claim")")))
            .mode == Mode::claim);
  for (std::string mode : {R"("Claim")", "1", "[]"}) {
    check_error(
        parse(send_frame(R"("lines":[)" + line() + "]", R"("ref":"r","to":["a"],"mode":)" + mode)),
        ErrorCode::bad_request, "mode:");
  }
}

TEST_CASE("parse: send.ref must be 1 to max_ref_chars code points", "[protocol][parse]") {
  const std::string lines = R"("lines":[)" + line() + "]";
  const auto with_ref = [&](const std::string& ref) {
    return send_frame(lines, ref + R"("to":["a"])");
  };
  std::string ref128;
  for (int i = 0; i < 128; ++i) ref128 += "ç";
  CHECK(request_as<Send>(parse(with_ref(R"("ref":")" + ref128 + "\","))).ref == ref128);
  check_errors({
      {with_ref(""), ErrorCode::bad_request, "ref: is required"},
      {with_ref(R"("ref":12,)"), ErrorCode::bad_request, "ref: must be a string"},
      {with_ref(R"("ref":null,)"), ErrorCode::bad_request, "ref: must be a string"},
      {with_ref(R"("ref":"",)"), ErrorCode::bad_request, "ref: must not be empty"},
      {with_ref(R"("ref":")" + ref128 + "x\","), ErrorCode::too_large,
       "ref: longer than 128 characters"},
  });
}

TEST_CASE("parse: send.to must hold 1 to max_receivers distinct session ids", "[protocol][parse]") {
  const std::string lines = R"("lines":[)" + line() + "]";
  const auto with_to = [&](const std::string& to) {
    return send_frame(lines, R"("ref":"r")" + to);
  };
  std::vector<std::string> ids;
  std::string to64;
  for (int i = 0; i < 64; ++i) {
    ids.push_back("pos-" + std::to_string(i));
    to64 += (i ? ",\"" : "\"") + ids.back() + "\"";
  }
  CHECK(request_as<Send>(parse(with_to(",\"to\":[" + to64 + "]"))).to == ids);
  check_errors({
      {with_to(""), ErrorCode::bad_request, "to: is required"},
      {with_to(R"(,"to":"kitchen-1")"), ErrorCode::bad_request, "to: must be an array"},
      {with_to(R"(,"to":[])"), ErrorCode::bad_request, "to: must have at least 1 receiver"},
      {with_to(",\"to\":[" + to64 + ",\"one-more\"]"), ErrorCode::too_large,
       "to: more than 64 receivers"},
      {with_to(R"(,"to":["a",7])"), ErrorCode::bad_request, "to[1]: must be a session id"},
      {with_to(R"(,"to":["-bad"])"), ErrorCode::bad_request,
       R"(to[0]: not a valid session id: "-bad")"},
      {with_to(R"(,"to":["a b"])"), ErrorCode::bad_request, "to[0]: not a valid session id"},
      {with_to(R"(,"to":["a","b","a"])"), ErrorCode::bad_request,
       R"(to[2]: duplicate receiver "a")"},
  });
}

TEST_CASE("parse: send.order must be an object with 1 to max_lines lines", "[protocol][parse]") {
  const std::string head = R"({"type":"send","ref":"r","to":["a"])";
  const auto many = [](std::size_t n) { return repeat_joined(line(), n); };
  CHECK(request_as<Send>(parse(send_lines(many(1000)))).line_count == 1000);
  check_errors({
      {head + "}", ErrorCode::bad_request, "order: is required"},
      {head + R"(,"order":[]})", ErrorCode::bad_request, "order: must be an object"},
      {head + R"(,"order":"x"})", ErrorCode::bad_request, "order: must be an object"},
      {head + R"(,"order":null})", ErrorCode::bad_request, "order: must be an object"},
      {head + R"(,"order":{}})", ErrorCode::bad_request, "order.lines: is required"},
      {head + R"(,"order":{"lines":{}}})", ErrorCode::bad_request, "order.lines: must be an array"},
      {send_lines(""), ErrorCode::bad_request, "order.lines: must have at least 1 line"},
      {send_lines(many(1001)), ErrorCode::too_large, "order.lines: more than 1000 lines"},
      {send_lines(line() + ",5"), ErrorCode::bad_request, "order.lines[1]: must be an object"},
  });
}

TEST_CASE("parse: line_count is the number of order lines", "[protocol][parse]") {
  CHECK(request_as<Send>(parse(send_lines(line()))).line_count == 1);
  CHECK(request_as<Send>(parse(send_lines(repeat_joined(line(), 7)))).line_count == 7);
}

TEST_CASE("parse: product_id is an integer literal or a string", "[protocol][parse]") {
  for (std::string ok : {"31", "-4", "0", "18446744073709551615", R"("sku-77")", R"("")"}) {
    CAPTURE(ok);
    request_as<Send>(parse(send_lines(line({{"product_id", ok}}))));
  }
  const std::string path = "order.lines[1].product_id: ";
  const auto second = [](const std::string& v) {
    return send_lines(line() + "," + line({{"product_id", v}}));
  };
  check_errors({
      {second("3.0"), ErrorCode::bad_request, path + "must be an integer or a string"},
      {second("1e2"), ErrorCode::bad_request, path + "must be an integer or a string"},
      {second("true"), ErrorCode::bad_request, path + "must be an integer or a string"},
      {second("null"), ErrorCode::bad_request, path + "must be an integer or a string"},
      {second("{}"), ErrorCode::bad_request, path + "must be an integer or a string"},
      {second(""), ErrorCode::bad_request, path + "is required"},
      {second("123456789012345678901234567890"), ErrorCode::bad_request,
       path + "integer beyond 64 bits"},
  });
}

TEST_CASE("parse: a line name is a required string within max_text_chars", "[protocol][parse]") {
  Limits limits;
  limits.max_text_chars = 4;
  request_as<Send>(parse(send_lines(line({{"name", R"("ÀÀÀÀ")"}})), limits));
  request_as<Send>(parse(send_lines(line({{"name", R"("")"}})), limits));
  check_errors({{send_lines(line({{"name", ""}})), ErrorCode::bad_request,
                 "order.lines[0].name: is required"},
                {send_lines(line({{"name", "5"}})), ErrorCode::bad_request,
                 "order.lines[0].name: must be a string"},
                {send_lines(line({{"name", "null"}})), ErrorCode::bad_request,
                 "order.lines[0].name: must be a string"},
                {send_lines(line({{"name", R"("abcde")"}})), ErrorCode::too_large,
                 "order.lines[0].name: longer than 4 characters"}},
               limits);
}

TEST_CASE("parse: qty is a finite non-zero number", "[protocol][parse]") {
  for (std::string ok : {"1", "-1", "0.5", "2.5e1", "123456789012345678901234567890"}) {
    CAPTURE(ok);
    request_as<Send>(parse(send_lines(line({{"qty", ok}}))));
  }
  const auto third = [](const std::string& v) {
    return send_lines(line() + "," + line() + "," + line({{"qty", v}}));
  };
  for (std::string zero : {"0", "0.0", "-0", "0e5", "1e-400"}) {
    CAPTURE(zero);
    const auto r = parse(third(zero));
    REQUIRE(r.error.has_value());
    CHECK(r.error->code == ErrorCode::bad_request);
    CHECK_THAT(r.error->message, Equals("order.lines[2].qty: must be a non-zero number"));
  }
  check_errors({
      {third(R"("2")"), ErrorCode::bad_request, "order.lines[2].qty: must be a non-zero number"},
      {third("null"), ErrorCode::bad_request, "order.lines[2].qty: must be a non-zero number"},
      {third(""), ErrorCode::bad_request, "order.lines[2].qty: is required"},
      {third("1e400"), ErrorCode::bad_request, "order.lines[2].qty: must be a finite number"},
      {third("-1e400"), ErrorCode::bad_request, "order.lines[2].qty: must be a finite number"},
      {third("1" + std::string(400, '0')), ErrorCode::bad_request,
       "order.lines[2].qty: must be a finite number"},
  });
}

TEST_CASE("parse: price_unit is a finite number, zero and negative allowed", "[protocol][parse]") {
  for (std::string ok : {"0", "-3.5", "9.5", "1e300"}) {
    CAPTURE(ok);
    request_as<Send>(parse(send_lines(line({{"price_unit", ok}}))));
  }
  check_errors({
      {send_lines(line({{"price_unit", ""}})), ErrorCode::bad_request,
       "order.lines[0].price_unit: is required"},
      {send_lines(line({{"price_unit", R"("9.5")"}})), ErrorCode::bad_request,
       "order.lines[0].price_unit: must be a number"},
      {send_lines(line({{"price_unit", "1e400"}})), ErrorCode::bad_request,
       "order.lines[0].price_unit: must be a finite number"},
      {send_lines(line({{"price_unit", "-1.5E+309"}})), ErrorCode::bad_request,
       "order.lines[0].price_unit: must be a finite number"},
  });
}

TEST_CASE("parse: discount is optional, null means absent, else a finite number 0 to 100",
          "[protocol][parse]") {
  for (std::string ok : {"", "null", "0", "100", "12.5", "1e2"}) {
    CAPTURE(ok);
    request_as<Send>(parse(send_lines(line({{"discount", ok}}))));
  }
  const std::string path = "order.lines[0].discount: ";
  check_errors({
      {send_lines(line({{"discount", "-1"}})), ErrorCode::bad_request,
       path + "must be between 0 and 100"},
      {send_lines(line({{"discount", "100.01"}})), ErrorCode::bad_request,
       path + "must be between 0 and 100"},
      {send_lines(line({{"discount", R"("10")"}})), ErrorCode::bad_request,
       path + "must be a number or null"},
      {send_lines(line({{"discount", "1e400"}})), ErrorCode::bad_request,
       path + "must be a finite number"},
  });
}

TEST_CASE("parse: a line note is a string or null within max_text_chars", "[protocol][parse]") {
  Limits limits;
  limits.max_text_chars = 3;
  const auto with_note = [](const std::string& note) {
    return send_lines(line({{"name", R"("n")"}, {"note", note}}));
  };
  for (std::string ok : {"", "null", R"("abc")"}) {
    request_as<Send>(parse(with_note(ok), limits));
  }
  check_errors(
      {{with_note("1"), ErrorCode::bad_request, "order.lines[0].note: must be a string or null"},
       {with_note(R"("abcd")"), ErrorCode::too_large,
        "order.lines[0].note: longer than 3 characters"}},
      limits);
}

TEST_CASE("parse: order.customer is null or an object with an id and a name", "[protocol][parse]") {
  Limits limits;
  limits.max_text_chars = 3;
  const auto with_customer = [](const std::string& c) {
    return send_lines(line({{"name", R"("n")"}}), R"("customer":)" + c + ",");
  };
  for (std::string ok :
       {"null", R"({"id":88,"name":"Ana"})", R"({"id":"c-1","name":"","phone":"+55"})"}) {
    CAPTURE(ok);
    request_as<Send>(parse(with_customer(ok), limits));
  }
  check_errors(
      {
          {with_customer(R"("Ana")"), ErrorCode::bad_request,
           "order.customer: must be an object or null"},
          {with_customer(R"({"name":"Ana"})"), ErrorCode::bad_request,
           "order.customer.id: is required"},
          {with_customer(R"({"id":3.0,"name":"Ana"})"), ErrorCode::bad_request,
           "order.customer.id: must be an integer or a string"},
          {with_customer(R"({"id":null,"name":"Ana"})"), ErrorCode::bad_request,
           "order.customer.id:"},
          {with_customer(R"({"id":123456789012345678901234567890,"name":"A"})"),
           ErrorCode::bad_request, "order.customer.id: integer beyond 64 bits"},
          {with_customer(R"({"id":1})"), ErrorCode::bad_request,
           "order.customer.name: is required"},
          {with_customer(R"({"id":1,"name":2})"), ErrorCode::bad_request,
           "order.customer.name: must be a string"},
          {with_customer(R"({"id":1,"name":"Anna"})"), ErrorCode::too_large,
           "order.customer.name: longer than 3 characters"},
      },
      limits);
}

TEST_CASE("parse: order.name and order.note are strings or null within max_text_chars",
          "[protocol][parse]") {
  Limits limits;
  limits.max_text_chars = 3;
  for (std::string field : {"name", "note"}) {
    CAPTURE(field);
    const auto with = [&](const std::string& v) {
      return send_lines(line({{"name", R"("n")"}}), "\"" + field + "\":" + v + ",");
    };
    request_as<Send>(parse(with("null"), limits));
    request_as<Send>(parse(with(R"("abc")"), limits));
    check_error(parse(with("5"), limits), ErrorCode::bad_request,
                "order." + field + ": must be a string or null");
    check_error(parse(with(R"("abcd")"), limits), ErrorCode::too_large,
                "order." + field + ": longer than 3");
  }
}

TEST_CASE("parse: free order and line fields may hold anything", "[protocol][parse]") {
  const auto send = request_as<Send>(parse(send_lines(
      line({{"pricelist", R"({"id":[1,2,{"x":1e999}]})"}, {"tax", "1e400"}, {"flag", "null"}}),
      R"("table":"T4","guests":4,"pricelist":null,"custom":{"a":[true,false]},)")));
  CHECK_THAT(send.order_json, Contains(R"("tax":1e400)"));
  CHECK_THAT(send.order_json, Contains(R"("x":1e999)"));
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
