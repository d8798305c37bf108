// The Store, part 1: tokens, opening and migrations, durability across a
// reopen, and sessions. Runs against the backend POSSYNC_TEST_STORE names
// (tests/support/test_store.hpp); tests tagged [sqlite] are about SQLite's
// file itself and run in the SQLite registration only.
#include "tests/support/store_harness.hpp"

#include "storage/postgres/migrations.hpp"
#include "storage/sqlite/migrations.hpp"

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

#include "storage/fault_store.hpp"
#include "storage/tokens.hpp"

using namespace possync;
using namespace possync::storage;
using namespace possync::test;
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// Tokens

TEST_CASE("store: tokens are 256 random bits in hex, hashed with SHA-256, compared in constant time", "[store]") {
  const std::string a = generate_token();
  const std::string b = generate_token();
  CHECK(is_hex64(a));
  CHECK(is_hex64(b));
  CHECK(a != b);
  CHECK(hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hash_token("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hash_token(a) != a);
  CHECK(constant_time_equal("same", "same"));
  CHECK_FALSE(constant_time_equal("same", "sane"));
  CHECK_FALSE(constant_time_equal("short", "longer"));
  CHECK(constant_time_equal("", ""));
}

// ---------------------------------------------------------------------------
// Opening, migrations, durability

TEST_CASE("store: open_store refuses other URLs and unusable paths with one clear line", "[store][sqlite]") {
  TestStore dir(StoreBackend::sqlite);
  std::string error;
  CHECK(open_store("mysql://localhost/possync", {}, error) == nullptr);
  CHECK(error == "unsupported store URL 'mysql://localhost/possync' (expected sqlite:PATH or postgresql://…)");

  error.clear();
  CHECK(open_store("sqlite:", {}, error) == nullptr);
  CHECK(error == "unsupported store URL 'sqlite:' (expected sqlite:PATH or postgresql://…)");

  error.clear();
  const std::string missing = (dir.dir() / "no-such-dir" / "x.db").string();
  CHECK(open_store("sqlite:" + missing, {}, error) == nullptr);
  CHECK(error == "cannot open store sqlite:" + missing + ": unable to open database file");

  error.clear();
  const std::string garbage = (dir.dir() / "garbage.db").string();
  {
    std::ofstream out(garbage, std::ios::binary);
    out << std::string(8192, 'x');
  }
  CHECK(open_store("sqlite:" + garbage, {}, error) == nullptr);
  CHECK(error == "cannot open store sqlite:" + garbage + ": file is not a database");
  CHECK(error.find('\n') == std::string::npos);

  error.clear();
  CHECK(open_store("sqlite::memory:", {}, error) == nullptr);
  CHECK_THAT(error, Catch::StartsWith("cannot open store sqlite::memory:"));
}

TEST_CASE("store: a PostgreSQL server that cannot be reached is refused with one clear line", "[store][sqlite]") {
  // Port 1 on loopback: nothing listens there. The password never shows.
  std::string error;
  CHECK(open_store("postgresql://possync:secret@127.0.0.1:1/possync", {}, error) == nullptr);
  CHECK_THAT(error, Catch::StartsWith("cannot open store postgresql://possync:***@127.0.0.1:1/possync: "));
  CHECK(error.find("secret") == std::string::npos);
  CHECK(error.find('\n') == std::string::npos);
  error.clear();
  CHECK(open_store("postgres://127.0.0.1:1/possync?connect_timeout=2", {}, error) == nullptr);
  CHECK_THAT(error, Catch::StartsWith("cannot open store postgres://127.0.0.1:1/possync?connect_timeout=2: "));
}

TEST_CASE("store: the SQLite file is in WAL mode", "[store][sqlite]") {
  Harness h({}, std::make_shared<TestStore>(StoreBackend::sqlite));
  CHECK(h.location()->text("PRAGMA journal_mode") == "wal");
}

TEST_CASE("store: migrations are applied once", "[store]") {
  Harness h;
  const auto versions = static_cast<std::int64_t>(h.postgres() ? possync::storage::postgres::embedded_migrations().size()
                                                                : possync::storage::sqlite::embedded_migrations().size());
  CHECK(h.count("SELECT COUNT(*) FROM schema_version") == versions);
  CHECK(h.count("SELECT COUNT(*) FROM schema_version WHERE version = 1 AND name = '0001_init'") == 1);
  const std::string applied_at = h.location()->text("SELECT applied_at FROM schema_version WHERE version = 1");
  CHECK(is_rfc3339_ms(applied_at));

  // Re-applying 0001 would fail (CREATE TABLE without IF NOT EXISTS), so a
  // successful reopen with an unchanged row proves it ran once.
  h.close();
  h.reopen();
  h.close();
  h.reopen();
  CHECK(h.count("SELECT COUNT(*) FROM schema_version") == versions);
  CHECK(h.location()->text("SELECT applied_at FROM schema_version WHERE version = 1") == applied_at);
}

TEST_CASE("store: a database from a newer schema is refused", "[store]") {
  Harness h;
  h.close();
  h.location()->exec("INSERT INTO schema_version (version, name, applied_at) VALUES (999, '0999_future', 'x')");
  std::string error;
  CHECK(open_store(h.url(), {}, error) == nullptr);
  CHECK_THAT(error, Catch::Contains("schema version 999"));
}

TEST_CASE("store: committed orders survive close and reopen", "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "r-1", {"kitchen-1", "bar-1"});
  REQUIRE(h.deliver("kitchen-1", id).ok());
  h.close();
  h.reopen();

  auto detail = h.get(id);
  REQUIRE(detail.ok());
  CHECK(detail.value().order.order_json == kOrderJson);
  CHECK(receivers_of(detail.value().order) == std::vector<std::string>{"kitchen-1=delivered", "bar-1=sent"});
  CHECK(detail.value().history.size() == 3);
  auto duplicate = h.send("counter-1", "r-1", {"kitchen-1"});  // the ref is still taken
  REQUIRE(duplicate.ok());
  CHECK(duplicate.value().duplicate);
  CHECK(h.sent("counter-1", "r-2", {"kitchen-1"}) > id);
}

// ---------------------------------------------------------------------------
// Sessions

TEST_CASE("store: put_session creates with defaults and a token, updates only the given fields", "[store]") {
  Harness h;
  SessionUpdate create;
  create.session = "pos-1";
  auto created = h.put(create);
  REQUIRE(created.ok());
  CHECK(created.value().created);
  CHECK_FALSE(created.value().shop_changed);
  REQUIRE(created.value().token);
  const std::string token = *created.value().token;
  CHECK(is_hex64(token));
  CHECK(created.value().session.session == "pos-1");
  CHECK(created.value().session.name == "pos-1");
  CHECK(created.value().session.shop == "main");
  CHECK_FALSE(created.value().session.sender);
  CHECK_FALSE(created.value().session.receiver);

  SessionUpdate rename;
  rename.session = "pos-1";
  rename.name = "Front counter";
  rename.sender = true;
  auto renamed = h.put(rename);
  REQUIRE(renamed.ok());
  CHECK_FALSE(renamed.value().created);
  CHECK_FALSE(renamed.value().token);
  CHECK_FALSE(renamed.value().shop_changed);
  CHECK(renamed.value().session.name == "Front counter");
  CHECK(renamed.value().session.sender);
  CHECK_FALSE(renamed.value().session.receiver);
  CHECK(renamed.value().session.shop == "main");

  SessionUpdate same_shop;
  same_shop.session = "pos-1";
  same_shop.shop = "main";
  CHECK_FALSE(h.put(same_shop).value().shop_changed);

  SessionUpdate move;
  move.session = "pos-1";
  move.shop = "shop-2";
  auto moved = h.put(move);
  REQUIRE(moved.ok());
  CHECK(moved.value().shop_changed);
  CHECK(moved.value().session.shop == "shop-2");
  CHECK(moved.value().session.name == "Front counter");

  auto auth = h.authenticate("pos-1", token);  // updates keep the token
  REQUIRE(auth.ok());
  CHECK(auth.value().shop == "shop-2");
  CHECK(auth.value().sender);
}

TEST_CASE("store: put_session validates the session and shop ids", "[store]") {
  Harness h;
  SessionUpdate bad_id;
  bad_id.session = "-bad id";
  auto r1 = h.put(bad_id);
  REQUIRE_FALSE(r1.ok());
  CHECK(r1.error().code == ErrorCode::bad_request);
  CHECK_THAT(r1.error().message, Catch::StartsWith("session:"));

  SessionUpdate bad_shop;
  bad_shop.session = "ok-1";
  bad_shop.shop = "no spaces";
  auto r2 = h.put(bad_shop);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().code == ErrorCode::bad_request);
  CHECK_THAT(r2.error().message, Catch::StartsWith("shop:"));
  CHECK(h.count("SELECT COUNT(*) FROM sessions") == 0);
}

TEST_CASE("store: authenticate accepts only the right token of an existing session", "[store]") {
  Harness h;
  const std::string token = h.create("bar-1", true, true);
  auto ok = h.authenticate("bar-1", token);
  REQUIRE(ok.ok());
  CHECK(ok.value().session == "bar-1");
  CHECK(ok.value().name == "Name of bar-1");
  CHECK(ok.value().shop == "main");
  CHECK(ok.value().sender);
  CHECK(ok.value().receiver);

  for (const auto& [session, presented] : std::vector<std::pair<std::string, std::string>>{
           {"bar-1", generate_token()}, {"bar-1", ""}, {"bar-1", hash_token(token)}, {"ghost", token}}) {
    auto bad = h.authenticate(session, presented);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().code == ErrorCode::unauthorized);
    CHECK(bad.error().message == "bad session or token");
  }
}

TEST_CASE("store: rotate_token replaces the token, unknown sessions are not_found", "[store]") {
  Harness h;
  const std::string old_token = h.create("bar-1", true, true);
  auto rotated = await<std::string>([&](auto cb) { h.store().rotate_token("bar-1", cb); });
  REQUIRE(rotated.ok());
  CHECK(is_hex64(rotated.value()));
  CHECK(rotated.value() != old_token);
  CHECK_FALSE(h.authenticate("bar-1", old_token).ok());
  CHECK(h.authenticate("bar-1", rotated.value()).ok());

  auto missing = await<std::string>([&](auto cb) { h.store().rotate_token("ghost", cb); });
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::not_found);
}

TEST_CASE("store: delete_session removes the session, keeps its orders, and a re-created id gets its "
          "sent deliveries",
          "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "r-1", {"kitchen-1"});
  auto deleted = await<Done>([&](auto cb) { h.store().delete_session("kitchen-1", cb); });
  REQUIRE(deleted.ok());
  auto again = await<Done>([&](auto cb) { h.store().delete_session("kitchen-1", cb); });
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == ErrorCode::not_found);

  CHECK(h.get(id).ok());
  CHECK(h.count("SELECT COUNT(*) FROM deliveries") == 1);
  auto gone = h.send("counter-1", "r-2", {"kitchen-1"});
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().code == ErrorCode::not_found);

  h.create("kitchen-1", false, true);
  auto replay = h.pending("kitchen-1");
  REQUIRE(replay.ok());
  CHECK(ids_of(replay.value()) == std::vector<std::int64_t>{id});
}

TEST_CASE("store: directory and list_sessions are ordered by id and scoped by shop", "[store]") {
  Harness h;
  populate(h);
  auto main_shop = await<std::vector<SessionEntry>>([&](auto cb) { h.store().directory("main", cb); });
  REQUIRE(main_shop.ok());
  std::vector<std::string> ids;
  for (const auto& s : main_shop.value()) ids.push_back(s.session);
  CHECK(ids == std::vector<std::string>{"bar-1", "counter-1", "idle-1", "kitchen-1"});

  auto all = await<std::vector<SessionEntry>>([&](auto cb) { h.store().list_sessions(std::nullopt, cb); });
  REQUIRE(all.ok());
  CHECK(all.value().size() == 5);
  CHECK(all.value().back().session == "kitchen-9");
  CHECK(all.value().back().shop == "other-shop");

  auto other = await<std::vector<SessionEntry>>(
      [&](auto cb) { h.store().list_sessions(std::string("other-shop"), cb); });
  REQUIRE(other.ok());
  REQUIRE(other.value().size() == 1);
  CHECK(other.value()[0].session == "kitchen-9");
  CHECK(other.value()[0].receiver);
}

TEST_CASE("store: tokens are stored only as SHA-256 hashes", "[store]") {
  Harness h;
  const std::string token = h.create("bar-1", true, true);
  auto rotated = await<std::string>([&](auto cb) { h.store().rotate_token("bar-1", cb); });
  REQUIRE(rotated.ok());
  const std::string current = rotated.value();

  const std::string stored = h.location()->text("SELECT token_hash FROM sessions WHERE id = 'bar-1'");
  CHECK(is_hex64(stored));
  CHECK(stored != current);
  CHECK(stored == hash_token(current));
  CHECK(h.count("SELECT COUNT(*) FROM sessions WHERE token_hash = '" + token + "' OR token_hash = '" + current + "'") ==
        0);

  if (h.postgres()) return;  // the files below are SQLite's
  h.close();  // folds the WAL into the main file; check every file anyway
  for (const auto& entry : fs::directory_iterator(h.location()->dir())) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(entry.path().string());
    CHECK(bytes.find(token) == std::string::npos);
    CHECK(bytes.find(current) == std::string::npos);
  }
}
