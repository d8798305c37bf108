// A cluster: two and three broker nodes on different loopback ports sharing
// one PostgreSQL schema ([pg]: these run only in the PostgreSQL registration).
// Orders, status changes and presence cross nodes through the store's
// cluster feed; a node killed with kill -9 loses nothing; an outage of the
// database is survived without a restart.
#include <catch2/catch.hpp>

#include <signal.h>

#include <future>
#include <map>
#include <mutex>
#include <set>

#include <rapidjson/document.h>

#include "tests/integration/broker_process.hpp"
#include "tests/integration/harness.hpp"
#include "tests/support/pg_server.hpp"

using namespace possync::test;

namespace {

constexpr int kHeartbeatMs = 200;
constexpr int kNodeTimeoutMs = 1500;
// Long enough for a dead node to be noticed by the others (timeout plus a
// sweep), still a bound.
constexpr auto kNodeDeathWait = std::chrono::milliseconds(kNodeTimeoutMs * 4);

BrokerOptions node_options(const std::string& node_id) {
  return BrokerOptions{[node_id](possync::broker::Config& c) {
    c.node_id = node_id;
    c.node_heartbeat_ms = kHeartbeatMs;
    c.node_timeout_ms = kNodeTimeoutMs;
  }};
}

// N in-process broker nodes on one store location (a fresh schema).
struct Cluster {
  TestStorePtr store;
  std::vector<std::unique_ptr<TestBroker>> nodes;

  explicit Cluster(int n, TestStorePtr location = std::make_shared<TestStore>()) : store(std::move(location)) {
    for (int i = 0; i < n; ++i) {
      nodes.push_back(std::make_unique<TestBroker>(store, node_options("node-" + std::string(1, char('a' + i)))));
    }
  }
  ~Cluster() {
    for (auto& n : nodes) n->shutdown();
  }
  TestBroker& operator[](int i) { return *nodes.at(static_cast<std::size_t>(i)); }
};

std::int64_t sent_id(TestClient& sender, const std::string& ref, const std::vector<std::string>& to,
                     const std::string& mode = "copy") {
  auto r = sender.call(send_json(ref, to, mode));
  REQUIRE(r.ok());
  return r.message->doc["order_id"].GetInt64();
}

bool online_in(const possync::client::Reply& directory, const std::string& session) {
  if (!directory.ok()) return false;
  for (const auto& s : directory.message->doc["sessions"].GetArray()) {
    if (s["session"].GetString() == session) return s["online"].GetBool();
  }
  return false;
}

// `online` of a session in GET /api/sessions of that node.
bool online_via_api(TestBroker& node, const std::string& session) {
  auto r = node.http("GET", "/api/sessions");
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  if (r.status != 200 || !d.IsObject() || !d.HasMember("sessions")) return false;
  for (const auto& s : d["sessions"].GetArray()) {
    if (s["session"].GetString() == session) return s["online"].GetBool();
  }
  return false;
}

}  // namespace

TEST_CASE("cluster: an order sent on A is pushed on B, status changes made on C reach the sender on A", "[pg]") {
  Cluster c(3);
  auto counter_token = c[0].add_session("counter-1", true, false);
  auto kitchen_token = c[0].add_session("kitchen-1", false, true);
  auto bar_token = c[0].add_session("bar-1", false, true);
  TestClient counter(c[0].port(), "counter-1", counter_token);
  TestClient kitchen(c[1].port(), "kitchen-1", kitchen_token);
  TestClient bar(c[2].port(), "bar-1", bar_token);
  TestClient kitchen_on_c(c[2].port(), "kitchen-1", kitchen_token);  // a second terminal of kitchen-1
  for (auto* t : {&counter, &kitchen, &bar, &kitchen_on_c}) REQUIRE(t->connect_and_hello().ok());

  const auto id = sent_id(counter, "X-1", {"kitchen-1", "bar-1"});
  auto on_b = kitchen.wait_type("order");
  REQUIRE(on_b);
  CHECK(on_b->int_field("order_id") == id);
  CHECK(on_b->string_field("from") == "counter-1");
  auto on_c = bar.wait_type("order");
  REQUIRE(on_c);
  CHECK(on_c->int_field("order_id") == id);
  REQUIRE(kitchen_on_c.wait_type("order"));

  // Made on B (ack) and C (deliver), seen by the sender on A and by the
  // receiver's other terminal on C.
  kitchen.raw().ack(id);
  CHECK(counter.wait_push(status_is(id, "kitchen-1", "received")));
  CHECK(kitchen_on_c.wait_push(status_is(id, "kitchen-1", "received")));
  auto delivered = bar.call(order_op("deliver", id));
  REQUIRE(delivered.ok());
  auto st = counter.wait_push(status_is(id, "bar-1", "delivered"));
  REQUIRE(st);
  CHECK(st->string_field("by") == "bar-1");

  // Cancelled on A: the open delivery on B is cancelled, B is told.
  REQUIRE(counter.call(order_op("cancel", id)).ok());
  CHECK(kitchen.wait_push(status_is(id, "kitchen-1", "cancelled")));
  CHECK(kitchen_on_c.wait_push(status_is(id, "kitchen-1", "cancelled")));

  // Every node's ops API shows the same history.
  for (int i = 0; i < 3; ++i) {
    auto detail = c[i].http("GET", "/api/orders/" + std::to_string(id));
    REQUIRE(detail.status == 200);
    CHECK(detail.body.find(R"("session":"bar-1","status":"delivered")") != std::string::npos);
    CHECK(detail.body.find(R"("session":"kitchen-1","status":"cancelled")") != std::string::npos);
  }
  // Nothing arrived twice: a sync, then no stray order or repeated status.
  REQUIRE(kitchen.sync());
  CHECK(kitchen.wait_type("order", std::chrono::milliseconds(0)) == nullptr);
}

TEST_CASE("cluster: claim race with the receivers on two nodes — exactly one wins, the other is taken", "[pg]") {
  Cluster c(3);
  auto counter_token = c[0].add_session("counter-1", true, false);
  auto kitchen_token = c[0].add_session("kitchen-1", false, true);
  auto bar_token = c[0].add_session("bar-1", false, true);
  TestClient counter(c[2].port(), "counter-1", counter_token);
  TestClient kitchen(c[0].port(), "kitchen-1", kitchen_token);
  TestClient bar(c[1].port(), "bar-1", bar_token);
  for (auto* t : {&counter, &kitchen, &bar}) REQUIRE(t->connect_and_hello().ok());

  std::map<std::string, int> winners;
  for (int round = 0; round < 10; ++round) {
    const auto id = sent_id(counter, "CL-" + std::to_string(round), {"kitchen-1", "bar-1"}, "claim");
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
    CHECK((rk.ok() ? 1 : 0) + (rb.ok() ? 1 : 0) == 1);
    const std::string winner = rk.ok() ? "kitchen-1" : "bar-1";
    const std::string loser = rk.ok() ? "bar-1" : "kitchen-1";
    ++winners[winner];
    auto& lost = rk.ok() ? rb : rk;
    CHECK(lost.message->error_code() == "conflict");
    // The sender hears both changes (one transaction: delivered, then taken).
    REQUIRE(counter.wait_push(status_is(id, winner, "delivered")));
    auto taken = counter.wait_push(status_is(id, loser, "taken"));
    REQUIRE(taken);
    CHECK(taken->string_field("by") == winner);
    // The loser's own terminal, on the other node, hears it too.
    TestClient& loser_client = rk.ok() ? bar : kitchen;
    CHECK(loser_client.wait_push(status_is(id, loser, "taken")));
  }
  INFO("kitchen-1 won " << winners["kitchen-1"] << ", bar-1 won " << winners["bar-1"]);
  CHECK(winners["kitchen-1"] + winners["bar-1"] == 10);
  auto list = c[0].http("GET", "/api/orders?status=delivered&limit=50");
  REQUIRE(list.status == 200);
}

TEST_CASE("cluster: presence is cluster-wide — online from the first connection anywhere until the last one closes",
          "[pg]") {
  Cluster c(3);
  auto kitchen_token = c[0].add_session("kitchen-1", false, true);
  auto bar_token = c[0].add_session("bar-1", true, true);
  auto counter_token = c[0].add_session("counter-1", true, false);
  TestClient watcher(c[0].port(), "kitchen-1", kitchen_token);
  REQUIRE(watcher.connect_and_hello().ok());
  // Presence crosses nodes through the database: B learns of kitchen-1's
  // connection on A a moment later.
  REQUIRE(eventually([&] { return online_via_api(c[1], "kitchen-1"); }));

  auto bar_on_b = std::make_unique<TestClient>(c[1].port(), "bar-1", bar_token);
  auto welcome = bar_on_b->connect_and_hello();
  REQUIRE(welcome.ok());
  CHECK(watcher.wait_push(presence_is("bar-1", true)));
  // The directory on every node, and the welcome of B, agree.
  CHECK(online_in(watcher.call(R"({"type":"sessions"})"), "bar-1"));
  auto in_welcome = [&](const std::string& session) {
    for (const auto& s : welcome.message->doc["sessions"].GetArray()) {
      if (s["session"].GetString() == session) return s["online"].GetBool();
    }
    return false;
  };
  CHECK(in_welcome("kitchen-1"));  // kitchen-1 is connected to A only
  CHECK(eventually([&] { return online_via_api(c[2], "bar-1"); }));  // a node bar-1 is not on

  // A second terminal of bar-1 on C; the one on B goes: bar-1 stays online.
  auto bar_on_c = std::make_unique<TestClient>(c[2].port(), "bar-1", bar_token);
  REQUIRE(bar_on_c->connect_and_hello().ok());
  // `connections` in the ops API counts every node's.
  REQUIRE(eventually([&] { return c[1].connections_of("bar-1") == 2; }));
  bar_on_b.reset();
  REQUIRE(eventually([&] { return c[1].connections_of("bar-1") == 1; }));
  // Barrier: counter-1 comes online after bar-1's B connection closed; its
  // presence is the next one the watcher sees, not an offline of bar-1.
  TestClient counter(c[1].port(), "counter-1", counter_token);
  REQUIRE(counter.connect_and_hello().ok());
  auto next = watcher.wait_type("presence");
  REQUIRE(next);
  CHECK(next->string_field("session") == "counter-1");
  CHECK(online_in(watcher.call(R"({"type":"sessions"})"), "bar-1"));

  bar_on_c.reset();
  auto off = watcher.wait_type("presence");
  REQUIRE(off);
  CHECK(off->string_field("session") == "bar-1");
  CHECK(off->doc["online"].GetBool() == false);
  // counter-1 is on B, which hears of C's change on its own path.
  CHECK(counter.wait_push(presence_is("bar-1", false)));
  CHECK_FALSE(online_in(counter.call(R"({"type":"sessions"})"), "bar-1"));

  // A node that shuts down takes its sessions offline everywhere.
  c[1].shutdown();
  CHECK(watcher.wait_push(presence_is("counter-1", false), kNodeDeathWait));
}

TEST_CASE("cluster: a node killed with kill -9 — its sessions go offline elsewhere, its terminals reconnect to "
          "another node, every sent delivery is replayed once, nothing is stored twice",
          "[pg]") {
  auto location = std::make_shared<TestStore>();
  const std::vector<std::string> cluster_flags = {"--node-heartbeat-ms", std::to_string(kHeartbeatMs),
                                                  "--node-timeout-ms", std::to_string(kNodeTimeoutMs)};
  auto doomed_flags = cluster_flags;
  doomed_flags.insert(doomed_flags.end(), {"--node-id", "doomed"});
  // The survivor in-process, the node to kill as the real binary.
  TestBroker survivor(location, node_options("survivor"));
  auto counter_token = survivor.add_session("counter-1", true, false);
  auto kitchen_token = survivor.add_session("kitchen-1", false, true);
  auto doomed = std::make_unique<BrokerProcess>(location->url(), doomed_flags);

  // kitchen-1 is on the survivor and does not ack, so every delivery stays
  // `sent`; counter-1 is on the doomed node and pipelines 400 sends.
  TestClient kitchen(survivor.port(), "kitchen-1", kitchen_token);
  REQUIRE(kitchen.connect_and_hello().ok());
  constexpr int kSends = 400;
  std::set<std::string> acked;
  std::mutex mu;
  std::atomic<int> replies{0};
  {
    TestClient counter(doomed->port, "counter-1", counter_token);
    REQUIRE(counter.connect_and_hello().ok());
    REQUIRE(kitchen.wait_push(presence_is("counter-1", true)));
    for (int i = 0; i < kSends; ++i) {
      const std::string ref = "K-" + std::to_string(i);
      counter.raw().request(send_json(ref, {"kitchen-1"}), [&, ref](possync::client::Reply r) {
        if (r.ok()) {
          std::lock_guard lock(mu);
          acked.insert(ref);
        }
        ++replies;
      });
      if (i == 250) {
        REQUIRE(eventually([&] { return replies > 50; }, std::chrono::seconds(20)));
        doomed->proc->signal(SIGKILL);
      }
    }
    CHECK(doomed->proc->wait(std::chrono::seconds(10)) == 128 + SIGKILL);
    CHECK(counter.wait_closed().has_value());
  }
  std::set<std::string> acked_before_crash;
  {
    std::lock_guard lock(mu);
    acked_before_crash = acked;
  }
  INFO("acknowledged before the crash: " << acked_before_crash.size());
  REQUIRE(acked_before_crash.size() > 50);

  // The dead node's session goes offline on the survivor within the node timeout.
  CHECK(kitchen.wait_push(presence_is("counter-1", false), kNodeDeathWait));

  // counter-1 reconnects to the survivor and resends every ref (what a
  // terminal does with sends it has no answer for): the acknowledged ones
  // come back as duplicates, the rest are stored now.
  TestClient counter(survivor.port(), "counter-1", counter_token);
  REQUIRE(counter.connect_and_hello().ok());
  int duplicates = 0;
  for (int i = 0; i < kSends; ++i) {
    const std::string ref = "K-" + std::to_string(i);
    auto r = counter.call(send_json(ref, {"kitchen-1"}));
    REQUIRE(r.ok());
    const bool dup = r.message->doc.HasMember("duplicate") && r.message->doc["duplicate"].GetBool();
    if (acked_before_crash.count(ref)) CHECK(dup);
    duplicates += dup ? 1 : 0;
  }
  CHECK(duplicates >= static_cast<int>(acked_before_crash.size()));

  // kitchen-1 reconnects: every delivery still sent is replayed once, in order.
  TestClient kitchen_again(survivor.port(), "kitchen-1", kitchen_token);
  REQUIRE(kitchen_again.connect_and_hello().ok());
  std::map<std::string, int> replayed;
  std::int64_t last_id = 0;
  bool ordered = true;
  while (auto m = kitchen_again.wait_type("order", std::chrono::seconds(2))) {
    ++replayed[m->string_field("ref")];
    ordered = ordered && m->int_field("order_id") > last_id;
    last_id = m->int_field("order_id");
  }
  CHECK(ordered);
  CHECK(replayed.size() == static_cast<std::size_t>(kSends));
  for (const auto& [ref, n] : replayed) {
    INFO(ref);
    CHECK(n == 1);
  }
  // The store holds each ref once, with one delivery and its history.
  CHECK(location->scalar("SELECT COUNT(*) FROM sync_orders") == kSends);
  CHECK(location->scalar("SELECT COUNT(DISTINCT ref) FROM sync_orders") == kSends);
  CHECK(location->scalar("SELECT COUNT(*) FROM deliveries") == kSends);
  survivor.shutdown();
}

TEST_CASE("outage: when PostgreSQL stops, writes are unavailable, /readyz is 503, connections stay, "
          "when it returns, work resumes on every node without a restart",
          "[pg]") {
  PrivateServer server;
  Cluster c(2, server.new_location());
  auto counter_token = c[0].add_session("counter-1", true, false);
  auto kitchen_token = c[0].add_session("kitchen-1", false, true);
  TestClient counter(c[0].port(), "counter-1", counter_token);
  TestClient kitchen(c[1].port(), "kitchen-1", kitchen_token);
  REQUIRE(counter.connect_and_hello().ok());
  REQUIRE(kitchen.connect_and_hello().ok());
  const auto before = sent_id(counter, "before", {"kitchen-1"});
  REQUIRE(kitchen.wait_type("order"));
  CHECK(c[0].http("GET", "/readyz").status == 200);

  server.pause();
  for (int i = 0; i < 2; ++i) CHECK(eventually([&] { return c[i].http("GET", "/readyz").status == 503; }));
  auto refused = counter.call(send_json("during", {"kitchen-1"}));
  REQUIRE(refused.message);
  CHECK(refused.message->error_code() == "unavailable");
  auto refused_deliver = kitchen.call(order_op("deliver", before));
  REQUIRE(refused_deliver.message);
  CHECK(refused_deliver.message->error_code() == "unavailable");
  // The connections and the brokers stay up and answer what needs no store.
  CHECK(counter.sync());
  CHECK(kitchen.sync());
  CHECK(c[1].http("GET", "/healthz").status == 200);
  CHECK(c[0].http("GET", "/metrics").status == 200);

  server.resume();
  for (int i = 0; i < 2; ++i) CHECK(eventually([&] { return c[i].http("GET", "/readyz").status == 200; }));
  // The same ref, retried: stored now, and nothing of the refused attempt was.
  std::optional<possync::client::Reply> retried;
  REQUIRE(eventually([&] {
    retried.emplace(counter.call(send_json("during", {"kitchen-1"})));
    return retried->ok();
  }));
  const bool duplicate = retried->message->doc.HasMember("duplicate") && retried->message->doc["duplicate"].GetBool();
  CHECK_FALSE(duplicate);
  const auto during = retried->message->doc["order_id"].GetInt64();
  // B's cluster listener reconnected by itself: the push crosses nodes again.
  auto pushed = kitchen.wait_type("order");
  REQUIRE(pushed);
  CHECK(pushed->int_field("order_id") == during);
  REQUIRE(kitchen.call(order_op("deliver", before)).ok());
  CHECK(counter.wait_push(status_is(before, "kitchen-1", "delivered")));
  CHECK(c.store->scalar("SELECT COUNT(*) FROM sync_orders") == 2);
}
