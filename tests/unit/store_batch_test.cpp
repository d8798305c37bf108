// The Store, part 4: group commit, bounded queues, draining close, failed
// batches and the fault-injecting wrapper. Both backends; [sqlite] tests
// lock SQLite's file from outside.
#include "tests/support/store_harness.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "storage/fault_store.hpp"
#include "storage/postgres/pg_store.hpp"
#include "storage/sqlite/db.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "storage/tokens.hpp"

using namespace possync;
using namespace possync::storage;
using namespace possync::test;
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// Group commit, queues, close

TEST_CASE("store: concurrent writes are committed in groups", "[store][concurrency]") {
  Harness h;
  populate(h);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  const auto before = h.store().stats();

  std::mutex mutex;
  std::vector<Result<SendOutcome>> results;
  std::latch done(kThreads * kPerThread);
  {
    auto gate = Gate::writer(h.store());  // everything below queues behind it
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          SendRequest request{"counter-1", "g-" + std::to_string(t) + "-" + std::to_string(i), {"kitchen-1"},
                              Mode::copy, kOrderJson, 1};
          h.store().send(std::move(request), [&](Result<SendOutcome> r) {
            {
              std::lock_guard lock(mutex);
              results.push_back(std::move(r));
            }
            done.count_down();
          });
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(h.store().stats().write_queue_depth == kThreads * kPerThread);
  }
  done.wait();

  REQUIRE(results.size() == kThreads * kPerThread);
  std::vector<std::int64_t> ids;
  for (const auto& r : results) {
    REQUIRE(r.ok());
    ids.push_back(r.value().order.order_id);
  }
  // Callbacks run in queue order, so ids arrive increasing.
  CHECK(std::is_sorted(ids.begin(), ids.end()));
  const auto after = h.store().stats();
  const auto batches = after.batches_committed - before.batches_committed;
  // The gate's own, then all 200 in one transaction (both backends).
  const std::size_t per_transaction = storage::StoreOptions{}.max_batch;
  const std::size_t writes = kThreads * kPerThread;
  CHECK(batches == 1 + (writes + per_transaction - 1) / per_transaction);
  CHECK(after.writes_committed - before.writes_committed == kThreads * kPerThread + 1);
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders") == kThreads * kPerThread);
}

TEST_CASE("store: a batch holds at most max_batch requests", "[store][concurrency]") {
  StoreOptions options;
  options.max_batch = 50;
  Harness h(options);
  populate(h);
  const auto before = h.store().stats().batches_committed;
  std::latch done(200);
  {
    auto gate = Gate::writer(h.store());
    for (int i = 0; i < 200; ++i) {
      h.store().send({"counter-1", "b-" + std::to_string(i), {"kitchen-1"}, Mode::copy, "{}", 0},
                     [&](Result<SendOutcome>) { done.count_down(); });
    }
  }
  done.wait();
  CHECK(h.store().stats().batches_committed - before == 1 + 4);
}

TEST_CASE("store: a refused request in a batch leaves nothing behind and does not spoil the others", "[store]") {
  Harness h;
  populate(h);
  Sends sends(h.store());
  auto& futures = sends.futures;
  {
    auto gate = Gate::writer(h.store());
    sends.issue("one", {"kitchen-1"});
    sends.issue("two", {"bar-1", "ghost"});  // inserts nothing visible: refused at to[1]
    sends.issue("one", {"bar-1"});           // duplicate of the first, same batch
    sends.issue("three", {"bar-1"});
  }
  auto one = futures[0].get();
  auto two = futures[1].get();
  auto dup = futures[2].get();
  auto three = futures[3].get();
  REQUIRE(one.ok());
  REQUIRE_FALSE(two.ok());
  CHECK(two.error().code == ErrorCode::not_found);
  REQUIRE(dup.ok());
  CHECK(dup.value().duplicate);
  CHECK(dup.value().order.order_id == one.value().order.order_id);
  REQUIRE(three.ok());
  CHECK(three.value().order.order_id > one.value().order.order_id);
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders") == 2);
  CHECK(h.count("SELECT COUNT(*) FROM deliveries") == 2);
  CHECK(h.count("SELECT COUNT(*) FROM history") == 2);
}

TEST_CASE("store: full queues answer unavailable at once on the calling thread", "[store][concurrency]") {
  SECTION("writes") {
    StoreOptions options;
    options.max_write_queue = 2;
    Harness h(options);
    populate(h);
    std::atomic<int> answered{0};
    std::optional<Result<SendOutcome>> refused;
    std::thread::id refused_on;
    {
      auto gate = Gate::writer(h.store());
      for (int i = 0; i < 2; ++i) {
        h.store().send({"counter-1", "q-" + std::to_string(i), {"kitchen-1"}, Mode::copy, "{}", 0},
                       [&](Result<SendOutcome> r) {
                         if (r.ok()) ++answered;
                       });
      }
      h.store().send({"counter-1", "q-full", {"kitchen-1"}, Mode::copy, "{}", 0}, [&](Result<SendOutcome> r) {
        refused_on = std::this_thread::get_id();
        refused.emplace(std::move(r));
      });
      REQUIRE(refused.has_value());  // answered before send() returned
      CHECK(refused_on == std::this_thread::get_id());
      REQUIRE_FALSE(refused->ok());
      CHECK(refused->error().code == ErrorCode::unavailable);
      CHECK(refused->error().message == "store write queue is full");
    }
    h.close();
    CHECK(answered == 2);
    h.reopen();
    CHECK(h.count("SELECT COUNT(*) FROM sync_orders WHERE ref = 'q-full'") == 0);
  }
  SECTION("reads") {
    StoreOptions options;
    options.reader_threads = 1;
    options.max_read_queue = 1;
    Harness h(options);
    std::atomic<bool> queued_answered{false};
    std::optional<Result<std::vector<SessionEntry>>> refused;
    {
      auto gate = Gate::reader(h.store());
      h.store().directory("main", [&](Result<std::vector<SessionEntry>> r) { queued_answered = r.ok(); });
      h.store().directory("main", [&](Result<std::vector<SessionEntry>> r) { refused.emplace(std::move(r)); });
      REQUIRE(refused.has_value());
      REQUIRE_FALSE(refused->ok());
      CHECK(refused->error().code == ErrorCode::unavailable);
      CHECK(h.store().stats().read_queue_depth == 1);
    }
    h.close();
    CHECK(queued_answered);
  }
}

TEST_CASE("store: close drains queued writes, then refuses new requests", "[store][concurrency]") {
  Harness h;
  populate(h);
  constexpr int kQueued = 30;
  std::atomic<int> succeeded{0};
  auto gate = Gate::writer(h.store());
  for (int i = 0; i < kQueued; ++i) {
    h.store().send({"counter-1", "c-" + std::to_string(i), {"kitchen-1"}, Mode::copy, "{}", 0},
                   [&](Result<SendOutcome> r) {
                     if (r.ok()) ++succeeded;
                   });
  }
  std::thread closer([&] { h.store().close(); });
  while (h.store().stats().writable) std::this_thread::yield();  // close() has begun

  std::optional<Result<SendOutcome>> late;
  h.store().send({"counter-1", "late", {"kitchen-1"}, Mode::copy, "{}", 0},
                 [&](Result<SendOutcome> r) { late.emplace(std::move(r)); });
  REQUIRE(late.has_value());
  REQUIRE_FALSE(late->ok());
  CHECK(late->error().code == ErrorCode::unavailable);
  CHECK(late->error().message == "store is closed");

  gate->open();
  closer.join();
  CHECK(succeeded == kQueued);  // every queued write was committed and answered before close() returned

  std::optional<Result<OrderDetail>> read_after_close;
  h.store().get_order(1, [&](Result<OrderDetail> r) { read_after_close.emplace(std::move(r)); });
  REQUIRE(read_after_close.has_value());
  CHECK(read_after_close->error().code == ErrorCode::unavailable);
  h.store().close();  // idempotent

  h.reopen();
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders") == kQueued);
}

TEST_CASE("store: a callback that throws does not stop the writer", "[store][concurrency]") {
  Harness h;
  populate(h);
  h.store().send({"counter-1", "boom", {"kitchen-1"}, Mode::copy, "{}", 0},
                 [](Result<SendOutcome>) { throw std::runtime_error("callback bug"); });
  const auto id = h.sent("counter-1", "after-boom", {"kitchen-1"});
  CHECK(id > 0);
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders") == 2);
}

namespace {

// From another connection: every history row for RECEIVER fails to insert,
// so a send to it fails after it wrote its order and delivery rows.
void fail_history_inserts_for(const TestStore& location, const std::string& receiver) {
  if (location.postgres()) {
    pqxx::connection connection(location.url());
    pqxx::work tx(connection);
    tx.exec("CREATE FUNCTION test_fail_history() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.receiver = '" + receiver + "' THEN RAISE EXCEPTION 'injected failure'; END IF;"
            " RETURN NEW; END $$");
    tx.exec("CREATE TRIGGER test_fail_history BEFORE INSERT ON history FOR EACH ROW"
            " EXECUTE FUNCTION test_fail_history()");
    tx.commit();
  } else {
    sqlite::Db db(location.sqlite_file().string(), SQLITE_OPEN_READWRITE);
    db.exec(("CREATE TRIGGER test_fail_history BEFORE INSERT ON history WHEN NEW.receiver = '" + receiver +
             "' BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
                .c_str());
  }
}

TEST_CASE("store: a request that fails after its first write is undone alone and its batch commits", "[store]") {
  // The engine writes a batch's rows together; when the database refuses
  // some (here a trigger), the batch runs again request by request: only
  // the failed request is undone.
  Harness h;
  populate(h);
  h.create("bad-rx", false, true);
  fail_history_inserts_for(*h.location(), "bad-rx");
  Sends sends(h.store());
  auto& futures = sends.futures;
  const auto committed = h.store().stats().batches_committed;
  {
    auto gate = Gate::writer(h.store());  // the three go in one batch
    sends.issue("before", {"kitchen-1"});
    sends.issue("failing", {"bad-rx"});
    sends.issue("after", {"kitchen-1"});
  }
  auto before = futures[0].get();
  auto failing = futures[1].get();
  auto after = futures[2].get();
  REQUIRE(before.ok());
  REQUIRE_FALSE(failing.ok());
  CHECK(failing.error().code == ErrorCode::internal);
  CHECK_THAT(failing.error().message, Catch::Contains("injected failure"));
  REQUIRE(after.ok());
  // The gate's batch; then the three in one, whose write is refused for rows
  // the engine cannot tell apart, so each runs alone: two commit.
  CHECK(h.store().stats().batches_committed == committed + 3);
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders") == 2);
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders WHERE ref = 'failing'") == 0);
  CHECK(h.count("SELECT COUNT(*) FROM deliveries") == 2);
  CHECK(h.count("SELECT COUNT(*) FROM history") == 2);
  CHECK(h.store().stats().writable);
  // The writer goes on, and the ref that failed is free.
  REQUIRE(h.send("counter-1", "failing", {"kitchen-1"}).ok());
}

// Another connection that holds the lock the store's writer needs, past the
// writer's wait (SQLite's busy timeout, PostgreSQL's lock_timeout).
class Blocker {
 public:
  explicit Blocker(const TestStore& location) {
    if (location.postgres()) {
      pg_ = std::make_unique<pqxx::connection>(location.url());
      pg_tx_ = std::make_unique<pqxx::work>(*pg_);
      pg_tx_->exec("LOCK TABLE sync_orders IN EXCLUSIVE MODE");
    } else {
      sqlite_ = std::make_unique<sqlite::Db>(location.sqlite_file().string(), SQLITE_OPEN_READWRITE);
      sqlite_->exec("BEGIN IMMEDIATE");
    }
  }
  void release() {
    if (pg_tx_) pg_tx_->abort();
    if (sqlite_) sqlite_->exec("ROLLBACK");
  }

 private:
  std::unique_ptr<sqlite::Db> sqlite_;
  std::unique_ptr<pqxx::connection> pg_;
  std::unique_ptr<pqxx::work> pg_tx_;
};

}  // namespace

TEST_CASE("store: when the database stays locked, the whole batch is unavailable and nothing is stored",
          "[store]") {
  Harness h;
  populate(h);
  const auto rows = h.rows();
  const auto committed = h.store().stats().batches_committed;
  {
    Blocker blocker(*h.location());
    auto result = h.send("counter-1", "locked", {"kitchen-1"});
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::unavailable);
    CHECK_THAT(result.error().message, Catch::Contains("lock"));
    CHECK_FALSE(h.store().stats().writable);
    CHECK(h.store().stats().batches_failed == 1);
    blocker.release();
  }
  // The writer's probe notices the lock is gone, without any write.
  CHECK(eventually([&] { return h.store().stats().writable; }, std::chrono::seconds(30)));
  CHECK(h.store().stats().batches_committed == committed);
  CHECK(h.rows() == rows);
  auto retried = h.send("counter-1", "locked", {"kitchen-1"});  // the same ref, retried
  REQUIRE(retried.ok());
  CHECK_FALSE(retried.value().duplicate);
  CHECK(h.store().stats().writable);
}

// ---------------------------------------------------------------------------
// SQLite checkpoints: beside the writer, and a WAL that stays bounded

namespace {
std::uintmax_t file_size_or_zero(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : size;
}
}  // namespace

TEST_CASE("store: SQLite's checkpointer thread copies the WAL into the database file", "[store][sqlite][concurrency]") {
  StoreOptions options;
  options.wal_checkpoint_pages = 8;
  options.wal_max_pages = 1000000;  // the writer never checkpoints itself
  Harness h(options);
  if (h.postgres()) return;  // SQLite's files
  populate(h);
  auto* store = dynamic_cast<sqlite::SqliteStore*>(&h.store());
  REQUIRE(store != nullptr);
  const fs::path db = h.location()->sqlite_file();
  const auto before = file_size_or_zero(db);
  // Far below SQLite's own automatic checkpoint (1000 pages): only the
  // checkpointer makes the database file grow while the store is open.
  std::int64_t last = 0;
  for (int i = 0; i < 40; ++i) last = h.sent("counter-1", "ckpt-" + std::to_string(i), {"kitchen-1"});
  CHECK(eventually([&] { return store->background_checkpoints() > 0 && file_size_or_zero(db) > before; },
                   std::chrono::seconds(30)));
  INFO("database file " << before << " -> " << file_size_or_zero(db) << " bytes");
  CHECK(file_size_or_zero(db) > before);
  // Readers see every order, and so does the file after a reopen.
  CHECK(h.pending("kitchen-1").value().size() == 40);
  h.reopen();
  auto pending = h.pending("kitchen-1");
  REQUIRE(pending.ok());
  REQUIRE(pending.value().size() == 40);
  CHECK(pending.value().back().order_id == last);
}

TEST_CASE("store: past wal_max_pages the SQLite writer checkpoints and the WAL stays bounded", "[store][sqlite]") {
  StoreOptions options;
  options.wal_checkpoint_pages = 1000000;  // the checkpointer thread never runs
  options.wal_max_pages = 32;
  Harness h(options);
  if (h.postgres()) return;  // SQLite's files
  populate(h);
  const fs::path wal = h.location()->sqlite_file().string() + "-wal";
  // 300 orders one per commit write ~2,000 WAL pages without a checkpoint.
  // Each commit restarts the WAL once the previous one reached 32 pages,
  // so the file never holds more than 32 pages plus one commit's.
  constexpr std::uintmax_t kFrame = 4096 + 24;
  std::uintmax_t largest = 0;
  std::int64_t last = 0;
  for (int i = 0; i < 300; ++i) {
    last = h.sent("counter-1", "walmax-" + std::to_string(i), {"kitchen-1"});
    largest = std::max(largest, file_size_or_zero(wal));
  }
  INFO("largest WAL " << largest << " bytes");
  CHECK(largest > 0);
  CHECK(largest <= (32 + 32) * kFrame + 32);
  h.reopen();
  auto pending = h.pending("kitchen-1");
  REQUIRE(pending.ok());
  REQUIRE(pending.value().size() == 300);
  CHECK(pending.value().back().order_id == last);
}

// ---------------------------------------------------------------------------
// FaultStore

TEST_CASE("store: FaultStore fails writes without storing them and forwards the rest", "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "before", {"kitchen-1"});
  const auto rows = h.rows();

  // FaultStore owns its inner store; wrap a second store on the same file.
  std::string error;
  auto inner = open_store(h.url(), {}, error);
  REQUIRE(inner);
  FaultStore faulty(std::move(inner));

  auto send = [&](const std::string& ref) {
    return await<SendOutcome>([&](auto cb) {
      faulty.send({"counter-1", ref, {"kitchen-1"}, Mode::copy, "{}", 0}, cb);
    });
  };
  auto deliver = [&] {
    return await<TransitionOutcome>([&](auto cb) { faulty.deliver("kitchen-1", id, cb); });
  };

  faulty.fail_writes(true);
  CHECK_FALSE(faulty.stats().writable);
  auto refused = send("during");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::unavailable);
  auto refused_deliver = deliver();
  REQUIRE_FALSE(refused_deliver.ok());
  CHECK(refused_deliver.error().code == ErrorCode::unavailable);
  auto refused_put = await<PutSessionOutcome>([&](auto cb) { faulty.put_session({"new-1", {}, {}, {}, {}}, cb); });
  CHECK_FALSE(refused_put.ok());
  CHECK(h.rows() == rows);
  CHECK(h.count("SELECT COUNT(*) FROM sessions WHERE id = 'new-1'") == 0);

  // Reads still pass through.
  auto read = await<OrderDetail>([&](auto cb) { faulty.get_order(id, cb); });
  REQUIRE(read.ok());
  CHECK(receivers_of(read.value().order) == std::vector<std::string>{"kitchen-1=sent"});

  faulty.fail_writes(false);
  CHECK(faulty.stats().writable);
  auto retried = send("during");
  REQUIRE(retried.ok());
  CHECK_FALSE(retried.value().duplicate);

  faulty.fail_next_writes(2, ErrorCode::internal);
  auto first = send("next-1");
  auto second = send("next-2");
  auto third = send("next-3");
  REQUIRE_FALSE(first.ok());
  CHECK(first.error().code == ErrorCode::internal);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == ErrorCode::internal);
  CHECK(third.ok());
  CHECK(faulty.injected_failures() == 5);
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders WHERE ref IN ('next-1', 'next-2')") == 0);

  faulty.close();
  auto closed = send("closed");
  REQUIRE_FALSE(closed.ok());
  CHECK(closed.error().code == ErrorCode::unavailable);
}
