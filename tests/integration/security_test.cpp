// Authentication and authorization (issue #7, item 1), beyond what
// delivery_test, send_test and shops_test already prove: another session's
// and another shop's order ids reveal and change nothing, roles bind on live
// connections, revoked credentials never leave a connection behind (also
// when the revocation races a hello), secrets are stored only as hashes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <fstream>
#include <regex>
#include <thread>

#include <rapidjson/document.h>

#include "storage/tokens.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/process.hpp"

using namespace possync::test;

namespace {

// Shop `main`: counter-1 sends to kitchen-1; bar-1 holds both roles but is
// not addressed. Shop `other`: o-both holds both roles.
struct TwoShops {
  TestBroker broker;
  std::string counter_token = broker.add_session("counter-1", true, false);
  std::string kitchen_token = broker.add_session("kitchen-1", false, true);
  std::string bar_token = broker.add_session("bar-1", true, true);
  std::string other_token = broker.add_session("o-both", true, true, "other");
  TestClient counter{broker.port(), "counter-1", counter_token};
  TestClient kitchen{broker.port(), "kitchen-1", kitchen_token};
  TestClient bar{broker.port(), "bar-1", bar_token};
  TestClient other{broker.port(), "o-both", other_token};
  TwoShops() {
    REQUIRE(counter.connect_and_hello().ok());
    REQUIRE(kitchen.connect_and_hello().ok());
    REQUIRE(bar.connect_and_hello().ok());
    REQUIRE(other.connect_and_hello().ok());
  }
  std::int64_t send(TestClient& from, const std::string& ref, const std::vector<std::string>& to) {
    auto r = from.call(send_json(ref, to));
    REQUIRE(r.ok());
    return r.message->doc["order_id"].GetInt64();
  }
  // The order as the ops API sees it: every delivery's status and the history length.
  std::string state_of(std::int64_t id) {
    auto res = broker.http("GET", "/api/orders/" + std::to_string(id));
    REQUIRE(res.status == 200);
    rapidjson::Document doc;
    doc.Parse(res.body.c_str());
    std::string out;
    for (const auto& d : doc["deliveries"].GetArray()) {
      out += std::string(d["session"].GetString()) + "=" + d["status"].GetString() + " ";
    }
    return out + "history=" + std::to_string(doc["history"].Size());
  }
};

// The order ids a `list` reply carries.
std::vector<std::int64_t> listed(const possync::client::Reply& r) {
  std::vector<std::int64_t> ids;
  REQUIRE(r.ok());
  for (const auto& o : r.message->doc["orders"].GetArray()) ids.push_back(o["order_id"].GetInt64());
  return ids;
}

bool contains(const std::vector<std::int64_t>& ids, std::int64_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

TEST_CASE_METHOD(TwoShops,
                 "authorization: another session's or another shop's order id answers exactly like a missing one "
                 "and changes nothing",
                 "[security]") {
  const auto id = send(counter, "SEC-1", {"kitchen-1"});
  REQUIRE(kitchen.wait_type("order"));
  const auto before = state_of(id);
  const std::int64_t missing = id + 1000;
  // Same shop with both roles but not addressed (bar-1), and another shop (o-both).
  for (TestClient* intruder : {&bar, &other}) {
    for (const char* op : {"ack", "deliver", "reject", "cancel"}) {
      INFO(op);
      auto on_theirs = intruder->call(order_op(op, id));
      auto on_missing = intruder->call(order_op(op, missing));
      REQUIRE(on_theirs.message);
      REQUIRE(on_missing.message);
      CHECK(on_theirs.message->error_code() == "not_found");
      // Word for word the answer for an id that does not exist: no existence leak.
      CHECK(on_theirs.message->string_field("message") ==
            replace_all(on_missing.message->string_field("message"), std::to_string(missing), std::to_string(id)));
    }
    // Neither box lists it, whatever the status filter.
    const std::string every = R"("status":["sent","received","delivered","rejected","cancelled","taken"])";
    CHECK_FALSE(contains(listed(intruder->call(R"({"type":"list","box":"inbox",)" + every + "}")), id));
    CHECK_FALSE(contains(listed(intruder->call(R"({"type":"list","box":"outbox",)" + every + "}")), id));
  }
  CHECK(state_of(id) == before);
  // Nobody heard of a change: the sender and the receiver got no status push.
  REQUIRE(counter.sync());
  REQUIRE(kitchen.sync());
  CHECK(counter.wait_type("status", std::chrono::milliseconds(0)) == nullptr);
  CHECK(kitchen.wait_type("status", std::chrono::milliseconds(0)) == nullptr);
  // The rightful parties still can: the receiver delivers, the sender sees it.
  REQUIRE(kitchen.call(order_op("deliver", id)).ok());
  REQUIRE(counter.wait_push(status_is(id, "kitchen-1", "delivered")));
}

TEST_CASE_METHOD(TwoShops, "authorization: boxes hold exactly what is addressed to or sent by the session",
                 "[security]") {
  const auto to_kitchen = send(counter, "SEC-B1", {"kitchen-1"});
  const auto from_bar = send(bar, "SEC-B2", {"kitchen-1"});
  const auto to_bar = send(counter, "SEC-B3", {"bar-1"});
  const std::string every = R"(,"status":["sent","received","delivered","rejected","cancelled","taken"]})";
  auto box = [&](TestClient& who, const char* name) {
    auto ids = listed(who.call(std::string(R"({"type":"list","box":")") + name + "\"" + every));
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  using Ids = std::vector<std::int64_t>;
  CHECK(box(kitchen, "inbox") == Ids{to_kitchen, from_bar});
  CHECK(box(kitchen, "outbox").empty());
  CHECK(box(bar, "inbox") == Ids{to_bar});
  CHECK(box(bar, "outbox") == Ids{from_bar});
  CHECK(box(counter, "inbox").empty());
  CHECK(box(counter, "outbox") == Ids{to_kitchen, to_bar});
  CHECK(box(other, "inbox").empty());
  CHECK(box(other, "outbox").empty());
  // Pushes followed the same rule: bar-1 got only its own order.
  auto push = bar.wait_type("order");
  REQUIRE(push);
  CHECK(push->int_field("order_id") == to_bar);
  REQUIRE(bar.sync());
  CHECK(bar.wait_type("order", std::chrono::milliseconds(0)) == nullptr);
  REQUIRE(other.sync());
  CHECK(other.wait_type("order", std::chrono::milliseconds(0)) == nullptr);
}

TEST_CASE_METHOD(TwoShops, "authorization: a sender-only session cannot ack, deliver or reject even its own order",
                 "[security]") {
  const auto id = send(counter, "SEC-R1", {"kitchen-1"});
  const auto before = state_of(id);
  for (const char* op : {"ack", "deliver", "reject"}) {
    INFO(op);
    auto r = counter.call(order_op(op, id));
    REQUIRE(r.message);
    CHECK(r.message->error_code() == "forbidden");
  }
  // A receiver of the order that also holds the sender role still may not cancel it.
  const auto to_bar = send(counter, "SEC-R2", {"bar-1"});
  auto c = bar.call(order_op("cancel", to_bar));
  REQUIRE(c.message);
  CHECK(c.message->error_code() == "forbidden");
  CHECK(state_of(id) == before);
}

TEST_CASE_METHOD(TwoShops, "authorization: a role change binds the session's live connections at their next request",
                 "[security]") {
  const auto id = send(counter, "SEC-L1", {"kitchen-1"});
  REQUIRE(kitchen.wait_type("order"));
  // kitchen-1 loses the receiver role: its open connection can no longer deliver.
  REQUIRE(broker.http("PUT", "/api/sessions/kitchen-1", R"({"receiver":false})").status == 200);
  auto refused = kitchen.call(order_op("deliver", id));
  REQUIRE(refused.message);
  CHECK(refused.message->error_code() == "forbidden");
  CHECK(state_of(id).find("kitchen-1=sent") != std::string::npos);
  // counter-1 loses the sender role: its next send is refused, nothing is stored.
  REQUIRE(broker.http("PUT", "/api/sessions/counter-1", R"({"sender":false})").status == 200);
  auto send_refused = counter.call(send_json("SEC-L2", {"kitchen-1"}));
  REQUIRE(send_refused.message);
  CHECK(send_refused.message->error_code() == "forbidden");
  CHECK(broker.http("GET", "/api/orders?ref=SEC-L2").body.find("SEC-L2") == std::string::npos);
  // Given back, both work again on the same connections.
  REQUIRE(broker.http("PUT", "/api/sessions/kitchen-1", R"({"receiver":true})").status == 200);
  REQUIRE(broker.http("PUT", "/api/sessions/counter-1", R"({"sender":true})").status == 200);
  CHECK(kitchen.call(order_op("deliver", id)).ok());
  CHECK(counter.call(send_json("SEC-L3", {"kitchen-1"})).ok());
}

TEST_CASE_METHOD(TwoShops, "credentials: rotating or deleting one session closes only its connections", "[security]") {
  TestClient kitchen2(broker.port(), "kitchen-1", kitchen_token);
  REQUIRE(kitchen2.connect_and_hello().ok());
  REQUIRE(broker.http("POST", "/api/sessions/kitchen-1/token").status == 200);
  CHECK(kitchen.wait_closed().value_or(-1) == 4401);
  CHECK(kitchen2.wait_closed().value_or(-1) == 4401);
  REQUIRE(broker.http("DELETE", "/api/sessions/bar-1").status == 204);
  CHECK(bar.wait_closed().value_or(-1) == 4401);
  // Everyone else carries on, on the same connections.
  for (TestClient* c : {&counter, &other}) {
    CHECK(c->call(R"({"type":"ping"})").ok());
    CHECK_FALSE(c->wait_closed(std::chrono::milliseconds(0)));
  }
  // The deleted session's token is dead too.
  TestClient again(broker.port(), "bar-1", bar_token);
  auto r = again.connect_and_hello();
  REQUIRE(r.message);
  CHECK(r.message->error_code() == "unauthorized");
  CHECK(again.wait_closed().value_or(-1) == 4401);
}

TEST_CASE("credentials: a hello checked against a token that is rotated meanwhile leaves no connection behind",
          "[security][concurrency]") {
  // Hellos with the current token race its rotation. Each either completes
  // before it (then the rotation closes it with 4401) or is refused; none
  // may stay attached with the old token. Several rounds widen the window.
  TestBroker broker;
  std::string token = broker.add_session("kitchen-1", false, true);
  for (int round = 0; round < 15; ++round) {
    std::vector<std::unique_ptr<TestClient>> clients;
    for (int i = 0; i < 6; ++i) {
      clients.push_back(std::make_unique<TestClient>(broker.port(), "kitchen-1", token));
      REQUIRE(clients.back()->connect());
    }
    std::atomic<int> answered{0};
    for (auto& c : clients) c->raw().hello([&answered](possync::client::Reply) { ++answered; });
    auto rot = broker.http("POST", "/api/sessions/kitchen-1/token");
    REQUIRE(rot.status == 200);
    std::smatch m;
    REQUIRE(std::regex_search(rot.body, m, std::regex(R"re("token":"([0-9a-f]{64})")re")));
    token = m[1];
    REQUIRE(eventually([&] { return answered == 6; }));
    for (auto& c : clients) CHECK(c->wait_closed().value_or(-1) == 4401);
    // A client sees the close frame before the broker has torn its side
    // down; a connection left attached would never reach 0.
    CHECK(eventually([&] { return broker.connections_of("kitchen-1") == 0; }));
  }
  TestClient fresh(broker.port(), "kitchen-1", token);
  CHECK(fresh.connect_and_hello().ok());
}

TEST_CASE("credentials: tokens are 256 random bits, stored only as their SHA-256", "[security]") {
  TestBroker broker;
  std::vector<std::string> tokens;
  for (int i = 0; i < 4; ++i) tokens.push_back(broker.add_session("s-" + std::to_string(i), true, true));
  auto rot = broker.http("POST", "/api/sessions/s-0/token");
  REQUIRE(rot.status == 200);
  for (const auto& t : tokens) {
    CHECK(std::regex_match(t, std::regex("[0-9a-f]{64}")));
    CHECK(std::count(tokens.begin(), tokens.end(), t) == 1);
    CHECK(rot.body.find(t) == std::string::npos);
  }
  // The store holds the hash of the current token, never a token.
  const auto& store = *broker.store_location();
  for (int i = 1; i < 4; ++i) {
    auto stored = store.text("SELECT token_hash FROM sessions WHERE id = 's-" + std::to_string(i) + "'");
    CHECK(stored == possync::storage::hash_token(tokens[static_cast<std::size_t>(i)]));
  }
  CHECK(store.scalar("SELECT count(*) FROM sessions WHERE token_hash = '" + tokens[0] + "'") == 0);
  if (!store.postgres()) {
    // Nothing in the database file or its WAL spells out a token.
    for (const auto& name : {store.sqlite_file(), std::filesystem::path(store.sqlite_file().string() + "-wal")}) {
      std::ifstream in(name, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      for (const auto& t : tokens) CHECK(bytes.find(t) == std::string::npos);
    }
  }
  // No listing ever shows a token or its hash.
  auto list = broker.http("GET", "/api/sessions");
  for (int i = 0; i < 4; ++i) {
    CHECK(list.body.find(tokens[static_cast<std::size_t>(i)]) == std::string::npos);
    CHECK(list.body.find(possync::storage::hash_token(tokens[static_cast<std::size_t>(i)])) == std::string::npos);
  }
}

TEST_CASE("admin token: only the exact token passes, on the API and the live stream", "[security]") {
  TestBroker broker;
  const std::string good = broker.admin_token();
  std::string upper = good;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  for (const std::string& wrong : {good.substr(0, good.size() - 1), good + "x", upper, std::string(good.size(), 'a')}) {
    INFO(wrong);
    CHECK(broker.http("GET", "/api/stats", "", wrong).status == 403);
  }
  CHECK(broker.http("GET", "/api/stats", "", good).status == 200);
  possync::client::Options o;
  o.port = broker.port();
  o.path = "/api/live";
  TestClient live(o);
  REQUIRE(live.connect());
  live.send_text(R"({"type":"hello","token":")" + good + "x\"}");
  auto r = live.next_push();
  REQUIRE(r);
  CHECK(r->error_code() == "unauthorized");
  CHECK(live.wait_closed().value_or(-1) == 4401);
}

TEST_CASE("admin token: --admin-token-file keeps it off the command line, a short one is refused", "[security][process]") {
  TempDir dir;
  const std::string token = "file-admin-token-0123456789abcdef";
  std::ofstream(dir.path / "admin") << token << "\n";
  std::ofstream(dir.path / "short") << "short\n";
  ChildProcess broker({POSSYNC_BROKER_BIN, "--listen", "127.0.0.1:0", "--store",
                       "sqlite:" + (dir.path / "b.db").string(), "--admin-token-file",
                       (dir.path / "admin").string(), "--log-level", "warn"});
  auto ws = broker.wait_line("WebSocket ws://", std::chrono::seconds(10));
  REQUIRE(ws);
  std::smatch m;
  REQUIRE(std::regex_search(*ws, m, std::regex(R"(:(\d+)/ws)")));
  const auto port = static_cast<std::uint16_t>(std::stoi(m[1]));
  CHECK(possync::client::http_request("127.0.0.1", port, "GET", "/api/stats", token).status == 200);
  auto bad = run_command({POSSYNC_BROKER_BIN, "--admin-token-file", (dir.path / "short").string()});
  CHECK(bad.exit_code == 2);
  CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
  auto missing = run_command({POSSYNC_BROKER_BIN, "--admin-token-file", (dir.path / "nope").string()});
  CHECK(missing.exit_code == 2);
}
