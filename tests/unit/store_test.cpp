// The SQLite Store (storage/): every request's success and error paths, group
// commit, claim atomicity, durability, migrations, draining on close, fault
// injection and token hygiene. Real SQLite files in a fresh temp directory.
// Concurrency is forced with gates (a callback that holds the writer or a
// reader until released), never with sleeps.
#include <catch2/catch.hpp>

#include <stdlib.h>  // mkdtemp

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
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/fault_store.hpp"
#include "storage/sqlite/db.hpp"
#include "storage/store.hpp"
#include "storage/tokens.hpp"

using namespace possync;
using namespace possync::storage;
namespace fs = std::filesystem;

namespace {

// A JSON `order` with the things "verbatim" must keep: a 2^64+ integer, a
// decimal beyond double precision, an escaped NUL and non-ASCII text.
const std::string kOrderJson =
    R"({"name":"Order 1","lines":[{"product_id":18446744073709551617,"name":"Água \u0000 com gás",)"
    R"("qty":2,"price_unit":9.500000000000000000001}],"table":"T4"})";

bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// "2026-11-27T04:16:43.123Z": digits where the template has 'd'.
bool is_rfc3339_ms(const std::string& s) {
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != shape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool ok = shape[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == shape[i];
    if (!ok) return false;
  }
  return true;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "possync-store-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Issues one request and waits for its callback.
template <class T, class Issue>
Result<T> await(Issue&& issue) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  issue([promise](Result<T> result) { promise->set_value(std::move(result)); });
  return future.get();
}

// Holds a store thread inside one callback until open() is called, so that
// everything issued meanwhile queues up behind it. The writer gate uses a
// write (a put_session of a throw-away session), the reader gate a read.
class Gate {
 public:
  static std::unique_ptr<Gate> writer(Store& store) {
    static std::atomic<int> counter{0};
    auto gate = std::make_unique<Gate>();
    SessionUpdate update;
    update.session = "gate-" + std::to_string(counter++);
    store.put_session(std::move(update), [state = gate->state_](Result<PutSessionOutcome>) { state->hold(); });
    gate->state_->entered.wait();
    return gate;
  }
  static std::unique_ptr<Gate> reader(Store& store) {
    auto gate = std::make_unique<Gate>();
    store.list_sessions(std::nullopt,
                        [state = gate->state_](Result<std::vector<SessionEntry>>) { state->hold(); });
    gate->state_->entered.wait();
    return gate;
  }
  Gate() = default;
  ~Gate() { open(); }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  void open() {
    if (!opened_) state_->released.count_down();
    opened_ = true;
  }

 private:
  struct State {
    std::latch entered{1};
    std::latch released{1};
    void hold() {
      entered.count_down();
      released.wait();
    }
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
  bool opened_ = false;
};

class Harness {
 public:
  explicit Harness(StoreOptions options = {}) : options_(options) { reopen(); }

  Store& store() { return *store_; }
  std::string path() const { return (dir_.path() / "store.db").string(); }
  std::string url() const { return "sqlite:" + path(); }
  const fs::path& dir() const { return dir_.path(); }

  void reopen() {
    store_.reset();
    std::string error;
    store_ = open_store(url(), options_, error);
    INFO(error);
    REQUIRE(store_ != nullptr);
  }
  void close() { store_->close(); }

  Result<PutSessionOutcome> put(SessionUpdate update) {
    return await<PutSessionOutcome>([&](auto cb) { store_->put_session(std::move(update), cb); });
  }
  // Creates a session with a display name "Name of ID"; returns its token.
  std::string create(const std::string& id, bool sender, bool receiver, const std::string& shop = "main") {
    SessionUpdate update;
    update.session = id;
    update.name = "Name of " + id;
    update.shop = shop;
    update.sender = sender;
    update.receiver = receiver;
    auto result = put(update);
    INFO((result.ok() ? "" : result.error().message));
    REQUIRE(result.ok());
    REQUIRE(result.value().created);
    REQUIRE(result.value().token.has_value());
    return *result.value().token;
  }

  Result<SendOutcome> send(const std::string& sender, const std::string& ref, std::vector<std::string> to,
                           Mode mode = Mode::copy, const std::string& json = kOrderJson) {
    SendRequest request{sender, ref, std::move(to), mode, json, 1};
    return await<SendOutcome>([&](auto cb) { store_->send(std::move(request), cb); });
  }
  std::int64_t sent(const std::string& sender, const std::string& ref, std::vector<std::string> to,
                    Mode mode = Mode::copy) {
    auto result = send(sender, ref, std::move(to), mode);
    INFO((result.ok() ? "" : result.error().message));
    REQUIRE(result.ok());
    return result.value().order.order_id;
  }
  Result<TransitionOutcome> ack(const std::string& receiver, std::int64_t id) {
    return await<TransitionOutcome>([&](auto cb) { store_->ack(receiver, id, cb); });
  }
  Result<TransitionOutcome> deliver(const std::string& receiver, std::int64_t id) {
    return await<TransitionOutcome>([&](auto cb) { store_->deliver(receiver, id, cb); });
  }
  Result<TransitionOutcome> reject(const std::string& receiver, std::int64_t id,
                                   std::optional<std::string> reason) {
    return await<TransitionOutcome>([&](auto cb) { store_->reject(receiver, id, reason, cb); });
  }
  Result<TransitionOutcome> cancel(const std::string& sender, std::int64_t id) {
    return await<TransitionOutcome>([&](auto cb) { store_->cancel(sender, id, cb); });
  }
  Result<SessionEntry> authenticate(const std::string& session, const std::string& token) {
    return await<SessionEntry>([&](auto cb) { store_->authenticate(session, token, cb); });
  }
  Result<OrderDetail> get(std::int64_t id) {
    return await<OrderDetail>([&](auto cb) { store_->get_order(id, cb); });
  }
  Result<std::vector<OrderRecord>> pending(const std::string& receiver) {
    return await<std::vector<OrderRecord>>([&](auto cb) { store_->pending(receiver, cb); });
  }
  Result<std::vector<OrderRecord>> list(ListQuery query) {
    return await<std::vector<OrderRecord>>([&](auto cb) { store_->list(std::move(query), cb); });
  }
  Result<OrderPage> orders(OrderFilter filter) {
    return await<OrderPage>([&](auto cb) { store_->list_orders(std::move(filter), cb); });
  }

  // A number from the database file itself, through a separate connection.
  std::int64_t count(const char* sql) const {
    sqlite::Db db(path(), SQLITE_OPEN_READONLY);
    auto q = db.query(sql);
    REQUIRE(q.step());
    return q.int64(0);
  }
  std::int64_t rows() const {
    return count("SELECT (SELECT COUNT(*) FROM sync_orders) + (SELECT COUNT(*) FROM deliveries)"
                 " + (SELECT COUNT(*) FROM history)");
  }

 private:
  TempDir dir_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

std::vector<std::int64_t> ids_of(const std::vector<OrderRecord>& orders) {
  std::vector<std::int64_t> ids;
  for (const auto& order : orders) ids.push_back(order.order_id);
  return ids;
}

std::vector<std::string> receivers_of(const OrderRecord& order) {
  std::vector<std::string> names;
  for (const auto& r : order.receivers) names.push_back(r.session + "=" + std::string(protocol::to_string(r.status)));
  return names;
}

// A shop with a sender, two receivers, a session that is both, one without
// roles, and a receiver in another shop.
void populate(Harness& h) {
  h.create("counter-1", true, false);
  h.create("kitchen-1", false, true);
  h.create("bar-1", true, true);
  h.create("idle-1", false, false);
  h.create("kitchen-9", false, true, "other-shop");
}

}  // namespace

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

TEST_CASE("store: open_store refuses other URLs and unusable paths with one clear line", "[store]") {
  TempDir dir;
  std::string error;
  CHECK(open_store("postgresql://localhost/possync", {}, error) == nullptr);
  CHECK(error == "unsupported store URL 'postgresql://localhost/possync' (expected sqlite:PATH)");

  error.clear();
  CHECK(open_store("sqlite:", {}, error) == nullptr);
  CHECK(error == "unsupported store URL 'sqlite:' (expected sqlite:PATH)");

  error.clear();
  const std::string missing = (dir.path() / "no-such-dir" / "x.db").string();
  CHECK(open_store("sqlite:" + missing, {}, error) == nullptr);
  CHECK(error == "cannot open store sqlite:" + missing + ": unable to open database file");

  error.clear();
  const std::string garbage = (dir.path() / "garbage.db").string();
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

TEST_CASE("store: the file is in WAL mode and migrations are applied once", "[store]") {
  Harness h;
  CHECK(h.count("SELECT COUNT(*) FROM schema_version") == 1);
  CHECK(h.count("SELECT COUNT(*) FROM schema_version WHERE version = 1 AND name = '0001_init'") == 1);
  {
    sqlite::Db db(h.path(), SQLITE_OPEN_READONLY);
    CHECK(db.exec_text("PRAGMA journal_mode") == "wal");
  }
  std::string applied_at;
  {
    sqlite::Db db(h.path(), SQLITE_OPEN_READONLY);
    applied_at = db.exec_text("SELECT applied_at FROM schema_version WHERE version = 1");
  }
  CHECK(is_rfc3339_ms(applied_at));

  // Re-applying 0001 would fail (CREATE TABLE without IF NOT EXISTS), so a
  // successful reopen with an unchanged row proves it ran once.
  h.close();
  h.reopen();
  h.close();
  h.reopen();
  CHECK(h.count("SELECT COUNT(*) FROM schema_version") == 1);
  sqlite::Db db(h.path(), SQLITE_OPEN_READONLY);
  CHECK(db.exec_text("SELECT applied_at FROM schema_version WHERE version = 1") == applied_at);
}

TEST_CASE("store: a database from a newer schema is refused", "[store]") {
  Harness h;
  h.close();
  {
    sqlite::Db db(h.path(), SQLITE_OPEN_READWRITE);
    db.exec("INSERT INTO schema_version (version, name, applied_at) VALUES (999, '0999_future', 'x')");
  }
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

TEST_CASE("store: rotate_token replaces the token; unknown sessions are not_found", "[store]") {
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

  {
    sqlite::Db db(h.path(), SQLITE_OPEN_READONLY);
    auto q = db.query("SELECT token_hash FROM sessions WHERE id = 'bar-1'");
    REQUIRE(q.step());
    const std::string stored = q.text(0);
    CHECK(is_hex64(stored));
    CHECK(stored != current);
    CHECK(stored == hash_token(current));
  }

  h.close();  // folds the WAL into the main file; check every file anyway
  for (const auto& entry : fs::directory_iterator(h.dir())) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(entry.path().string());
    CHECK(bytes.find(token) == std::string::npos);
    CHECK(bytes.find(current) == std::string::npos);
  }
}

// ---------------------------------------------------------------------------
// send

TEST_CASE("store: send stores the order verbatim with one sent delivery and one creation entry per receiver",
          "[store]") {
  Harness h;
  populate(h);
  auto result = h.send("counter-1", "Order 00012-003-0004", {"kitchen-1", "bar-1"}, Mode::claim);
  REQUIRE(result.ok());
  const SendOutcome& outcome = result.value();
  CHECK_FALSE(outcome.duplicate);
  const OrderRecord& order = outcome.order;
  CHECK(order.order_id > 0);
  CHECK(order.ref == "Order 00012-003-0004");
  CHECK(order.shop == "main");
  CHECK(order.from == "counter-1");
  CHECK(order.from_name == "Name of counter-1");
  CHECK(order.mode == Mode::claim);
  CHECK(is_rfc3339_ms(order.created_at));
  CHECK(order.updated_at == order.created_at);
  CHECK(order.order_json == kOrderJson);
  CHECK(order.line_count == 1);
  CHECK(receivers_of(order) == std::vector<std::string>{"kitchen-1=sent", "bar-1=sent"});
  CHECK(order.receivers[0].updated_at == order.created_at);

  CHECK(h.count("SELECT COUNT(*) FROM sync_orders") == 1);
  CHECK(h.count("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'") == 2);
  CHECK(h.count("SELECT COUNT(*) FROM history WHERE from_status IS NULL AND to_status = 'sent'"
                " AND by_session = 'counter-1'") == 2);

  auto detail = h.get(order.order_id);
  REQUIRE(detail.ok());
  CHECK(detail.value().order.order_json == kOrderJson);
  CHECK(detail.value().order.from_name == "Name of counter-1");
  REQUIRE(detail.value().history.size() == 2);
  for (const auto& entry : detail.value().history) {
    CHECK_FALSE(entry.from.has_value());
    CHECK(entry.to == Status::sent);
    CHECK(entry.by == "counter-1");
    CHECK(entry.at == order.created_at);
  }
  CHECK(detail.value().history[0].session == "kitchen-1");
  CHECK(detail.value().history[1].session == "bar-1");
}

TEST_CASE("store: send with the same (sender, ref) returns the original and writes nothing", "[store]") {
  Harness h;
  populate(h);
  auto first = h.send("counter-1", "ref-1", {"kitchen-1"});
  REQUIRE(first.ok());
  const auto rows = h.rows();

  auto again = h.send("counter-1", "ref-1", {"bar-1", "kitchen-1"}, Mode::claim, R"({"other":true})");
  REQUIRE(again.ok());
  CHECK(again.value().duplicate);
  CHECK(again.value().order.order_id == first.value().order.order_id);
  CHECK(again.value().order.order_json == kOrderJson);
  CHECK(again.value().order.mode == Mode::copy);
  CHECK(again.value().order.created_at == first.value().order.created_at);
  CHECK(receivers_of(again.value().order) == std::vector<std::string>{"kitchen-1=sent"});
  CHECK(h.rows() == rows);

  // The same ref from another sender is another order.
  auto other_sender = h.send("bar-1", "ref-1", {"kitchen-1"});
  REQUIRE(other_sender.ok());
  CHECK_FALSE(other_sender.value().duplicate);
  CHECK(other_sender.value().order.order_id != first.value().order.order_id);

  // A duplicate reports the deliveries' current status.
  REQUIRE(h.ack("kitchen-1", first.value().order.order_id).ok());
  auto later = h.send("counter-1", "ref-1", {"kitchen-1"});
  REQUIRE(later.ok());
  CHECK(receivers_of(later.value().order) == std::vector<std::string>{"kitchen-1=received"});
}

TEST_CASE("store: order ids strictly increase", "[store]") {
  Harness h;
  populate(h);
  std::int64_t previous = 0;
  for (int i = 0; i < 25; ++i) {
    const auto id = h.sent("counter-1", "ref-" + std::to_string(i), {"kitchen-1"});
    CHECK(id > previous);
    previous = id;
  }
  // A refused send in between consumes nothing visible and breaks no order.
  CHECK_FALSE(h.send("counter-1", "refused", {"ghost"}).ok());
  CHECK(h.sent("counter-1", "after", {"kitchen-1"}) > previous);
}

TEST_CASE("store: send refuses senders without the role and bad receivers, and writes nothing", "[store]") {
  Harness h;
  populate(h);
  struct Case {
    std::string sender;
    std::vector<std::string> to;
    ErrorCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"kitchen-1", {"bar-1"}, ErrorCode::forbidden, "session kitchen-1 lacks the sender role"},
      {"ghost", {"bar-1"}, ErrorCode::forbidden, "session ghost lacks the sender role"},
      {"counter-1", {"kitchen-1", "ghost"}, ErrorCode::not_found, "to[1]: unknown receiver session ghost"},
      {"counter-1", {"idle-1"}, ErrorCode::not_found, "to[0]: unknown receiver session idle-1"},
      {"counter-1", {"kitchen-9"}, ErrorCode::not_found, "to[0]: unknown receiver session kitchen-9"},
      {"counter-1", {"counter-1"}, ErrorCode::bad_request, "to[0]: cannot send to yourself"},
      {"bar-1", {"kitchen-1", "bar-1"}, ErrorCode::bad_request, "to[1]: cannot send to yourself"},
      {"bar-1", {"kitchen-1", "kitchen-1"}, ErrorCode::bad_request, "to[1]: duplicate receiver kitchen-1"},
  };
  for (const auto& c : cases) {
    auto result = h.send(c.sender, "ref-x", c.to);
    CAPTURE(c.message);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == c.code);
    CHECK(result.error().message == c.message);
  }
  CHECK(h.rows() == 0);
  // And the ref is still free: a refused send reserved nothing.
  auto ok = h.send("counter-1", "ref-x", {"kitchen-1"});
  REQUIRE(ok.ok());
  CHECK_FALSE(ok.value().duplicate);
}

TEST_CASE("store: send uses the sender's current shop", "[store]") {
  Harness h;
  populate(h);
  SessionUpdate move;
  move.session = "counter-1";
  move.shop = "other-shop";
  REQUIRE(h.put(move).ok());
  auto refused = h.send("counter-1", "r", {"kitchen-1"});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::not_found);
  auto accepted = h.send("counter-1", "r", {"kitchen-9"});
  REQUIRE(accepted.ok());
  CHECK(accepted.value().order.shop == "other-shop");
}

// ---------------------------------------------------------------------------
// ack / deliver / reject / cancel

TEST_CASE("store: ack moves sent to received once, later acks are no-ops", "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "r", {"kitchen-1", "bar-1"});
  auto first = h.ack("kitchen-1", id);
  REQUIRE(first.ok());
  CHECK(first.value().order_id == id);
  REQUIRE(first.value().changes.size() == 1);
  const StatusChange& change = first.value().changes[0];
  CHECK(change.order_id == id);
  CHECK(change.shop == "main");
  CHECK(change.sender == "counter-1");
  CHECK(change.session == "kitchen-1");
  CHECK(change.status == Status::received);
  CHECK(change.by == "kitchen-1");
  CHECK_FALSE(change.reason.has_value());
  CHECK(is_rfc3339_ms(change.at));

  const auto rows = h.rows();
  auto again = h.ack("kitchen-1", id);
  REQUIRE(again.ok());
  CHECK(again.value().changes.empty());
  REQUIRE(h.deliver("kitchen-1", id).ok());
  auto after_final = h.ack("kitchen-1", id);
  REQUIRE(after_final.ok());
  CHECK(after_final.value().changes.empty());
  CHECK(h.rows() == rows + 1);  // only the deliver's history row

  auto detail = h.get(id);
  REQUIRE(detail.ok());
  CHECK(receivers_of(detail.value().order) == std::vector<std::string>{"kitchen-1=delivered", "bar-1=sent"});
  CHECK(detail.value().order.updated_at == detail.value().order.receivers[0].updated_at);
}

TEST_CASE("store: ack, deliver and reject need the receiver role and a delivery to the caller", "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "r", {"kitchen-1"});
  h.create("kitchen-2", false, true);
  const auto rows = h.rows();

  using Call = std::function<Result<TransitionOutcome>(const std::string&, std::int64_t)>;
  const std::vector<std::pair<std::string, Call>> calls = {
      {"ack", [&](const std::string& s, std::int64_t o) { return h.ack(s, o); }},
      {"deliver", [&](const std::string& s, std::int64_t o) { return h.deliver(s, o); }},
      {"reject", [&](const std::string& s, std::int64_t o) { return h.reject(s, o, "no"); }},
  };
  for (const auto& [name, call] : calls) {
    CAPTURE(name);
    auto no_role = call("counter-1", id);
    REQUIRE_FALSE(no_role.ok());
    CHECK(no_role.error().code == ErrorCode::forbidden);
    CHECK(no_role.error().message == "session counter-1 lacks the receiver role");

    auto not_addressed = call("kitchen-2", id);
    REQUIRE_FALSE(not_addressed.ok());
    CHECK(not_addressed.error().code == ErrorCode::not_found);
    CHECK(not_addressed.error().message == "order " + std::to_string(id) + " not found");

    auto unknown = call("kitchen-1", id + 1000);
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().code == ErrorCode::not_found);
    CHECK(unknown.error().message == "order " + std::to_string(id + 1000) + " not found");
  }
  CHECK(h.rows() == rows);
}

TEST_CASE("store: deliver in copy mode delivers one copy; a repeat is a duplicate", "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "r", {"kitchen-1", "bar-1"});
  REQUIRE(h.ack("kitchen-1", id).ok());

  auto delivered = h.deliver("kitchen-1", id);
  REQUIRE(delivered.ok());
  CHECK_FALSE(delivered.value().duplicate);
  CHECK(delivered.value().order_json == kOrderJson);
  REQUIRE(delivered.value().changes.size() == 1);
  CHECK(delivered.value().changes[0].status == Status::delivered);
  CHECK(delivered.value().changes[0].session == "kitchen-1");

  const auto rows = h.rows();
  auto repeat = h.deliver("kitchen-1", id);
  REQUIRE(repeat.ok());
  CHECK(repeat.value().duplicate);
  CHECK(repeat.value().order_json == kOrderJson);
  CHECK(repeat.value().changes.empty());
  CHECK(h.rows() == rows);

  auto other_copy = h.deliver("bar-1", id);  // copy mode: the other receiver may deliver too
  REQUIRE(other_copy.ok());
  CHECK_FALSE(other_copy.value().duplicate);

  auto detail = h.get(id);
  REQUIRE(detail.ok());
  CHECK(receivers_of(detail.value().order) == std::vector<std::string>{"kitchen-1=delivered", "bar-1=delivered"});
  const auto& history = detail.value().history;
  REQUIRE(history.size() == 5);
  CHECK(history[2].from == Status::sent);
  CHECK(history[2].to == Status::received);
  CHECK(history[3].from == Status::received);
  CHECK(history[3].to == Status::delivered);
  CHECK(history[4].session == "bar-1");
  CHECK(history[4].from == Status::sent);
}

TEST_CASE("store: reject keeps the first reason; final deliveries refuse with a conflict naming the status",
          "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "r", {"kitchen-1", "bar-1"});
  auto rejected = h.reject("kitchen-1", id, "out of stock");
  REQUIRE(rejected.ok());
  CHECK_FALSE(rejected.value().duplicate);
  REQUIRE(rejected.value().changes.size() == 1);
  CHECK(rejected.value().changes[0].status == Status::rejected);
  CHECK(rejected.value().changes[0].reason == std::optional<std::string>("out of stock"));

  auto repeat = h.reject("kitchen-1", id, "changed my mind");
  REQUIRE(repeat.ok());
  CHECK(repeat.value().duplicate);
  CHECK(repeat.value().changes.empty());

  auto deliver_rejected = h.deliver("kitchen-1", id);
  REQUIRE_FALSE(deliver_rejected.ok());
  CHECK(deliver_rejected.error().code == ErrorCode::conflict);
  CHECK(deliver_rejected.error().message == "order " + std::to_string(id) + " is rejected");

  REQUIRE(h.deliver("bar-1", id).ok());
  auto reject_delivered = h.reject("bar-1", id, std::nullopt);
  REQUIRE_FALSE(reject_delivered.ok());
  CHECK(reject_delivered.error().code == ErrorCode::conflict);
  CHECK(reject_delivered.error().message == "order " + std::to_string(id) + " is delivered");

  auto detail = h.get(id);
  REQUIRE(detail.ok());
  std::vector<std::optional<std::string>> reasons;
  for (const auto& entry : detail.value().history) {
    if (entry.to == Status::rejected) reasons.push_back(entry.reason);
  }
  CHECK(reasons == std::vector<std::optional<std::string>>{std::string("out of stock")});
}

TEST_CASE("store: deliver in claim mode takes every other open delivery", "[store]") {
  Harness h;
  populate(h);
  h.create("kitchen-2", false, true);
  const auto id = h.sent("counter-1", "r", {"kitchen-1", "bar-1", "kitchen-2"}, Mode::claim);
  REQUIRE(h.reject("kitchen-2", id, "busy").ok());

  auto won = h.deliver("bar-1", id);
  REQUIRE(won.ok());
  CHECK(won.value().order_json == kOrderJson);
  REQUIRE(won.value().changes.size() == 2);
  CHECK(won.value().changes[0].session == "bar-1");
  CHECK(won.value().changes[0].status == Status::delivered);
  CHECK(won.value().changes[1].session == "kitchen-1");
  CHECK(won.value().changes[1].status == Status::taken);
  CHECK(won.value().changes[1].by == "bar-1");
  CHECK(won.value().changes[1].sender == "counter-1");

  for (auto result : {h.deliver("kitchen-1", id), h.reject("kitchen-1", id, std::nullopt)}) {
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::conflict);
    CHECK(result.error().message == "order " + std::to_string(id) + " is taken");
  }
  auto detail = h.get(id);
  REQUIRE(detail.ok());
  CHECK(receivers_of(detail.value().order) ==
        std::vector<std::string>{"kitchen-1=taken", "bar-1=delivered", "kitchen-2=rejected"});
}

TEST_CASE("store: a claim is won by exactly one of two concurrent delivers", "[store]") {
  Harness h;
  populate(h);
  h.create("kitchen-2", false, true);
  const std::vector<std::string> receivers = {"kitchen-1", "kitchen-2"};

  auto check_claim = [&](std::int64_t id, const std::vector<Result<TransitionOutcome>>& results) {
    int won = 0;
    int lost = 0;
    std::string winner;
    std::string loser;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i].ok()) {
        ++won;
        winner = receivers[i];
      } else {
        ++lost;
        loser = receivers[i];
        CHECK(results[i].error().code == ErrorCode::conflict);
        CHECK(results[i].error().message == "order " + std::to_string(id) + " is taken");
      }
    }
    REQUIRE(won == 1);
    REQUIRE(lost == 1);
    auto detail = h.get(id);
    REQUIRE(detail.ok());
    for (const auto& r : detail.value().order.receivers) {
      CHECK(r.status == (r.session == winner ? Status::delivered : Status::taken));
    }
    const auto& history = detail.value().history;
    REQUIRE(history.size() == 4);
    CHECK(history[2].session == winner);
    CHECK(history[2].to == Status::delivered);
    CHECK(history[3].session == loser);
    CHECK(history[3].to == Status::taken);
    CHECK(history[3].by == winner);
  };

  SECTION("issued from two threads at once") {
    for (int round = 0; round < 10; ++round) {
      const auto id = h.sent("counter-1", "claim-" + std::to_string(round), receivers, Mode::claim);
      std::vector<std::optional<Result<TransitionOutcome>>> slots(2);
      std::latch start(2);
      std::vector<std::thread> threads;
      for (std::size_t i = 0; i < 2; ++i) {
        threads.emplace_back([&, i] {
          start.arrive_and_wait();
          slots[i].emplace(h.deliver(receivers[i], id));
        });
      }
      for (auto& t : threads) t.join();
      check_claim(id, {std::move(*slots[0]), std::move(*slots[1])});
    }
  }

  SECTION("queued into the same batch") {
    const auto id = h.sent("counter-1", "claim-batch", receivers, Mode::claim);
    const auto batches_before = h.store().stats().batches_committed;
    std::vector<std::future<Result<TransitionOutcome>>> futures;
    {
      auto gate = Gate::writer(h.store());
      for (const auto& r : receivers) {
        auto promise = std::make_shared<std::promise<Result<TransitionOutcome>>>();
        futures.push_back(promise->get_future());
        h.store().deliver(r, id, [promise](Result<TransitionOutcome> res) { promise->set_value(std::move(res)); });
      }
    }
    std::vector<Result<TransitionOutcome>> results;
    for (auto& f : futures) results.push_back(f.get());
    CHECK(results[0].ok());  // queue order decides within a batch
    CHECK(h.store().stats().batches_committed == batches_before + 2);  // the gate's, then both delivers
    check_claim(id, results);
  }
}

TEST_CASE("store: cancel by the sender cancels every open delivery", "[store]") {
  Harness h;
  populate(h);
  h.create("kitchen-2", false, true);
  const auto id = h.sent("counter-1", "r", {"kitchen-1", "bar-1", "kitchen-2"});
  REQUIRE(h.deliver("bar-1", id).ok());
  REQUIRE(h.ack("kitchen-2", id).ok());

  auto by_receiver = h.cancel("kitchen-1", id);
  REQUIRE_FALSE(by_receiver.ok());
  CHECK(by_receiver.error().code == ErrorCode::forbidden);
  auto by_stranger = h.cancel("idle-1", id);
  REQUIRE_FALSE(by_stranger.ok());
  CHECK(by_stranger.error().code == ErrorCode::not_found);
  CHECK(by_stranger.error().message == "order " + std::to_string(id) + " not found");
  auto unknown = h.cancel("counter-1", id + 1000);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == ErrorCode::not_found);

  auto cancelled = h.cancel("counter-1", id);
  REQUIRE(cancelled.ok());
  CHECK(cancelled.value().order_id == id);
  REQUIRE(cancelled.value().changes.size() == 2);
  CHECK(cancelled.value().changes[0].session == "kitchen-1");
  CHECK(cancelled.value().changes[1].session == "kitchen-2");
  for (const auto& change : cancelled.value().changes) {
    CHECK(change.status == Status::cancelled);
    CHECK(change.by == "counter-1");
    CHECK(change.sender == "counter-1");
  }
  std::vector<std::string> after;
  for (const auto& r : cancelled.value().receivers) {
    after.push_back(r.session + "=" + std::string(protocol::to_string(r.status)));
  }
  CHECK(after == std::vector<std::string>{"kitchen-1=cancelled", "bar-1=delivered", "kitchen-2=cancelled"});

  const auto rows = h.rows();
  auto again = h.cancel("counter-1", id);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == ErrorCode::conflict);
  CHECK(again.error().message == "every delivery of order " + std::to_string(id) + " is final");
  CHECK(h.rows() == rows);

  auto too_late = h.deliver("kitchen-1", id);
  REQUIRE_FALSE(too_late.ok());
  CHECK(too_late.error().message == "order " + std::to_string(id) + " is cancelled");
}

TEST_CASE("store: history records every change in order, creation first", "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "r", {"kitchen-1", "bar-1"});
  REQUIRE(h.ack("bar-1", id).ok());
  REQUIRE(h.reject("bar-1", id, "no table").ok());
  REQUIRE(h.cancel("counter-1", id).ok());

  auto detail = h.get(id);
  REQUIRE(detail.ok());
  const auto& history = detail.value().history;
  REQUIRE(history.size() == 5);
  struct Expect {
    std::string session;
    std::optional<Status> from;
    Status to;
    std::string by;
    std::optional<std::string> reason;
  };
  const std::vector<Expect> expected = {
      {"kitchen-1", std::nullopt, Status::sent, "counter-1", std::nullopt},
      {"bar-1", std::nullopt, Status::sent, "counter-1", std::nullopt},
      {"bar-1", Status::sent, Status::received, "bar-1", std::nullopt},
      {"bar-1", Status::received, Status::rejected, "bar-1", std::string("no table")},
      {"kitchen-1", Status::sent, Status::cancelled, "counter-1", std::nullopt},
  };
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(history[i].session == expected[i].session);
    CHECK(history[i].from == expected[i].from);
    CHECK(history[i].to == expected[i].to);
    CHECK(history[i].by == expected[i].by);
    CHECK(history[i].reason == expected[i].reason);
    CHECK(is_rfc3339_ms(history[i].at));
    if (i > 0) CHECK(history[i].at >= history[i - 1].at);
  }
  CHECK(detail.value().order.updated_at == history.back().at);

  auto missing = h.get(id + 1);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::not_found);
}

// ---------------------------------------------------------------------------
// Reads

TEST_CASE("store: pending lists the receiver's sent deliveries, oldest first, with only its delivery",
          "[store]") {
  Harness h;
  populate(h);
  const auto a = h.sent("counter-1", "a", {"kitchen-1", "bar-1"});
  const auto b = h.sent("counter-1", "b", {"bar-1"});
  const auto c = h.sent("counter-1", "c", {"kitchen-1"});
  const auto d = h.sent("counter-1", "d", {"bar-1", "kitchen-1"});
  REQUIRE(h.ack("kitchen-1", c).ok());

  auto pending = h.pending("kitchen-1");
  REQUIRE(pending.ok());
  CHECK(ids_of(pending.value()) == std::vector<std::int64_t>{a, d});
  for (const auto& order : pending.value()) {
    CHECK(receivers_of(order) == std::vector<std::string>{"kitchen-1=sent"});
    CHECK(order.order_json == kOrderJson);
    CHECK(order.from == "counter-1");
    CHECK(order.from_name == "Name of counter-1");
  }
  auto none = h.pending("idle-1");
  REQUIRE(none.ok());
  CHECK(none.value().empty());
  CHECK(b > a);
}

TEST_CASE("store: list shows the inbox and the outbox, newest first, with status filters and paging",
          "[store]") {
  Harness h;
  populate(h);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(h.sent("counter-1", "o-" + std::to_string(i), {"kitchen-1", "bar-1"}));
  const auto from_bar = h.sent("bar-1", "from-bar", {"kitchen-1"});
  REQUIRE(h.ack("kitchen-1", ids[1]).ok());
  REQUIRE(h.deliver("kitchen-1", ids[2]).ok());
  REQUIRE(h.reject("bar-1", ids[3], std::nullopt).ok());

  ListQuery inbox;
  inbox.session = "kitchen-1";
  auto all_open = h.list(inbox);
  REQUIRE(all_open.ok());
  CHECK(ids_of(all_open.value()) == std::vector<std::int64_t>{from_bar, ids[5], ids[4], ids[3], ids[1], ids[0]});
  for (const auto& order : all_open.value()) {
    REQUIRE(order.receivers.size() == 1);
    CHECK(order.receivers[0].session == "kitchen-1");
  }
  CHECK(all_open.value()[4].receivers[0].status == Status::received);

  inbox.statuses = {Status::delivered};
  auto delivered = h.list(inbox);
  REQUIRE(delivered.ok());
  CHECK(ids_of(delivered.value()) == std::vector<std::int64_t>{ids[2]});

  inbox.statuses = {};
  inbox.limit = 2;
  inbox.before = ids[4];
  auto page = h.list(inbox);
  REQUIRE(page.ok());
  CHECK(ids_of(page.value()) == std::vector<std::int64_t>{ids[3], ids[1]});

  ListQuery outbox;
  outbox.session = "counter-1";
  outbox.box = protocol::Box::outbox;
  auto sent = h.list(outbox);
  REQUIRE(sent.ok());
  CHECK(ids_of(sent.value()) == std::vector<std::int64_t>{ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]});
  CHECK(receivers_of(sent.value()[2]) == std::vector<std::string>{"kitchen-1=sent", "bar-1=rejected"});

  outbox.statuses = {Status::rejected, Status::delivered};
  auto finals = h.list(outbox);
  REQUIRE(finals.ok());
  CHECK(ids_of(finals.value()) == std::vector<std::int64_t>{ids[3], ids[2]});
  CHECK(receivers_of(finals.value()[1]) == std::vector<std::string>{"kitchen-1=delivered", "bar-1=sent"});

  ListQuery bar_outbox;
  bar_outbox.session = "bar-1";
  bar_outbox.box = protocol::Box::outbox;
  auto bars = h.list(bar_outbox);
  REQUIRE(bars.ok());
  CHECK(ids_of(bars.value()) == std::vector<std::int64_t>{from_bar});
}

TEST_CASE("store: list_orders filters by shop, sender, receiver, ref and status, and pages", "[store]") {
  Harness h;
  populate(h);
  h.create("counter-9", true, false, "other-shop");
  std::vector<std::int64_t> main_ids;
  for (int i = 0; i < 5; ++i) main_ids.push_back(h.sent("counter-1", "m-" + std::to_string(i), {"kitchen-1"}));
  const auto by_bar = h.sent("bar-1", "m-0", {"kitchen-1"});
  const auto other = h.sent("counter-9", "x-0", {"kitchen-9"});
  const auto to_bar = h.sent("counter-1", "to-bar", {"bar-1", "kitchen-1"});
  REQUIRE(h.deliver("bar-1", to_bar).ok());
  REQUIRE(h.reject("kitchen-1", main_ids[0], "no").ok());

  auto query = [&](OrderFilter f) {
    auto page = h.orders(std::move(f));
    REQUIRE(page.ok());
    return page.value();
  };

  OrderFilter everything;
  auto all = query(everything);
  CHECK(ids_of(all.orders) ==
        std::vector<std::int64_t>{to_bar, other, by_bar, main_ids[4], main_ids[3], main_ids[2], main_ids[1],
                                  main_ids[0]});
  CHECK_FALSE(all.next_before.has_value());
  CHECK(all.orders[0].line_count == 1);
  CHECK(receivers_of(all.orders[0]) == std::vector<std::string>{"bar-1=delivered", "kitchen-1=sent"});

  OrderFilter shop;
  shop.shop = "other-shop";
  CHECK(ids_of(query(shop).orders) == std::vector<std::int64_t>{other});

  OrderFilter sender;
  sender.sender = "bar-1";
  CHECK(ids_of(query(sender).orders) == std::vector<std::int64_t>{by_bar});

  OrderFilter ref;
  ref.ref = "m-0";
  CHECK(ids_of(query(ref).orders) == std::vector<std::int64_t>{by_bar, main_ids[0]});
  ref.sender = "counter-1";
  CHECK(ids_of(query(ref).orders) == std::vector<std::int64_t>{main_ids[0]});

  OrderFilter receiver;
  receiver.receiver = "bar-1";
  CHECK(ids_of(query(receiver).orders) == std::vector<std::int64_t>{to_bar});

  OrderFilter status;
  status.statuses = {Status::delivered, Status::rejected};
  CHECK(ids_of(query(status).orders) == std::vector<std::int64_t>{to_bar, main_ids[0]});

  // With a receiver the status applies to that receiver's delivery.
  OrderFilter receiver_status;
  receiver_status.receiver = "kitchen-1";
  receiver_status.statuses = {Status::delivered};
  CHECK(query(receiver_status).orders.empty());
  receiver_status.statuses = {Status::sent};
  CHECK(ids_of(query(receiver_status).orders) ==
        std::vector<std::int64_t>{to_bar, by_bar, main_ids[4], main_ids[3], main_ids[2], main_ids[1]});

  OrderFilter paged;
  paged.shop = "main";
  paged.limit = 3;
  std::vector<std::int64_t> seen;
  int pages = 0;
  for (;;) {
    auto page = query(paged);
    ++pages;
    for (auto id : ids_of(page.orders)) seen.push_back(id);
    if (!page.next_before) break;
    CHECK(*page.next_before == page.orders.back().order_id);
    paged.before = page.next_before;
  }
  CHECK(pages == 3);
  CHECK(seen == std::vector<std::int64_t>{to_bar, by_bar, main_ids[4], main_ids[3], main_ids[2], main_ids[1],
                                          main_ids[0]});

  OrderFilter exact;  // a page that ends exactly at the last order has no next
  exact.limit = 8;
  CHECK_FALSE(query(exact).next_before.has_value());
  exact.limit = 7;
  CHECK(query(exact).next_before == main_ids[1]);
}

// ---------------------------------------------------------------------------
// Group commit, queues, close

TEST_CASE("store: concurrent writes are committed in groups", "[store]") {
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
  CHECK(batches == 2);  // the gate's own, then all 200 in one transaction
  CHECK(after.writes_committed - before.writes_committed == kThreads * kPerThread + 1);
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders") == kThreads * kPerThread);
}

TEST_CASE("store: a batch holds at most max_batch requests", "[store]") {
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
  std::vector<std::future<Result<SendOutcome>>> futures;
  auto issue = [&](std::string ref, std::vector<std::string> to) {
    auto promise = std::make_shared<std::promise<Result<SendOutcome>>>();
    futures.push_back(promise->get_future());
    h.store().send({"counter-1", std::move(ref), std::move(to), Mode::copy, "{}", 0},
                   [promise](Result<SendOutcome> r) { promise->set_value(std::move(r)); });
  };
  {
    auto gate = Gate::writer(h.store());
    issue("one", {"kitchen-1"});
    issue("two", {"bar-1", "ghost"});  // inserts nothing visible: refused at to[1]
    issue("one", {"bar-1"});           // duplicate of the first, same batch
    issue("three", {"bar-1"});
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

TEST_CASE("store: full queues answer unavailable at once on the calling thread", "[store]") {
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

TEST_CASE("store: close drains queued writes, then refuses new requests", "[store]") {
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

TEST_CASE("store: a callback that throws does not stop the writer", "[store]") {
  Harness h;
  populate(h);
  h.store().send({"counter-1", "boom", {"kitchen-1"}, Mode::copy, "{}", 0},
                 [](Result<SendOutcome>) { throw std::runtime_error("callback bug"); });
  const auto id = h.sent("counter-1", "after-boom", {"kitchen-1"});
  CHECK(id > 0);
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders") == 2);
}

TEST_CASE("store: when the database stays locked, the whole batch is unavailable and nothing is stored",
          "[store]") {
  Harness h;
  populate(h);
  const auto rows = h.rows();
  const auto committed = h.store().stats().batches_committed;
  {
    // Another connection holds the write lock past the store's busy timeout.
    sqlite::Db blocker(h.path(), SQLITE_OPEN_READWRITE);
    blocker.exec("BEGIN IMMEDIATE");
    auto result = h.send("counter-1", "locked", {"kitchen-1"});
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::unavailable);
    CHECK_THAT(result.error().message, Catch::Contains("locked"));
    CHECK_FALSE(h.store().stats().writable);
    CHECK(h.store().stats().batches_failed == 1);
    blocker.exec("ROLLBACK");
  }
  // The writer's probe notices the lock is gone, without any write.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!h.store().stats().writable && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling, not timing
  }
  CHECK(h.store().stats().writable);
  CHECK(h.store().stats().batches_committed == committed);
  CHECK(h.rows() == rows);
  auto retried = h.send("counter-1", "locked", {"kitchen-1"});  // the same ref, retried
  REQUIRE(retried.ok());
  CHECK_FALSE(retried.value().duplicate);
  CHECK(h.store().stats().writable);
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
