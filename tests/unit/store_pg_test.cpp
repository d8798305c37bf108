// The Store on PostgreSQL only ([pg]): what a shared database adds. Two
// store instances on one schema stand for two broker nodes. The outage test
// stops and starts a real server of its own (scripts/pg-server.sh, named by
// POSSYNC_TEST_PG_CTL). Waits poll with a bound; nothing asserts on time.
#include "storage/postgres/migrations.hpp"
#include "tests/support/pg_server.hpp"
#include "tests/support/store_harness.hpp"

#include <array>
#include <future>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace possync;
using namespace possync::storage;
using namespace possync::test;

namespace {

TestStorePtr pg_location() { return std::make_shared<TestStore>(StoreBackend::postgres); }

}  // namespace

TEST_CASE("store[pg]: two stores migrating one fresh schema at the same moment both open, once", "[store][pg]") {
  for (int round = 0; round < 3; ++round) {
    auto location = pg_location();
    std::latch start(2);
    std::array<std::unique_ptr<Store>, 2> stores;
    std::array<std::string, 2> errors;
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        stores[i] = open_store(location->url(), {}, errors[i]);
      });
    }
    for (auto& t : threads) t.join();
    INFO(errors[0] << " | " << errors[1]);
    REQUIRE(stores[0] != nullptr);
    REQUIRE(stores[1] != nullptr);
    CHECK(location->scalar("SELECT COUNT(*) FROM schema_version") ==
          static_cast<std::int64_t>(possync::storage::postgres::embedded_migrations().size()));
    for (auto& s : stores) s->close();
  }
}

TEST_CASE("store[pg]: the URL may say postgres:// and carry libpq parameters", "[store][pg]") {
  auto location = pg_location();
  std::string url = location->url();
  REQUIRE(url.rfind("postgresql://", 0) == 0);
  url = "postgres://" + url.substr(std::string("postgresql://").size()) + "&connect_timeout=3";
  std::string error;
  auto store = open_store(url, {}, error);
  INFO(error);
  REQUIRE(store != nullptr);
  CHECK(store->clustered());
  store->close();
  // The tables went to the schema the options named, nowhere else.
  CHECK(location->scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '" +
                         location->schema() + "' AND table_name = 'sync_orders'") == 1);
}

TEST_CASE("store[pg]: a claim is won by exactly one deliver when the two come from two nodes", "[store][pg]") {
  Harness a({}, pg_location());
  Harness b({}, a.location());
  populate(a);
  a.create("kitchen-2", false, true);
  const std::vector<std::string> receivers = {"kitchen-1", "kitchen-2"};
  for (int round = 0; round < 20; ++round) {
    const auto id = a.sent("counter-1", "claim-" + std::to_string(round), receivers, Mode::claim);
    std::array<std::optional<Result<TransitionOutcome>>, 2> results;
    std::latch start(2);
    std::thread on_a([&] {
      start.arrive_and_wait();
      results[0].emplace(a.deliver(receivers[0], id));
    });
    std::thread on_b([&] {
      start.arrive_and_wait();
      results[1].emplace(b.deliver(receivers[1], id));
    });
    on_a.join();
    on_b.join();
    int won = 0;
    std::string winner;
    for (std::size_t i = 0; i < 2; ++i) {
      if (results[i]->ok()) {
        ++won;
        winner = receivers[i];
      } else {
        CHECK(results[i]->error().code == ErrorCode::conflict);
        CHECK(results[i]->error().message == "order " + std::to_string(id) + " is taken");
      }
    }
    REQUIRE(won == 1);
    auto detail = b.get(id);
    REQUIRE(detail.ok());
    for (const auto& r : detail.value().order.receivers) {
      CHECK(r.status == (r.session == winner ? Status::delivered : Status::taken));
    }
    REQUIRE(detail.value().history.size() == 4);
    CHECK(detail.value().history[3].to == Status::taken);
    CHECK(detail.value().history[3].by == winner);
  }
}

TEST_CASE("store[pg]: the same (sender, ref) sent on two nodes at once is stored once", "[store][pg]") {
  Harness a({}, pg_location());
  Harness b({}, a.location());
  populate(a);
  for (int round = 0; round < 20; ++round) {
    const std::string ref = "twice-" + std::to_string(round);
    std::array<std::optional<Result<SendOutcome>>, 2> results;
    std::latch start(2);
    std::thread on_a([&] {
      start.arrive_and_wait();
      results[0].emplace(a.send("counter-1", ref, {"kitchen-1"}));
    });
    std::thread on_b([&] {
      start.arrive_and_wait();
      results[1].emplace(b.send("counter-1", ref, {"bar-1"}));
    });
    on_a.join();
    on_b.join();
    REQUIRE(results[0]->ok());
    REQUIRE(results[1]->ok());
    CHECK(results[0]->value().order.order_id == results[1]->value().order.order_id);
    CHECK(results[0]->value().duplicate != results[1]->value().duplicate);
  }
  CHECK(a.count("SELECT COUNT(*) FROM sync_orders") == 20);
  CHECK(a.count("SELECT COUNT(*) FROM deliveries") == 20);
  CHECK(a.count("SELECT COUNT(*) FROM history") == 20);
}

TEST_CASE("store[pg]: when PostgreSQL stops, requests are unavailable at once and work resumes when it returns",
          "[store][pg]") {
  PrivateServer server;
  auto location = server.new_location();
  Harness h({}, location);
  populate(h);
  const auto id = h.sent("counter-1", "before", {"kitchen-1"});
  const auto rows = h.rows();
  REQUIRE(h.store().stats().writable);

  server.pause();
  // The idle writer's probe notices without any request.
  CHECK(eventually([&] { return !h.store().stats().writable; }));
  auto refused = h.send("counter-1", "during", {"kitchen-1"});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::unavailable);
  auto refused_deliver = h.deliver("kitchen-1", id);
  REQUIRE_FALSE(refused_deliver.ok());
  CHECK(refused_deliver.error().code == ErrorCode::unavailable);
  auto refused_read = h.get(id);
  REQUIRE_FALSE(refused_read.ok());
  CHECK(refused_read.error().code == ErrorCode::unavailable);
  CHECK_FALSE(h.store().stats().writable);

  server.resume();
  // The threads reconnect by themselves (backoff capped at 2 s).
  CHECK(eventually([&] { return h.store().stats().writable; }));
  std::optional<Result<SendOutcome>> retried;
  CHECK(eventually([&] {
    retried.emplace(h.send("counter-1", "during", {"kitchen-1"}));  // the same ref, retried
    return retried->ok();
  }));
  REQUIRE(retried->ok());
  CHECK_FALSE(retried->value().duplicate);  // nothing of the refused attempt was stored
  CHECK(h.rows() == rows + 3);
  auto delivered = h.deliver("kitchen-1", id);
  REQUIRE(delivered.ok());
  CHECK_FALSE(delivered.value().duplicate);
  std::optional<Result<OrderDetail>> read;
  CHECK(eventually([&] {
    read.emplace(h.get(id));
    return read->ok();
  }));
  REQUIRE(read->ok());
  CHECK(receivers_of(read->value().order) == std::vector<std::string>{"kitchen-1=delivered"});
}

TEST_CASE("store[pg]: text PostgreSQL cannot hold (U+0000) is refused, never cut short", "[store][pg]") {
  Harness h({}, pg_location());
  populate(h);
  const auto first = h.sent("counter-1", "a", {"kitchen-1"});
  // libpq would pass "a\0b" as "a": the duplicate of another order.
  auto nul_ref = h.send("counter-1", std::string("a\0b", 3), {"kitchen-1"});
  REQUIRE_FALSE(nul_ref.ok());
  CHECK(nul_ref.error().code == ErrorCode::bad_request);
  CHECK(nul_ref.error().message == "ref: must not contain U+0000");
  auto nul_reason = h.reject("kitchen-1", first, std::string("out\0of stock", 12));
  REQUIRE_FALSE(nul_reason.ok());
  CHECK(nul_reason.error().code == ErrorCode::bad_request);
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders") == 1);
  CHECK(h.count("SELECT COUNT(*) FROM history") == 1);
  auto nul_auth = h.authenticate(std::string("bar-1\0x", 7), "whatever");
  REQUIRE_FALSE(nul_auth.ok());
  CHECK(nul_auth.error().code == ErrorCode::unauthorized);
  OrderFilter filter;
  filter.ref = std::string("a\0b", 3);
  auto page = h.orders(filter);
  REQUIRE(page.ok());
  CHECK(page.value().orders.empty());
}

TEST_CASE("store[pg]: a request that fails in the database leaves nothing and spoils no other in its batch",
          "[store][pg]") {
  Harness h({}, pg_location());
  populate(h);
  // A CHECK constraint the store does not expect to hit: only that request fails.
  h.location()->exec("ALTER TABLE sync_orders ADD CONSTRAINT no_poison CHECK (ref <> 'poison')");
  Sends sends(h.store());
  auto& futures = sends.futures;
  {
    auto gate = Gate::writer(h.store());
    for (const char* ref : {"one", "poison", "two"}) sends.issue(ref, {"kitchen-1"});
  }
  auto one = futures[0].get();
  auto poison = futures[1].get();
  auto two = futures[2].get();
  CHECK(one.ok());
  REQUIRE_FALSE(poison.ok());
  CHECK(poison.error().code == ErrorCode::internal);
  CHECK_THAT(poison.error().message, Catch::Contains("no_poison"));
  CHECK(two.ok());
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders") == 2);
  CHECK(h.count("SELECT COUNT(*) FROM history") == 2);
  CHECK(h.store().stats().writable);
}
