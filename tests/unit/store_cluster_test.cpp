// The cluster feed of the PostgreSQL store ([pg]): two store instances on
// one schema stand for two broker nodes. What one commits reaches the
// other as ClusterEvents (never itself), presence travels and a silent node
// is reaped, and a listener that lost its connection re-reads what it
// missed. Small heartbeat/timeout values; waits poll with a bound and never
// assert on elapsed time.
#include "tests/support/pg_server.hpp"
#include "tests/support/store_harness.hpp"

#include <condition_variable>
#include <functional>
#include <latch>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using namespace possync;
using namespace possync::storage;
using namespace possync::test;

namespace {

constexpr auto kEventWait = std::chrono::seconds(20);

// Records every event a node's handler receives. Declare it before the
// Harness whose store calls it.
class Events {
 public:
  std::function<void(const ClusterEvent&)> handler() {
    return [this](const ClusterEvent& event) {
      std::function<void(const ClusterEvent&)> hook;
      {
        std::lock_guard lock(mutex_);
        hook = hook_;
      }
      if (hook) hook(event);
      std::lock_guard lock(mutex_);
      events_.push_back(event);
      cv_.notify_all();
    };
  }
  // Runs on the store's thread before an event is recorded (a gate).
  void set_hook(std::function<void(const ClusterEvent&)> hook) {
    std::lock_guard lock(mutex_);
    hook_ = std::move(hook);
  }
  // The first recorded event that satisfies `pred`, waiting for it.
  std::optional<ClusterEvent> wait(const std::function<bool(const ClusterEvent&)>& pred) {
    std::unique_lock lock(mutex_);
    std::optional<ClusterEvent> found;
    cv_.wait_for(lock, kEventWait, [&] {
      for (const auto& e : events_) {
        if (pred(e)) {
          found = e;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::size_t count(const std::function<bool(const ClusterEvent&)>& pred) {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(events_.begin(), events_.end(), pred));
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<ClusterEvent> events_;
  std::function<void(const ClusterEvent&)> hook_;
};

ClusterOptions node(const std::string& id) {
  ClusterOptions options;
  options.node_id = id;
  options.heartbeat_ms = 100;
  options.node_timeout_ms = 1000;
  return options;
}

auto order_event(std::int64_t id) {
  return [id](const ClusterEvent& e) { return e.kind == ClusterEvent::Kind::order && e.order.order_id == id; };
}

auto change_event(std::int64_t id, const std::string& session, Status status) {
  return [=](const ClusterEvent& e) {
    if (e.kind != ClusterEvent::Kind::changes) return false;
    return std::any_of(e.changes.begin(), e.changes.end(), [&](const StatusChange& c) {
      return c.order_id == id && c.session == session && c.status == status;
    });
  };
}

auto presence_event(const std::string& node_id, const std::string& session, int connections) {
  return [=](const ClusterEvent& e) {
    return e.kind == ClusterEvent::Kind::presence && e.presence.node == node_id && e.presence.session == session &&
           e.presence.connections == connections;
  };
}

std::vector<NodePresence> remote(Store& store) {
  auto result = await<std::vector<NodePresence>>([&](auto cb) { store.remote_presence(cb); });
  REQUIRE(result.ok());
  return result.value();
}

bool holds(const std::vector<NodePresence>& rows, const std::string& node_id, const std::string& session,
           int connections) {
  return std::any_of(rows.begin(), rows.end(), [&](const NodePresence& p) {
    return p.node == node_id && p.session == session && p.connections == connections;
  });
}

// Holds node-b's cluster listener inside its handler (on the presence
// event of session "gate" from node a) and kills its connection meanwhile:
// what node a commits until release() can reach B only through the
// re-read after B reconnects.
class DeafListener {
 public:
  DeafListener(Harness& a, Events& on_b) : on_b_(on_b) {
    on_b_.set_hook([this](const ClusterEvent& e) {
      if (e.kind == ClusterEvent::Kind::presence && e.presence.session == "gate") {
        entered_.count_down();
        released_.wait();
      }
    });
    a.store().set_presence("gate", "main", 1);
    entered_.wait();
    const std::string listener = "application_name = 'possync cluster node-b'";
    a.location()->exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE " + listener);
    REQUIRE(eventually([&] {
      return a.location()->scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE " + listener) == 0;
    }));
  }
  ~DeafListener() { release(); }
  DeafListener(const DeafListener&) = delete;
  DeafListener& operator=(const DeafListener&) = delete;

  void release() {
    if (done_) return;
    done_ = true;
    on_b_.set_hook({});
    released_.count_down();
  }

 private:
  Events& on_b_;
  std::latch entered_{1};
  std::latch released_{1};
  bool done_ = false;
};

}  // namespace

TEST_CASE("cluster[pg]: an order and its changes committed on one node reach the other, not itself",
          "[store][pg]") {
  Events on_a;
  Events on_b;
  Harness a({}, std::make_shared<TestStore>(StoreBackend::postgres));
  Harness b({}, a.location());
  REQUIRE(a.store().clustered());
  a.store().start_cluster(node("node-a"), on_a.handler());
  b.store().start_cluster(node("node-b"), on_b.handler());
  populate(a);
  a.create("kitchen-2", false, true);

  const auto id = a.sent("counter-1", "c-1", {"kitchen-1", "kitchen-2"}, Mode::claim);
  auto order = on_b.wait(order_event(id));
  REQUIRE(order);
  CHECK(order->order.ref == "c-1");
  CHECK(order->order.from == "counter-1");
  CHECK(order->order.from_name == "Name of counter-1");
  CHECK(order->order.shop == "main");
  CHECK(order->order.mode == Mode::claim);
  CHECK(order->order.order_json == kOrderJson);
  CHECK(order->order.updated_at == order->order.created_at);
  CHECK(receivers_of(order->order) == std::vector<std::string>{"kitchen-1=sent", "kitchen-2=sent"});

  REQUIRE(b.deliver("kitchen-2", id).ok());
  auto changes = on_a.wait(change_event(id, "kitchen-2", Status::delivered));
  REQUIRE(changes);
  // The claim's two transitions, in commit order, in one event.
  REQUIRE(changes->changes.size() == 2);
  const StatusChange& won = changes->changes[0];
  const StatusChange& taken = changes->changes[1];
  CHECK(won.shop == "main");
  CHECK(won.sender == "counter-1");
  CHECK(won.by == "kitchen-2");
  CHECK(is_rfc3339_ms(won.at));
  CHECK(taken.session == "kitchen-1");
  CHECK(taken.status == Status::taken);
  CHECK(taken.by == "kitchen-2");
  CHECK_FALSE(taken.reason.has_value());

  REQUIRE(a.ack("kitchen-1", a.sent("counter-1", "c-2", {"kitchen-1"})).ok());
  const auto rejected = a.sent("counter-1", "c-3", {"kitchen-1"});
  REQUIRE(b.reject("kitchen-1", rejected, std::string("out of stock")).ok());
  auto reason = on_a.wait(change_event(rejected, "kitchen-1", Status::rejected));
  REQUIRE(reason);
  CHECK(reason->changes[0].reason == std::optional<std::string>("out of stock"));

  // Each node's own commits come back through its callbacks, never as events.
  CHECK(on_a.count(order_event(id)) == 0);
  CHECK(on_b.count(change_event(id, "kitchen-2", Status::delivered)) == 0);
  CHECK(on_b.wait(order_event(rejected)));
}

TEST_CASE("cluster[pg]: presence and revocations travel, remote_presence lists the other live nodes",
          "[store][pg]") {
  Events on_a;
  Events on_b;
  Harness a({}, std::make_shared<TestStore>(StoreBackend::postgres));
  Harness b({}, a.location());
  a.store().start_cluster(node("node-a"), on_a.handler());
  b.store().start_cluster(node("node-b"), on_b.handler());

  a.store().set_presence("kitchen-1", "main", 2);
  auto seen = on_b.wait(presence_event("node-a", "kitchen-1", 2));
  REQUIRE(seen);
  CHECK(seen->presence.shop == "main");
  CHECK(holds(remote(b.store()), "node-a", "kitchen-1", 2));
  CHECK(remote(a.store()).empty());  // its own sessions are not remote

  a.store().set_presence("kitchen-1", "main", 0);
  CHECK(on_b.wait(presence_event("node-a", "kitchen-1", 0)));
  CHECK(eventually([&] { return remote(b.store()).empty(); }));

  b.store().revoke_session("bar-1", 4401);
  auto revoked = on_a.wait([](const ClusterEvent& e) { return e.kind == ClusterEvent::Kind::revoke; });
  REQUIRE(revoked);
  CHECK(revoked->revoked_session == "bar-1");
  CHECK(revoked->close_code == 4401);
  CHECK(on_b.count([](const ClusterEvent& e) { return e.kind == ClusterEvent::Kind::revoke; }) == 0);

  // A node that closes leaves at once: its sessions go offline everywhere.
  a.store().set_presence("bar-1", "main", 1);
  REQUIRE(on_b.wait(presence_event("node-a", "bar-1", 1)));
  a.close();
  CHECK(on_b.wait(presence_event("node-a", "bar-1", 0)));
  CHECK(a.count("SELECT COUNT(*) FROM cluster_nodes WHERE node_id = 'node-a'") == 0);
}

TEST_CASE("cluster[pg]: the sessions of a node that stops heartbeating go offline on every node", "[store][pg]") {
  auto location = std::make_shared<TestStore>(StoreBackend::postgres);
  Events on_a;
  Events on_b;
  Harness a({}, location);
  Harness b({}, location);
  // A node that held bar-1 and kitchen-1, and then died without leaving.
  location->exec(
      "INSERT INTO cluster_nodes (node_id) VALUES ('ghost');"
      "INSERT INTO cluster_presence (node, session, shop, connections) VALUES ('ghost', 'bar-1', 'main', 3),"
      " ('ghost', 'kitchen-1', 'main', 1)");
  a.store().start_cluster(node("node-a"), on_a.handler());
  b.store().start_cluster(node("node-b"), on_b.handler());

  for (Events* events : {&on_a, &on_b}) {
    CHECK(events->wait(presence_event("ghost", "bar-1", 0)));
    CHECK(events->wait(presence_event("ghost", "kitchen-1", 0)));
  }
  CHECK(location->scalar("SELECT COUNT(*) FROM cluster_nodes WHERE node_id = 'ghost'") == 0);
  CHECK(location->scalar("SELECT COUNT(*) FROM cluster_presence WHERE node = 'ghost'") == 0);
  // The live nodes keep their heartbeats and are not reaped.
  CHECK(location->scalar("SELECT COUNT(*) FROM cluster_nodes WHERE node_id IN ('node-a', 'node-b')") == 2);
  CHECK(on_a.count(presence_event("node-b", "bar-1", 0)) == 0);
}

TEST_CASE("cluster[pg]: a node restarted under the same id clears what its previous process held", "[store][pg]") {
  auto location = std::make_shared<TestStore>(StoreBackend::postgres);
  Events on_a;
  Events on_b;
  Harness b({}, location);
  b.store().start_cluster(node("node-b"), on_b.handler());
  location->exec(
      "INSERT INTO cluster_nodes (node_id) VALUES ('node-a');"
      "INSERT INTO cluster_presence (node, session, shop, connections) VALUES ('node-a', 'bar-1', 'main', 2)");
  Harness a({}, location);
  a.store().start_cluster(node("node-a"), on_a.handler());
  CHECK(on_b.wait(presence_event("node-a", "bar-1", 0)));
  CHECK(location->scalar("SELECT COUNT(*) FROM cluster_presence WHERE node = 'node-a'") == 0);
}

TEST_CASE("cluster[pg]: after the listener lost its connection, what was committed meanwhile still arrives",
          "[store][pg]") {
  Events on_a;
  Events on_b;
  Harness a({}, std::make_shared<TestStore>(StoreBackend::postgres));
  Harness b({}, a.location());
  a.store().start_cluster(node("node-a"), on_a.handler());
  b.store().start_cluster(node("node-b"), on_b.handler());
  populate(a);
  const auto before = a.sent("counter-1", "gap-0", {"kitchen-1"});
  REQUIRE(on_b.wait(order_event(before)));

  // Hold B's listener inside its handler, kill its connection meanwhile, and
  // commit while it cannot hear: only the re-read after the reconnect can
  // bring these to B.
  DeafListener deaf(a, on_b);

  const auto missed = a.sent("counter-1", "gap-1", {"kitchen-1", "bar-1"});
  REQUIRE(a.deliver("kitchen-1", before).ok());
  a.store().set_presence("kitchen-1", "main", 4);
  REQUIRE(eventually([&] {
    return a.location()->scalar("SELECT COUNT(*) FROM cluster_presence WHERE session = 'kitchen-1'") == 1;
  }));
  deaf.release();

  auto order = on_b.wait(order_event(missed));
  REQUIRE(order);
  CHECK(receivers_of(order->order) == std::vector<std::string>{"kitchen-1=sent", "bar-1=sent"});
  CHECK(on_b.wait(change_event(before, "kitchen-1", Status::delivered)));
  CHECK(on_b.wait(presence_event("node-a", "kitchen-1", 4)));
  // The listener is back: new commits arrive as before.
  const auto after = a.sent("counter-1", "gap-2", {"kitchen-1"});
  CHECK(on_b.wait(order_event(after)));
  // What was emitted before the gap is not emitted again.
  CHECK(on_b.count(order_event(before)) == 1);
}

TEST_CASE("cluster[pg]: a revocation made while a node's listener was away is still emitted there, once",
          "[store][pg]") {
  Events on_a;
  Events on_b;
  Harness a({}, std::make_shared<TestStore>(StoreBackend::postgres));
  Harness b({}, a.location());
  a.store().start_cluster(node("node-a"), on_a.handler());
  b.store().start_cluster(node("node-b"), on_b.handler());
  const auto revoked = [](const std::string& session) {
    return [session](const ClusterEvent& e) {
      return e.kind == ClusterEvent::Kind::revoke && e.revoked_session == session;
    };
  };
  a.store().revoke_session("kitchen-1", 4401);
  REQUIRE(on_b.wait(revoked("kitchen-1")));

  // B's listener held inside its handler while its connection is killed:
  // the NOTIFY of the revocation below reaches nobody on B's side.
  DeafListener deaf(a, on_b);
  a.store().revoke_session("bar-1", 1012);
  REQUIRE(eventually([&] {
    return a.location()->scalar("SELECT COUNT(*) FROM cluster_revocations WHERE session = 'bar-1'") == 1;
  }));
  deaf.release();

  auto missed = on_b.wait(revoked("bar-1"));
  REQUIRE(missed);
  CHECK(missed->close_code == 1012);
  // Re-read after the reconnect, not emitted twice; the one before the gap
  // not again either; and A never hears its own.
  a.store().revoke_session("counter-1", 4401);
  REQUIRE(on_b.wait(revoked("counter-1")));
  CHECK(on_b.count(revoked("bar-1")) == 1);
  CHECK(on_b.count(revoked("kitchen-1")) == 1);
  CHECK(on_a.count([](const ClusterEvent& e) { return e.kind == ClusterEvent::Kind::revoke; }) == 0);
}

TEST_CASE("cluster[pg]: listeners that start or reconnect during a database outage miss nothing",
          "[store][pg]") {
  PrivateServer server;
  auto location = server.new_location();
  Events on_a;
  Events on_b;
  Harness a({}, location);
  Harness b({}, location);
  a.store().start_cluster(node("node-a"), on_a.handler());
  populate(a);

  server.pause();
  // B's listener cannot connect: start_cluster returns after its first
  // attempt, and it keeps trying.
  b.store().start_cluster(node("node-b"), on_b.handler());
  server.resume();

  std::optional<Result<SendOutcome>> sent;
  REQUIRE(eventually([&] {
    sent.emplace(a.send("counter-1", "after-outage", {"kitchen-1"}));
    return sent->ok();
  }));
  const auto id = sent->value().order.order_id;
  CHECK(on_b.wait(order_event(id)));
  // And back to A, whose listener lost its connection in the outage.
  std::optional<Result<TransitionOutcome>> delivered;
  REQUIRE(eventually([&] {
    delivered.emplace(b.deliver("kitchen-1", id));
    return delivered->ok();
  }));
  CHECK(on_a.wait(change_event(id, "kitchen-1", Status::delivered)));
}
