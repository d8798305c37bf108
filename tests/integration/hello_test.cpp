// hello, welcome, the directory, ping, and every way a hello can fail.
#include <catch2/catch.hpp>

#include "broker/config.hpp"
#include "tests/integration/harness.hpp"

using namespace possync::test;

namespace {

struct ShopFixture {
  TestBroker broker;
  std::string counter = broker.add_session("counter-1", true, false);
  std::string kitchen = broker.add_session("kitchen-1", false, true);
  std::string bar = broker.add_session("bar-1", true, true);
};

const rapidjson::Value* find_session(const rapidjson::Value& list, const std::string& id) {
  for (const auto& s : list.GetArray()) {
    if (s["session"].GetString() == id) return &s;
  }
  return nullptr;
}

}  // namespace

TEST_CASE_METHOD(ShopFixture, "hello: welcome carries the session, limits and the shop directory", "[hello]") {
  TestClient bar_client(broker.port(), "bar-1", bar);
  REQUIRE(bar_client.connect_and_hello().ok());

  TestClient k(broker.port(), "kitchen-1", kitchen);
  auto reply = k.connect_and_hello();
  REQUIRE(reply.ok());
  const auto& w = reply.message->doc;
  CHECK(std::string(w["type"].GetString()) == "welcome");
  CHECK(std::string(w["session"].GetString()) == "kitchen-1");
  CHECK(std::string(w["name"].GetString()) == "kitchen-1");
  CHECK(std::string(w["shop"].GetString()) == "main");
  CHECK(w["sender"].GetBool() == false);
  CHECK(w["receiver"].GetBool() == true);
  CHECK(w["protocol"].GetInt() == 1);
  CHECK(w["heartbeat_ms"].GetInt() == 15000);
  CHECK(w["max_message_bytes"].GetInt() == 262144);
  REQUIRE(w["sessions"].IsArray());
  CHECK(w["sessions"].Size() == 3);  // every session of the shop, the caller included
  auto* self = find_session(w["sessions"], "kitchen-1");
  REQUIRE(self);
  CHECK((*self)["online"].GetBool());
  auto* b = find_session(w["sessions"], "bar-1");
  REQUIRE(b);
  CHECK((*b)["online"].GetBool());
  CHECK((*b)["sender"].GetBool());
  auto* c = find_session(w["sessions"], "counter-1");
  REQUIRE(c);
  CHECK_FALSE((*c)["online"].GetBool());
  CHECK_FALSE(c->HasMember("token"));
}

TEST_CASE_METHOD(ShopFixture, "hello: the reply echoes string and integer ids", "[hello]") {
  TestClient k(broker.port(), "kitchen-1", kitchen);
  REQUIRE(k.connect());
  k.send_text(R"({"type":"hello","id":"h-1","session":"kitchen-1","token":")" + kitchen + R"("})");
  auto welcome = k.next_push();  // sent raw, so the reply arrives as an uncorrelated message
  REQUIRE(welcome);
  CHECK(welcome->type() == "welcome");
  CHECK(std::string(welcome->doc["id"].GetString()) == "h-1");
  auto pong = k.call(R"({"type":"ping"})");
  REQUIRE(pong.ok());
  CHECK(pong.message->type() == "pong");
  CHECK(pong.message->doc["id"].IsInt64());
}

TEST_CASE_METHOD(ShopFixture, "hello: a wrong token gets unauthorized and close 4401", "[hello]") {
  TestClient k(broker.port(), "kitchen-1", "not-the-token");
  auto reply = k.connect_and_hello();
  REQUIRE(reply.message);
  CHECK(reply.message->error_code() == "unauthorized");
  CHECK(k.wait_closed().value_or(-1) == 4401);
}

TEST_CASE_METHOD(ShopFixture, "hello: an unknown session gets unauthorized and close 4401", "[hello]") {
  TestClient k(broker.port(), "nobody", kitchen);
  auto reply = k.connect_and_hello();
  REQUIRE(reply.message);
  CHECK(reply.message->error_code() == "unauthorized");
  CHECK(k.wait_closed().value_or(-1) == 4401);
}

TEST_CASE_METHOD(ShopFixture, "hello: without session or token gets unauthorized and close 4401", "[hello]") {
  TestClient k(broker.port(), "kitchen-1", kitchen);
  REQUIRE(k.connect());
  auto reply = k.call(R"({"type":"hello","session":"kitchen-1"})");
  REQUIRE(reply.message);
  CHECK(reply.message->error_code() == "unauthorized");
  CHECK(k.wait_closed().value_or(-1) == 4401);
}

TEST_CASE_METHOD(ShopFixture, "hello: every request before hello, ping included, is unauthorized and the connection stays",
                 "[hello]") {
  TestClient k(broker.port(), "kitchen-1", kitchen);
  REQUIRE(k.connect());
  for (const char* req : {R"({"type":"ping"})", R"({"type":"list"})", R"({"type":"sessions"})",
                          R"({"type":"deliver","order_id":1})"}) {
    auto reply = k.call(req);
    REQUIRE(reply.message);
    CHECK(reply.message->error_code() == "unauthorized");
  }
  CHECK(k.raw().hello_sync().ok());
  CHECK(k.call(R"({"type":"ping"})").ok());
}

TEST_CASE_METHOD(ShopFixture, "hello: a second hello is bad_request and the session stays as it was", "[hello]") {
  TestClient k(broker.port(), "kitchen-1", kitchen);
  REQUIRE(k.connect_and_hello().ok());
  auto again = k.call(R"({"type":"hello","session":"bar-1","token":")" + bar + R"("})");
  REQUIRE(again.message);
  CHECK(again.message->error_code() == "bad_request");
  auto dir = k.call(R"({"type":"sessions"})");
  REQUIRE(dir.ok());
  CHECK(dir.message->type() == "directory");
  auto inbox = k.call(R"({"type":"list"})");
  CHECK(inbox.ok());  // still kitchen-1, a receiver
}

TEST_CASE("hello: no hello in time closes with 4408", "[hello]") {
  TestBroker broker({[](possync::broker::Config& c) { c.hello_timeout_ms = 300; }});
  TestClient k(broker.port(), "x", "y");
  REQUIRE(k.connect());
  CHECK(k.wait_closed().value_or(-1) == 4408);
}

TEST_CASE_METHOD(ShopFixture, "sessions: the directory lists the shop with online flags", "[hello]") {
  TestClient k(broker.port(), "kitchen-1", kitchen);
  REQUIRE(k.connect_and_hello().ok());
  auto dir = k.call(R"({"type":"sessions","id":9})");
  REQUIRE(dir.ok());
  const auto& d = dir.message->doc;
  CHECK(std::string(d["type"].GetString()) == "directory");
  REQUIRE(d["sessions"].Size() == 3);
  CHECK((*find_session(d["sessions"], "kitchen-1"))["online"].GetBool());
  CHECK_FALSE((*find_session(d["sessions"], "bar-1"))["online"].GetBool());
}

TEST_CASE_METHOD(ShopFixture, "ping: an application ping gets pong with the same id", "[hello]") {
  TestClient k(broker.port(), "kitchen-1", kitchen);
  REQUIRE(k.connect_and_hello().ok());
  auto pong = k.call(R"({"type":"ping"})");
  REQUIRE(pong.ok());
  CHECK(pong.message->type() == "pong");
}

TEST_CASE("origins: a browser origin outside --allowed-origins is upgraded, then closed with 1008", "[hello]") {
  TestBroker broker({[](possync::broker::Config& c) { c.allowed_origins = {"https://pos.example"}; }});
  auto token = broker.add_session("kitchen-1", false, true);
  TestClient evil(broker.port(), "kitchen-1", token, "https://evil.example");
  REQUIRE(evil.connect());
  CHECK(evil.wait_closed().value_or(-1) == 1008);
  TestClient good(broker.port(), "kitchen-1", token, "https://pos.example");
  CHECK(good.connect_and_hello().ok());
  TestClient native(broker.port(), "kitchen-1", token);  // no Origin header: not a browser
  CHECK(native.connect_and_hello().ok());
}

TEST_CASE("origins: pages the broker serves itself (same origin as Host) always pass", "[hello]") {
  possync::broker::Config c;
  c.allowed_origins = {"https://pos.example"};
  CHECK(possync::broker::origin_allowed(c, "http://127.0.0.1:8080", "127.0.0.1:8080"));
  CHECK(possync::broker::origin_allowed(c, "https://pos.example", "127.0.0.1:8080"));
  CHECK_FALSE(possync::broker::origin_allowed(c, "http://127.0.0.1:8081", "127.0.0.1:8080"));
  CHECK_FALSE(possync::broker::origin_allowed(c, "http://evil.example", "evil.example.127.0.0.1:8080"));
  CHECK(possync::broker::origin_allowed(c, "", "127.0.0.1:8080"));
}
