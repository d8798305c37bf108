// send: durable reply, push to every receiver, idempotency per (sender, ref),
// validation errors with field paths, roles and receivers.
#include <catch2/catch.hpp>

#include "tests/integration/harness.hpp"

using namespace possync::test;

namespace {

struct SendFixture {
  TestBroker broker;
  std::string counter_token = broker.add_session("counter-1", true, false);
  std::string kitchen_token = broker.add_session("kitchen-1", false, true);
  std::string bar_token = broker.add_session("bar-1", true, true);
  TestClient counter{broker.port(), "counter-1", counter_token};
  TestClient kitchen{broker.port(), "kitchen-1", kitchen_token};
  TestClient bar{broker.port(), "bar-1", bar_token};
  SendFixture() {
    REQUIRE(counter.connect_and_hello().ok());
    REQUIRE(kitchen.connect_and_hello().ok());
    REQUIRE(bar.connect_and_hello().ok());
  }
};

bool is_order(const possync::client::Message& m) { return m.type() == "order"; }

}  // namespace

TEST_CASE_METHOD(SendFixture, "send: the sent reply comes after commit and every receiver gets the push",
                 "[send][concurrency]") {
  auto reply = counter.call(send_json("R-1", {"kitchen-1", "bar-1"}));
  REQUIRE(reply.ok());
  const auto& s = reply.message->doc;
  CHECK(std::string(s["type"].GetString()) == "sent");
  CHECK(s["order_id"].GetInt64() > 0);
  CHECK(std::string(s["ref"].GetString()) == "R-1");
  CHECK(s["duplicate"].GetBool() == false);
  REQUIRE(s["receivers"].Size() == 2);
  CHECK(std::string(s["receivers"][0]["session"].GetString()) == "kitchen-1");
  CHECK(std::string(s["receivers"][0]["status"].GetString()) == "sent");
  std::string created_at = s["created_at"].GetString();
  CHECK(created_at.size() == 24);
  CHECK(created_at.back() == 'Z');

  for (auto* who : {&kitchen, &bar}) {
    auto push = who->wait_push(is_order);
    REQUIRE(push);
    const auto& o = push->doc;
    CHECK(o["order_id"].GetInt64() == s["order_id"].GetInt64());
    CHECK(std::string(o["from"].GetString()) == "counter-1");
    CHECK(std::string(o["from_name"].GetString()) == "counter-1");
    CHECK(std::string(o["mode"].GetString()) == "copy");
    CHECK(std::string(o["status"].GetString()) == "sent");
    CHECK(o["created_at"].GetString() == created_at);
    CHECK(std::string(o["order"]["note"].GetString()) == "no onions");
    CHECK(o["order"]["lines"].Size() == 2);
  }
}

TEST_CASE_METHOD(SendFixture, "send: the same ref again returns the original with duplicate and pushes nothing",
                 "[send]") {
  auto first = counter.call(send_json("R-dup", {"kitchen-1"}));
  REQUIRE(first.ok());
  REQUIRE(kitchen.wait_push(is_order));
  // Another `to` and payload: still the original, not an error.
  auto again = counter.call(send_json("R-dup", {"bar-1"}, "claim", sample_order(5, "other")));
  REQUIRE(again.ok());
  CHECK(again.message->doc["duplicate"].GetBool());
  CHECK(again.message->doc["order_id"].GetInt64() == first.message->doc["order_id"].GetInt64());
  CHECK(std::string(again.message->doc["receivers"][0]["session"].GetString()) == "kitchen-1");
  REQUIRE(kitchen.sync());
  REQUIRE(bar.sync());
  CHECK(kitchen.wait_type("order", std::chrono::milliseconds(0)) == nullptr);
  CHECK(bar.wait_type("order", std::chrono::milliseconds(0)) == nullptr);
}

TEST_CASE_METHOD(SendFixture, "send: order ids strictly increase", "[send]") {
  std::int64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    auto r = counter.call(send_json("R-inc-" + std::to_string(i), {"kitchen-1"}));
    REQUIRE(r.ok());
    auto id = r.message->doc["order_id"].GetInt64();
    CHECK(id > last);
    last = id;
  }
}

TEST_CASE_METHOD(SendFixture, "send: the order comes back verbatim (big integers, long decimals, NUL escapes, free fields)",
                 "[send]") {
  std::string order =
      R"({"lines":[{"product_id":"sku-77","name":"Água com gás","qty":1,"price_unit":2.0,"x":123456789012345678901234567890}],)"
      R"("pricelist":{"id":3},"d":0.1000000000000000000000001,"z":"a\u0000b","inf":1e400})";
  auto r = counter.call(R"({"type":"send","ref":"R-verb","to":["kitchen-1"],"order":)" + order + "}");
  REQUIRE(r.ok());
  auto push = kitchen.wait_push(is_order);
  REQUIRE(push);
  for (const char* exact : {"123456789012345678901234567890", "0.1000000000000000000000001", R"("a\u0000b")", "1e400",
                            "Água com gás"}) {
    CHECK(push->text.find(exact) != std::string::npos);
  }
}

TEST_CASE_METHOD(SendFixture, "send: validation errors name the field path and keep the connection", "[send]") {
  struct Case {
    std::string request;
    std::string code;
    std::string path;
  };
  std::string line_ok = R"({"product_id":1,"name":"a","qty":1,"price_unit":1})";
  auto with_lines = [&](const std::string& bad_line) {
    return R"({"type":"send","ref":"R-v","to":["kitchen-1"],"order":{"lines":[)" + line_ok + "," + line_ok + "," +
           bad_line + "]}}";
  };
  std::vector<Case> cases = {
      {with_lines(R"({"product_id":1,"name":"a","qty":0,"price_unit":1})"), "bad_request", "order.lines[2].qty"},
      {with_lines(R"({"product_id":1,"name":"a","qty":"2","price_unit":1})"), "bad_request", "order.lines[2].qty"},
      {with_lines(R"({"product_id":1,"name":"a","qty":1e400,"price_unit":1})"), "bad_request", "order.lines[2].qty"},
      {with_lines(R"({"product_id":3.0,"name":"a","qty":1,"price_unit":1})"), "bad_request",
       "order.lines[2].product_id"},
      {with_lines(R"({"product_id":1,"name":"a","qty":1,"price_unit":1,"discount":101})"), "bad_request",
       "order.lines[2].discount"},
      {with_lines(R"({"product_id":1,"qty":1,"price_unit":1})"), "bad_request", "order.lines[2].name"},
      {R"({"type":"send","to":["kitchen-1"],"order":{"lines":[)" + line_ok + "]}}", "bad_request", "ref"},
      {R"({"type":"send","ref":"","to":["kitchen-1"],"order":{"lines":[)" + line_ok + "]}}", "bad_request", "ref"},
      {R"({"type":"send","ref":")" + std::string(129, 'r') + R"(","to":["kitchen-1"],"order":{"lines":[)" + line_ok +
           "]}}",
       "too_large", "ref"},
      {R"({"type":"send","ref":"R","to":[],"order":{"lines":[)" + line_ok + "]}}", "bad_request", "to"},
      {R"({"type":"send","ref":"R","to":["kitchen-1","kitchen-1"],"order":{"lines":[)" + line_ok + "]}}",
       "bad_request", "to[1]"},
      {R"({"type":"send","ref":"R","to":["kitchen-1"],"mode":"first","order":{"lines":[)" + line_ok + "]}}",
       "bad_request", "mode"},
      {R"({"type":"send","ref":"R","to":["kitchen-1"],"order":{"lines":[]}})", "bad_request", "order.lines"},
      {R"({"type":"send","ref":"R","to":["kitchen-1"],"order":[1]})", "bad_request", "order"},
      {R"({"type":"send","ref":"R","to":["kitchen-1"],"order":{"customer":{"id":1.5,"name":"x"},"lines":[)" + line_ok +
           "]}}",
       "bad_request", "order.customer.id"},
  };
  for (const auto& c : cases) {
    INFO(c.request);
    auto r = counter.call(c.request);
    REQUIRE(r.message);
    CHECK(r.message->error_code() == c.code);
    CHECK(r.message->string_field("message").rfind(c.path + ":", 0) == 0);
  }
  // Too many receivers and too many lines.
  std::vector<std::string> many;
  for (int i = 0; i < 65; ++i) many.push_back("r-" + std::to_string(i));
  auto r = counter.call(send_json("R-many", many));
  REQUIRE(r.message);
  CHECK(r.message->error_code() == "too_large");
  std::string lines;
  for (int i = 0; i < 1001; ++i) lines += (i ? "," : "") + line_ok;
  r = counter.call(R"({"type":"send","ref":"R-lines","to":["kitchen-1"],"order":{"lines":[)" + lines + "]}}");
  REQUIRE(r.message);
  CHECK(r.message->error_code() == "too_large");
  CHECK(r.message->string_field("message").rfind("order.lines:", 0) == 0);
  CHECK(counter.call(send_json("R-after", {"kitchen-1"})).ok());
}

TEST_CASE_METHOD(SendFixture, "send: unknown, non-receiver and other-shop receivers are not_found naming them",
                 "[send]") {
  broker.add_session("kitchen-9", false, true, "shop-b");
  broker.add_session("counter-2", true, false);
  for (const char* to : {"nobody", "counter-2", "kitchen-9"}) {
    auto r = counter.call(send_json(std::string("R-nf-") + to, {"kitchen-1", to}));
    REQUIRE(r.message);
    CHECK(r.message->error_code() == "not_found");
    CHECK(r.message->string_field("message").find(to) != std::string::npos);
  }
  REQUIRE(kitchen.sync());
  CHECK(kitchen.wait_type("order", std::chrono::milliseconds(0)) == nullptr);  // nothing half-sent
}

TEST_CASE_METHOD(SendFixture, "send: a session without the sender role is forbidden", "[send]") {
  auto r = kitchen.call(send_json("R-f", {"bar-1"}));
  REQUIRE(r.message);
  CHECK(r.message->error_code() == "forbidden");
}

TEST_CASE_METHOD(SendFixture, "send: the sender itself is not an allowed receiver", "[send]") {
  auto r = bar.call(send_json("R-self", {"bar-1"}));
  REQUIRE(r.message);
  CHECK(r.message->error_code() == "bad_request");
}
