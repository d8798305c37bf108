// parse_request for `send` (PROTOCOL.md §4.2 and clarifications 3, 4, 7, 9, 34).
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

TEST_CASE("parse: send keeps big integers, long decimals and U+0000 of the order exactly",
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


TEST_CASE("parse: a thread parses frame after frame, whatever the frame before it was",
          "[protocol][parse]") {
  // The reader's stack and its nesting bookkeeping are kept per thread between
  // frames: a frame that stopped half-way, one too deep or a very large one
  // must leave nothing behind for the next.
  const auto valid = [] {
    const auto send = request_as<Send>(parse(kValidSend));
    const std::string frame = kValidSend;
    const auto begin = frame.find(R"({"name":"Order)");
    CHECK(send.order_json == frame.substr(begin, frame.size() - 1 - begin));
    CHECK(send.line_count == 2);
  };
  valid();
  check_error(parse(R"({"type":"send","ref":"r","to":["a"],"order":{"lines":[{"name":"x)"),
              ErrorCode::bad_json, "invalid JSON at offset");
  valid();
  Limits shallow;
  shallow.max_depth = 3;
  check_error(parse(R"({"type":"send","ref":"r","to":["a"],"order":{"lines":[{"name":"x"}]}})", shallow),
              ErrorCode::bad_json, "JSON nesting deeper than 3 levels");
  valid();
  const std::string large = R"({"type":"send","ref":"r","to":["a"],"order":{"free":")" +
                            std::string(200 * 1024, 'x') + R"(","lines":[)" + line() + "]}}";
  CHECK(request_as<Send>(parse(large)).order_json.size() > 200 * 1024);
  valid();
}
