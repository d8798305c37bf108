// ack, deliver, reject, cancel, status events, the claim race and list.
#include <catch2/catch.hpp>

#include <future>
#include <vector>
#include <thread>

#include "tests/integration/harness.hpp"

using namespace possync::test;

namespace {

struct DeliveryFixture {
  TestBroker broker;
  std::string counter_token = broker.add_session("counter-1", true, false);
  std::string kitchen_token = broker.add_session("kitchen-1", false, true);
  std::string bar_token = broker.add_session("bar-1", true, true);
  std::string other_token = broker.add_session("counter-2", true, false);
  TestClient counter{broker.port(), "counter-1", counter_token};
  TestClient kitchen{broker.port(), "kitchen-1", kitchen_token};
  TestClient bar{broker.port(), "bar-1", bar_token};
  DeliveryFixture() {
    REQUIRE(counter.connect_and_hello().ok());
    REQUIRE(kitchen.connect_and_hello().ok());
    REQUIRE(bar.connect_and_hello().ok());
  }
  std::int64_t send(const std::string& ref, const std::vector<std::string>& to, const std::string& mode = "copy") {
    auto r = counter.call(send_json(ref, to, mode));
    REQUIRE(r.ok());
    return r.message->doc["order_id"].GetInt64();
  }
};

}  // namespace

TEST_CASE_METHOD(DeliveryFixture, "ack moves sent to received, tells the sender, and is quiet on success",
                 "[delivery]") {
  auto id = send("A-1", {"kitchen-1"});
  REQUIRE(kitchen.wait_type("order"));
  kitchen.raw().ack(id);
  auto st = counter.wait_push(status_is(id, "kitchen-1", "received"));
  REQUIRE(st);
  CHECK(st->string_field("by") == "kitchen-1");
  REQUIRE(kitchen.sync());
  CHECK(kitchen.pending_pushes() == 0);  // no reply to a successful ack
  // A second ack is a no-op; an unknown order is not_found (with the id echoed).
  kitchen.raw().ack(id);
  auto nf = kitchen.call(order_op("ack", 999999));
  REQUIRE(nf.message);
  CHECK(nf.message->error_code() == "not_found");
  auto inbox = kitchen.call(R"({"type":"list"})");
  REQUIRE(inbox.ok());
  REQUIRE(inbox.message->doc["orders"].Size() == 1);
  CHECK(std::string(inbox.message->doc["orders"][0]["status"].GetString()) == "received");
}

TEST_CASE_METHOD(DeliveryFixture, "deliver returns the full order once, then duplicate, the sender sees delivered",
                 "[delivery]") {
  auto id = send("D-1", {"kitchen-1"});
  auto push = kitchen.wait_type("order");
  REQUIRE(push);
  auto d = kitchen.call(order_op("deliver", id));
  REQUIRE(d.ok());
  CHECK(d.message->type() == "delivered");
  CHECK(d.message->doc["duplicate"].GetBool() == false);
  CHECK(std::string(d.message->doc["order"]["note"].GetString()) == "no onions");
  CHECK(d.message->doc["order"]["lines"].Size() == push->doc["order"]["lines"].Size());
  REQUIRE(counter.wait_push(status_is(id, "kitchen-1", "delivered")));
  auto again = kitchen.call(order_op("deliver", id));
  REQUIRE(again.ok());
  CHECK(again.message->doc["duplicate"].GetBool());
  // Final: reject now conflicts and names the status.
  auto rej = kitchen.call(order_op("reject", id));
  REQUIRE(rej.message);
  CHECK(rej.message->error_code() == "conflict");
  CHECK(rej.message->string_field("message").find("delivered") != std::string::npos);
}

TEST_CASE_METHOD(DeliveryFixture, "reject keeps the first reason, a repeat is a duplicate, deliver then conflicts",
                 "[delivery]") {
  auto id = send("J-1", {"kitchen-1"});
  auto r = kitchen.call(order_op("reject", id, R"(,"reason":"out of stock")"));
  REQUIRE(r.ok());
  CHECK(r.message->type() == "rejected");
  auto st = counter.wait_push(status_is(id, "kitchen-1", "rejected"));
  REQUIRE(st);
  CHECK(st->string_field("reason") == "out of stock");
  auto again = kitchen.call(order_op("reject", id, R"(,"reason":"changed my mind")"));
  REQUIRE(again.ok());
  CHECK(again.message->doc["duplicate"].GetBool());
  auto d = kitchen.call(order_op("deliver", id));
  REQUIRE(d.message);
  CHECK(d.message->error_code() == "conflict");
  CHECK(d.message->string_field("message").find("rejected") != std::string::npos);
  auto detail = broker.http("GET", "/api/orders/" + std::to_string(id));
  REQUIRE(detail.status == 200);
  CHECK(detail.body.find("out of stock") != std::string::npos);
  CHECK(detail.body.find("changed my mind") == std::string::npos);
}

TEST_CASE_METHOD(DeliveryFixture, "cancel: every open delivery is cancelled, receivers and sender are told",
                 "[delivery]") {
  auto id = send("C-1", {"kitchen-1", "bar-1"});
  REQUIRE(bar.wait_type("order"));
  REQUIRE(bar.call(order_op("deliver", id)).ok());
  auto c = counter.call(order_op("cancel", id));
  REQUIRE(c.ok());
  CHECK(c.message->type() == "cancelled");
  const auto& receivers = c.message->doc["receivers"];
  REQUIRE(receivers.Size() == 2);
  for (const auto& r : receivers.GetArray()) {
    std::string who = r["session"].GetString();
    CHECK(std::string(r["status"].GetString()) == (who == "bar-1" ? "delivered" : "cancelled"));
  }
  auto k = kitchen.wait_push(status_is(id, "kitchen-1", "cancelled"));
  REQUIRE(k);
  CHECK(k->string_field("by") == "counter-1");
  REQUIRE(counter.wait_push(status_is(id, "kitchen-1", "cancelled")));  // the sender's own cancel included
  auto again = counter.call(order_op("cancel", id));
  REQUIRE(again.message);
  CHECK(again.message->error_code() == "conflict");
  auto d = kitchen.call(order_op("deliver", id));
  REQUIRE(d.message);
  CHECK(d.message->error_code() == "conflict");
  CHECK(d.message->string_field("message").find("cancelled") != std::string::npos);
}

TEST_CASE_METHOD(DeliveryFixture, "cancel by a receiver is forbidden, by a stranger not_found", "[delivery]") {
  auto id = send("C-2", {"kitchen-1"});
  auto r = kitchen.call(order_op("cancel", id));
  REQUIRE(r.message);
  CHECK(r.message->error_code() == "forbidden");
  TestClient stranger(broker.port(), "counter-2", other_token);
  REQUIRE(stranger.connect_and_hello().ok());
  auto s = stranger.call(order_op("cancel", id));
  REQUIRE(s.message);
  CHECK(s.message->error_code() == "not_found");
  // Another session's order ids reveal nothing to it.
  for (const char* type : {"deliver", "reject"}) {
    auto x = bar.call(order_op(type, id));
    REQUIRE(x.message);
    CHECK(x.message->error_code() == "not_found");
  }
  auto ack = counter.call(order_op("ack", id));
  REQUIRE(ack.message);
  CHECK(ack.message->error_code() == "forbidden");  // counter-1 lacks the receiver role
}

TEST_CASE_METHOD(DeliveryFixture, "claim race: two receivers deliver at the same moment, exactly one wins",
                 "[delivery][concurrency]") {
  for (int round = 0; round < 10; ++round) {
    auto id = send("CL-" + std::to_string(round), {"kitchen-1", "bar-1"}, "claim");
    REQUIRE(kitchen.wait_type("order"));
    REQUIRE(bar.wait_type("order"));
    std::promise<void> go;
    auto start = go.get_future().share();
    auto race = [&](TestClient& who) {
      return std::async(std::launch::async, [&who, start, id] {
        start.wait();
        return who.call(order_op("deliver", id));
      });
    };
    auto fk = race(kitchen);
    auto fb = race(bar);
    go.set_value();
    auto rk = fk.get();
    auto rb = fb.get();
    REQUIRE(rk.message);
    REQUIRE(rb.message);
    int wins = (rk.ok() ? 1 : 0) + (rb.ok() ? 1 : 0);
    CHECK(wins == 1);
    auto& loser_reply = rk.ok() ? rb : rk;
    std::string winner = rk.ok() ? "kitchen-1" : "bar-1";
    std::string loser = rk.ok() ? "bar-1" : "kitchen-1";
    CHECK(loser_reply.message->error_code() == "conflict");
    CHECK(loser_reply.message->string_field("message").find("taken") != std::string::npos);
    auto taken = counter.wait_push(status_is(id, loser, "taken"));
    REQUIRE(taken);
    CHECK(taken->string_field("by") == winner);
    auto detail = broker.http("GET", "/api/orders/" + std::to_string(id));
    REQUIRE(detail.status == 200);
    CHECK(detail.body.find(R"("session":")" + loser + R"(","status":"taken")") != std::string::npos);
  }
}

TEST_CASE_METHOD(DeliveryFixture, "claim: the losing receiver is told its delivery was taken",
                 "[delivery][concurrency]") {
  auto id = send("CL-t", {"kitchen-1", "bar-1"}, "claim");
  REQUIRE(bar.wait_type("order"));
  REQUIRE(kitchen.call(order_op("deliver", id)).ok());
  auto t = bar.wait_push(status_is(id, "bar-1", "taken"));
  REQUIRE(t);
  CHECK(t->string_field("by") == "kitchen-1");
}

TEST_CASE_METHOD(DeliveryFixture, "list: inbox shows sent and received by default, newest first, paged", "[delivery]") {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(send("L-" + std::to_string(i), {"kitchen-1", "bar-1"}));
  REQUIRE(kitchen.call(order_op("deliver", ids[0])).ok());
  auto inbox = kitchen.call(R"({"type":"list","box":"inbox","limit":3})");
  REQUIRE(inbox.ok());
  const auto& orders = inbox.message->doc["orders"];
  REQUIRE(orders.Size() == 3);
  CHECK(orders[0]["order_id"].GetInt64() == ids[4]);
  CHECK(orders[2]["order_id"].GetInt64() == ids[2]);
  CHECK(std::string(orders[0]["from"].GetString()) == "counter-1");
  CHECK(orders[0].HasMember("order"));
  auto page2 = kitchen.call(R"({"type":"list","limit":3,"before":)" + std::to_string(ids[2]) + "}");
  REQUIRE(page2.ok());
  REQUIRE(page2.message->doc["orders"].Size() == 1);  // ids[0] is delivered: not in the default inbox
  CHECK(page2.message->doc["orders"][0]["order_id"].GetInt64() == ids[1]);
  auto delivered = kitchen.call(R"({"type":"list","status":["delivered"]})");
  REQUIRE(delivered.ok());
  REQUIRE(delivered.message->doc["orders"].Size() == 1);
  CHECK(std::string(delivered.message->doc["orders"][0]["status"].GetString()) == "delivered");

  auto outbox = counter.call(R"({"type":"list","box":"outbox","status":["delivered"]})");
  REQUIRE(outbox.ok());
  const auto& out = outbox.message->doc["orders"];
  REQUIRE(out.Size() == 1);
  CHECK(out[0]["receivers"].Size() == 2);  // complete, though only one matched
  auto bad = kitchen.call(R"({"type":"list","limit":501})");
  REQUIRE(bad.message);
  CHECK(bad.message->error_code() == "too_large");
  bad = kitchen.call(R"({"type":"list","status":["lost"]})");
  REQUIRE(bad.message);
  CHECK(bad.message->error_code() == "bad_request");
}

TEST_CASE_METHOD(DeliveryFixture, "a receiver's other connection hears of changes made on this one",
                 "[delivery][concurrency]") {
  TestClient kitchen2(broker.port(), "kitchen-1", kitchen_token);
  REQUIRE(kitchen2.connect_and_hello().ok());
  auto id = send("M-1", {"kitchen-1"});
  REQUIRE(kitchen.wait_type("order"));
  REQUIRE(kitchen2.wait_type("order"));  // every connection of the session gets the push
  REQUIRE(kitchen.call(order_op("deliver", id)).ok());
  REQUIRE(kitchen2.wait_push(status_is(id, "kitchen-1", "delivered")));
  REQUIRE(kitchen.sync());
  CHECK(kitchen.pending_pushes() == 0);  // not echoed to the connection that made it
  auto dup = kitchen2.call(order_op("deliver", id));  // counts for the session
  REQUIRE(dup.ok());
  CHECK(dup.message->doc["duplicate"].GetBool());
}

TEST_CASE_METHOD(DeliveryFixture, "replay: every delivery still sent is pushed after welcome, oldest first",
                 "[delivery][concurrency]") {
  TestClient late(broker.port(), "kitchen-1", kitchen_token);
  auto a = send("P-1", {"kitchen-1"});
  auto b = send("P-2", {"kitchen-1"});
  auto c = send("P-3", {"kitchen-1"});
  kitchen.raw().ack(b);  // received: not replayed
  REQUIRE(counter.wait_push(status_is(b, "kitchen-1", "received")));
  REQUIRE(late.connect_and_hello().ok());
  auto first = late.wait_type("order");
  auto second = late.wait_type("order");
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->int_field("order_id") == a);
  CHECK(second->int_field("order_id") == c);
  REQUIRE(late.sync());
  CHECK(late.pending_pushes() == 0);
}

// Found by the ASan pass: when a write completed during a replay, the replay
// queued more frames and started a write, and the completion started a second
// one. Beast parked and then lost the second: it leaked, holding its session,
// which kept counting against --max-connections until the broker refused
// everyone. A backlog far beyond the replay window (max_queued_frames / 4)
// does that on every write; each round must arrive complete, once each, in
// order, and leave nothing behind.
TEST_CASE("replay: a backlog beyond the replay window arrives once each, in order, and its session is freed",
          "[delivery][concurrency]") {
  TestBroker broker({[](possync::broker::Config& c) {
    c.max_queued_frames = 64;  // a replay window of 16
    c.max_connections = 3;     // the counter, one kitchen and one HTTP request
  }});
  const auto counter_token = broker.add_session("counter-1", true, false);
  const auto kitchen_token = broker.add_session("kitchen-1", false, true);
  TestClient counter(broker.port(), "counter-1", counter_token);
  REQUIRE(counter.connect_and_hello().ok());
  std::vector<std::int64_t> sent;
  for (int i = 0; i < 200; ++i) {
    auto r = counter.call(send_json("W-" + std::to_string(i), {"kitchen-1"}));
    REQUIRE(r.ok());
    sent.push_back(r.message->doc["order_id"].GetInt64());
  }
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    {
      TestClient kitchen(broker.port(), "kitchen-1", kitchen_token);
      REQUIRE(kitchen.connect_and_hello().ok());
      std::vector<std::int64_t> replayed;
      while (replayed.size() < sent.size()) {
        auto order = kitchen.wait_type("order");
        if (!order) break;
        replayed.push_back(order->int_field("order_id"));
      }
      REQUIRE(kitchen.sync());
      CHECK(kitchen.pending_pushes() == 0);  // nothing twice
      CHECK(replayed == sent);               // nothing lost, oldest first
    }
    REQUIRE(eventually([&] { return broker.connections_of("kitchen-1") == 0; }));
  }
}
