// Malformed input, limits, store failures, slow consumers and shutdown: the
// broker stays up and, where the protocol says so, the same connection
// keeps working.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "tests/integration/harness.hpp"
#include "tests/integration/stalled_client.hpp"

using namespace possync::test;

namespace {

struct Pair {
  TestBroker broker;
  std::string counter_token;
  std::string kitchen_token;
  explicit Pair(BrokerOptions o = {}) : broker(std::move(o)) {
    counter_token = broker.add_session("counter-1", true, false);
    kitchen_token = broker.add_session("kitchen-1", false, true);
  }
};

}  // namespace

TEST_CASE("malformed input: each gets its error code and the connection keeps working", "[robust]") {
  Pair p;
  TestClient k(p.broker.port(), "kitchen-1", p.kitchen_token);
  REQUIRE(k.connect_and_hello().ok());
  struct Case {
    std::string frame;
    std::string code;
  };
  std::vector<Case> cases = {
      {"not json", "bad_json"},
      {"[1,2,3]", "bad_json"},
      {"\"hello\"", "bad_json"},
      {"42", "bad_json"},
      {"{\"type\":", "bad_json"},
      {"{}", "bad_request"},
      {R"({"type":7})", "bad_request"},
      {R"({"type":"teleport"})", "bad_request"},
      {R"({"type":"ping","id":{"a":1}})", "bad_request"},
      {R"({"type":"ping","id":1.5})", "bad_request"},
      {R"({"type":"ping","id":true})", "bad_request"},
      {R"({"type":"ping","id":")" + std::string(65, 'x') + "\"}", "too_large"},
      {R"({"type":"deliver","order_id":"7"})", "bad_request"},
      {R"({"type":"deliver","order_id":7.0})", "bad_request"},
      {R"({"type":"deliver","order_id":-3})", "bad_request"},
      {R"({"type":"reject","order_id":1,"reason":")" + std::string(1001, 'r') + "\"}", "too_large"},
      {std::string(100000, '[') + std::string(100000, ']'), "bad_json"},
  };
  for (const auto& c : cases) {
    INFO(c.frame.substr(0, 80));
    k.send_text(c.frame);
    auto reply = k.next_push();
    REQUIRE(reply);
    CHECK(reply->error_code() == c.code);
    if (c.code != "bad_json" && c.frame.find("\"id\"") != std::string::npos) {
      CHECK_FALSE(reply->doc.HasMember("id"));  // an invalid id is never echoed
    }
  }
  CHECK(k.call(R"({"type":"ping"})").ok());
}

TEST_CASE("limits: a frame of exactly the limit is accepted, one byte more closes with 1009", "[robust]") {
  Pair p({[](possync::broker::Config& c) { c.max_message_bytes = 4096; }});
  TestClient k(p.broker.port(), "kitchen-1", p.kitchen_token);
  REQUIRE(k.connect_and_hello().ok());
  std::string head = R"({"type":"ping","pad":")";
  std::string exact = head + std::string(4096 - head.size() - 2, 'x') + "\"}";
  REQUIRE(exact.size() == 4096);
  k.send_text(exact);
  auto pong = k.next_push();
  REQUIRE(pong);
  CHECK(pong->type() == "pong");
  k.send_text(head + std::string(4096 - head.size() - 1, 'x') + "\"}");
  auto code = k.wait_closed();
  REQUIRE(code);  // the oversized frame always ends the connection
  // Beast fails the connection at once: it sends 1009 and closes while the
  // rest of our frame may still be in flight, so now and then the client's
  // socket is reset before it reads the close frame (1006). The code is
  // asserted on the first of a few attempts that the client could read.
  int attempts = 1;
  while (*code == 1006 && attempts < 5) {
    TestClient again(p.broker.port(), "kitchen-1", p.kitchen_token);
    REQUIRE(again.connect_and_hello().ok());
    again.send_text(head + std::string(4096 - head.size() - 1, 'x') + "\"}");
    code = again.wait_closed();
    REQUIRE(code);
    ++attempts;
  }
  CHECK(*code == 1009);
  TestClient other(p.broker.port(), "kitchen-1", p.kitchen_token);
  CHECK(other.connect_and_hello().ok());  // the broker is still up
}

TEST_CASE("limits: a binary frame closes with 1003", "[robust]") {
  Pair p;
  TestClient k(p.broker.port(), "kitchen-1", p.kitchen_token);
  REQUIRE(k.connect_and_hello().ok());
  k.send_binary(std::string("\x01\x02\x03", 3));
  CHECK(k.wait_closed().value_or(-1) == 1003);
}

TEST_CASE("limits: over the request rate gets rate_limited, persisting errors close with 4429", "[robust]") {
  Pair p({[](possync::broker::Config& c) {
    c.rate_limit_per_second = 5;  // burst of 10
    c.max_errors_per_minute = 20;
  }});
  TestClient k(p.broker.port(), "kitchen-1", p.kitchen_token);
  REQUIRE(k.connect_and_hello().ok());
  int limited = 0;
  for (int i = 0; i < 15; ++i) {
    auto r = k.call(R"({"type":"ping"})");
    REQUIRE(r.message);
    if (r.message->error_code() == "rate_limited") ++limited;
  }
  CHECK(limited >= 4);
  for (int i = 0; i < 30 && !k.wait_closed(std::chrono::milliseconds(0)); ++i) k.send_text("garbage");
  CHECK(k.wait_closed().value_or(-1) == 4429);
}

TEST_CASE("store failure: writes get unavailable, nothing is stored, a retry with the same ref succeeds",
          "[robust]") {
  Pair p;
  TestClient c(p.broker.port(), "counter-1", p.counter_token);
  TestClient k(p.broker.port(), "kitchen-1", p.kitchen_token);
  REQUIRE(c.connect_and_hello().ok());
  REQUIRE(k.connect_and_hello().ok());
  p.broker.faults().fail_writes(true);
  auto r = c.call(send_json("U-1", {"kitchen-1"}));
  REQUIRE(r.message);
  CHECK(r.message->error_code() == "unavailable");
  CHECK(p.broker.http("GET", "/api/orders").body.find("U-1") == std::string::npos);
  REQUIRE(k.sync());
  CHECK(k.pending_pushes() == 0);
  p.broker.faults().fail_writes(false);
  auto again = c.call(send_json("U-1", {"kitchen-1"}));
  REQUIRE(again.ok());
  CHECK(again.message->doc["duplicate"].GetBool() == false);
  REQUIRE(k.wait_type("order"));
  // An injected bug surfaces as `internal` with the request id, connection open.
  p.broker.faults().fail_next_writes(1, possync::protocol::ErrorCode::internal);
  auto bug = c.call(send_json("U-2", {"kitchen-1"}));
  REQUIRE(bug.message);
  CHECK(bug.message->error_code() == "internal");
  CHECK(c.call(R"({"type":"ping"})").ok());
}

TEST_CASE("slow consumer: a client that stops reading is closed, others keep working, the store replays later",
          "[robust][concurrency]") {
  Pair p({[](possync::broker::Config& c) {
    c.max_queued_frames = 64;
    c.max_queued_bytes = 256 * 1024;
    c.rate_limit_per_second = 1e6;  // the sender pipelines its whole burst
  }});
  auto stalled = std::make_unique<StalledClient>(p.broker.port(), "kitchen-1", p.kitchen_token);
  REQUIRE(eventually([&] { return p.broker.connections_of("kitchen-1") == 1; }));
  TestClient c(p.broker.port(), "counter-1", p.counter_token);
  REQUIRE(c.connect_and_hello().ok());
  const int kOrders = 1500;  // ~6 MB of pushes: more than socket buffers and the queue hold
  // Pipelined, but at most kWindow unanswered at once: far more than the
  // broker takes in flight per connection, and few enough that none waits
  // out the client's request timeout on a slow (sanitizer) build.
  // (200 let a TSan build at -O0 on a loaded machine time out 44 of them.)
  const int kWindow = 32;
  std::atomic<int> sent{0};
  std::atomic<int> answered{0};
  std::mutex failures_mu;
  std::map<std::string, int> failures;  // why a send was not `sent`
  for (int i = 0; i < kOrders; ++i) {
    REQUIRE(eventually([&] { return i - answered < kWindow; }, std::chrono::seconds(60)));
    c.raw().request(send_json("S-" + std::to_string(i), {"kitchen-1"}, "copy", sample_order(40)),
                    [&sent, &answered, &failures_mu, &failures](possync::client::Reply r) {
                      if (r.ok()) {
                        ++sent;
                      } else {
                        std::lock_guard lock(failures_mu);
                        ++failures[r.message ? r.message->error_code() : r.failure];
                      }
                      ++answered;
                    });
  }
  REQUIRE(eventually([&] { return answered == kOrders; }, std::chrono::seconds(60)));
  {
    std::lock_guard lock(failures_mu);
    std::string why_not;
    for (const auto& [why, n] : failures) why_not += why + ": " + std::to_string(n) + "; ";
    INFO("sends not sent: " << why_not);
    CHECK(sent == kOrders);
  }
  REQUIRE(eventually([&] { return p.broker.connections_of("kitchen-1") == 0; }));
  CHECK(c.call(R"({"type":"ping"})").ok());  // the sender was never held up
  stalled.reset();
  // Back with a reader: every order is replayed, none lost.
  TestClient k(p.broker.port(), "kitchen-1", p.kitchen_token);
  REQUIRE(k.connect_and_hello().ok());
  int replayed = 0;
  while (k.wait_type("order")) {
    if (++replayed == kOrders) break;
  }
  CHECK(replayed == kOrders);
}

TEST_CASE("shutdown: replies of commits in flight are written before the 1001 close", "[robust][concurrency]") {
  Pair p;
  TestClient c(p.broker.port(), "counter-1", p.counter_token);
  REQUIRE(c.connect_and_hello().ok());
  std::atomic<int> sent{0};
  std::atomic<int> failed_other{0};
  for (int i = 0; i < 200; ++i) {
    c.raw().request(send_json("G-" + std::to_string(i), {"kitchen-1"}), [&](possync::client::Reply r) {
      if (r.ok()) ++sent;
      else if (r.message) ++failed_other;  // an error reply would be a bug here
    });
  }
  p.broker.shutdown();
  CHECK(c.wait_closed().value_or(-1) == 1001);
  CHECK(failed_other == 0);
  // Every acknowledged send is in the store.
  TestBroker reopened(p.broker.db_file(), {});
  auto body = reopened.http("GET", "/api/orders?limit=500&sender=counter-1").body;
  int present = 0;
  for (int i = 0; i < 200; ++i) {
    if (body.find("\"G-" + std::to_string(i) + "\"") != std::string::npos) ++present;
  }
  CHECK(present >= sent);
}
