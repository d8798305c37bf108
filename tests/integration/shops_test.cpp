// Presence, shops that never see each other, and credentials revoked live.
#include <catch2/catch.hpp>

#include "tests/integration/harness.hpp"

using namespace possync::test;

TEST_CASE("presence: online at the first connection, offline after the last, never to oneself",
          "[shops][concurrency]") {
  TestBroker broker;
  auto k = broker.add_session("kitchen-1", false, true);
  auto b = broker.add_session("bar-1", true, true);
  TestClient watcher(broker.port(), "kitchen-1", k);
  REQUIRE(watcher.connect_and_hello().ok());

  auto bar1 = std::make_unique<TestClient>(broker.port(), "bar-1", b);
  REQUIRE(bar1->connect_and_hello().ok());
  REQUIRE(watcher.wait_push(presence_is("bar-1", true)));
  auto bar2 = std::make_unique<TestClient>(broker.port(), "bar-1", b);
  REQUIRE(bar2->connect_and_hello().ok());
  bar1.reset();  // one connection of bar-1 remains: no offline yet
  REQUIRE(eventually([&] { return broker.connections_of("bar-1") == 1; }));
  // Barrier: a third session's presence arrives after anything sent before it.
  auto c = broker.add_session("counter-1", true, false);
  TestClient counter(broker.port(), "counter-1", c);
  REQUIRE(counter.connect_and_hello().ok());
  auto next = watcher.wait_type("presence");
  REQUIRE(next);
  CHECK(next->string_field("session") == "counter-1");
  bar2.reset();
  auto off = watcher.wait_type("presence");
  REQUIRE(off);
  CHECK(off->string_field("session") == "bar-1");
  CHECK(off->doc["online"].GetBool() == false);
  // The directory agrees.
  auto dir = watcher.call(R"({"type":"sessions"})");
  REQUIRE(dir.ok());
  for (const auto& s : dir.message->doc["sessions"].GetArray()) {
    std::string id = s["session"].GetString();
    CHECK(s["online"].GetBool() == (id != "bar-1"));
  }
  REQUIRE(counter.sync());
  CHECK(counter.wait_push(presence_is("counter-1", true), std::chrono::milliseconds(0)) == nullptr);
}

TEST_CASE("shops: two shops on one broker never see each other's sessions, presence or orders", "[shops]") {
  TestBroker broker;
  auto a_counter = broker.add_session("a-counter", true, false, "shop-a");
  auto a_kitchen = broker.add_session("a-kitchen", false, true, "shop-a");
  auto b_counter = broker.add_session("b-counter", true, false, "shop-b");
  auto b_kitchen = broker.add_session("b-kitchen", false, true, "shop-b");

  TestClient bk(broker.port(), "b-kitchen", b_kitchen);
  auto welcome = bk.connect_and_hello();
  REQUIRE(welcome.ok());
  CHECK(std::string(welcome.message->doc["shop"].GetString()) == "shop-b");
  for (const auto& s : welcome.message->doc["sessions"].GetArray()) {
    CHECK(std::string(s["session"].GetString()).rfind("b-", 0) == 0);
  }
  TestClient ac(broker.port(), "a-counter", a_counter);
  REQUIRE(ac.connect_and_hello().ok());
  TestClient ak(broker.port(), "a-kitchen", a_kitchen);
  REQUIRE(ak.connect_and_hello().ok());
  // shop-a's sender cannot address shop-b's receiver.
  auto cross = ac.call(send_json("X-1", {"b-kitchen"}));
  REQUIRE(cross.message);
  CHECK(cross.message->error_code() == "not_found");
  auto sent = ac.call(send_json("X-2", {"a-kitchen"}));
  REQUIRE(sent.ok());
  auto id = sent.message->doc["order_id"].GetInt64();
  REQUIRE(ak.wait_type("order"));
  // shop-b's sessions cannot touch it.
  TestClient bc(broker.port(), "b-counter", b_counter);
  REQUIRE(bc.connect_and_hello().ok());
  auto cancel = bc.call(R"({"type":"cancel","order_id":)" + std::to_string(id) + "}");
  REQUIRE(cancel.message);
  CHECK(cancel.message->error_code() == "not_found");
  auto deliver = bk.call(R"({"type":"deliver","order_id":)" + std::to_string(id) + "}");
  REQUIRE(deliver.message);
  CHECK(deliver.message->error_code() == "not_found");
  // bk heard only shop-b presence (b-counter), nothing of shop-a, no orders.
  auto p = bk.next_push();
  REQUIRE(p);
  CHECK(p->type() == "presence");
  CHECK(p->string_field("session") == "b-counter");
  REQUIRE(bk.sync());
  CHECK(bk.pending_pushes() == 0);
  auto dir = bk.call(R"({"type":"sessions"})");
  REQUIRE(dir.ok());
  CHECK(dir.message->doc["sessions"].Size() == 2);
  auto inbox = bk.call(R"({"type":"list"})");
  REQUIRE(inbox.ok());
  CHECK(inbox.message->doc["orders"].Size() == 0);
  // The ops list filters by shop.
  auto list = broker.http("GET", "/api/orders?shop=shop-b");
  REQUIRE(list.status == 200);
  CHECK(list.body.find("X-2") == std::string::npos);
  list = broker.http("GET", "/api/sessions?shop=shop-a");
  REQUIRE(list.status == 200);
  CHECK(list.body.find("b-kitchen") == std::string::npos);
  CHECK(list.body.find("a-kitchen") != std::string::npos);
}

TEST_CASE("credentials: rotating a token closes live connections with 4401, the old token stops working",
          "[shops][concurrency]") {
  TestBroker broker;
  auto old_token = broker.add_session("kitchen-1", false, true);
  TestClient a(broker.port(), "kitchen-1", old_token);
  TestClient b(broker.port(), "kitchen-1", old_token);
  REQUIRE(a.connect_and_hello().ok());
  REQUIRE(b.connect_and_hello().ok());
  auto rot = broker.http("POST", "/api/sessions/kitchen-1/token");
  REQUIRE(rot.status == 200);
  CHECK(a.wait_closed().value_or(-1) == 4401);
  CHECK(b.wait_closed().value_or(-1) == 4401);
  TestClient again(broker.port(), "kitchen-1", old_token);
  auto r = again.connect_and_hello();
  REQUIRE(r.message);
  CHECK(r.message->error_code() == "unauthorized");
  auto doc_pos = rot.body.find("\"token\":\"");
  REQUIRE(doc_pos != std::string::npos);
  std::string fresh = rot.body.substr(doc_pos + 9, 64);
  TestClient fresh_client(broker.port(), "kitchen-1", fresh);
  CHECK(fresh_client.connect_and_hello().ok());
}

TEST_CASE("credentials: deleting a session closes it with 4401, re-created, its sent deliveries replay",
          "[shops][concurrency]") {
  TestBroker broker;
  auto c = broker.add_session("counter-1", true, false);
  auto k = broker.add_session("kitchen-1", false, true);
  TestClient counter(broker.port(), "counter-1", c);
  REQUIRE(counter.connect_and_hello().ok());
  auto sent = counter.call(send_json("DEL-1", {"kitchen-1"}));
  REQUIRE(sent.ok());
  TestClient kitchen(broker.port(), "kitchen-1", k);
  REQUIRE(kitchen.connect_and_hello().ok());
  REQUIRE(broker.http("DELETE", "/api/sessions/kitchen-1").status == 204);
  CHECK(kitchen.wait_closed().value_or(-1) == 4401);
  // Its orders stay in the history.
  auto detail = broker.http("GET", "/api/orders/" + std::to_string(sent.message->doc["order_id"].GetInt64()));
  CHECK(detail.status == 200);
  auto k2 = broker.add_session("kitchen-1", false, true);
  TestClient back(broker.port(), "kitchen-1", k2);
  REQUIRE(back.connect_and_hello().ok());
  auto replay = back.wait_type("order");
  REQUIRE(replay);
  CHECK(replay->string_field("ref") == "DEL-1");
}
