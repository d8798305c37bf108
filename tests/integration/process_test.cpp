// The real binaries as child processes: command-line contract, SIGTERM,
// durability across kill -9, and the README walkthrough with the CLI.
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>

#include <rapidjson/document.h>

#include "tests/integration/harness.hpp"
#include "tests/integration/broker_process.hpp"

using namespace possync::test;

namespace {

const std::string& kAdmin = kProcessAdmin;

}  // namespace

TEST_CASE("command line: --help and --version exit 0, a bad flag or value and an unusable store exit 2 with one line",
          "[process]") {
  auto help = run_command({POSSYNC_BROKER_BIN, "--help"});
  CHECK(help.exit_code == 0);
  for (const char* flag : {"--listen", "--store", "--admin-token", "--demo", "--hello-timeout-ms",
                           "--max-message-bytes", "--heartbeat-ms"}) {
    CHECK(help.out.find(flag) != std::string::npos);
  }
  auto version = run_command({POSSYNC_BROKER_BIN, "--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.find("possync-broker") != std::string::npos);
  std::vector<std::vector<std::string>> bad = {
      {POSSYNC_BROKER_BIN, "--no-such-flag"},
      {POSSYNC_BROKER_BIN, "--listen", "nowhere"},
      {POSSYNC_BROKER_BIN, "--heartbeat-ms", "soon"},
      {POSSYNC_BROKER_BIN, "--listen"},
      {POSSYNC_BROKER_BIN, "--store", "sqlite:/nonexistent-dir/x.db", "--listen", "127.0.0.1:0"},
      {POSSYNC_BROKER_BIN, "--store", "mysql://x", "--listen", "127.0.0.1:0"},
  };
  for (const auto& argv : bad) {
    INFO(argv.back());
    auto r = run_command(argv);
    CHECK(r.exit_code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.rfind("possync-broker: ", 0) == 0);
  }
}

TEST_CASE("command line: --demo prints the URLs and demo tokens, SIGTERM exits 0 and closes with 1001", "[process]") {
  TempDir dir;
  std::vector<std::string> argv = {POSSYNC_BROKER_BIN, "--listen", "127.0.0.1:0", "--store",
                                   "sqlite:" + (dir.path / "demo.db").string(), "--demo", "--log-level", "warn"};
  ChildProcess broker(argv);
  std::vector<std::string> lines;
  for (int i = 0; i < 8; ++i) {
    auto line = broker.read_line(std::chrono::seconds(10));
    REQUIRE(line);
    lines.push_back(*line);
  }
  std::uint16_t port = 0;
  std::string kitchen_token;
  std::set<std::string> prefixes;
  for (const auto& l : lines) {
    prefixes.insert(l.substr(0, l.find(' ')));
    std::smatch m;
    if (std::regex_search(l, m, std::regex(R"(^WebSocket ws://127\.0\.0\.1:(\d+)/ws$)"))) port = static_cast<std::uint16_t>(std::stoi(m[1]));
    if (std::regex_search(l, m, std::regex(R"(^demo session kitchen-1 token ([0-9a-f]{64})$)"))) kitchen_token = m[1];
  }
  CHECK(prefixes == std::set<std::string>{"WebSocket", "Dashboard", "POS", "Metrics", "demo", "admin"});
  REQUIRE(port != 0);
  REQUIRE(kitchen_token.size() == 64);
  TestClient k(port, "kitchen-1", kitchen_token);
  REQUIRE(k.connect_and_hello().ok());
  broker.signal(SIGTERM);
  CHECK(k.wait_closed().value_or(-1) == 1001);
  CHECK(broker.wait(std::chrono::seconds(10)) == 0);
}

TEST_CASE("durability: after kill -9 and a restart on the same file, every acknowledged send is there and every "
          "sent delivery is replayed, none twice",
          "[process]") {
  TempDir dir;
  auto db = (dir.path / "crash.db").string();
  std::set<std::string> acked;
  std::mutex mu;
  // Outside the block: the client's thread still answers the requests left
  // in flight (with an error) while `counter` is destroyed at the block's end.
  std::atomic<int> replies{0};
  {
    BrokerProcess broker("sqlite:" + db);
    auto counter_token = broker.add_session("counter-1", true, false);
    broker.add_session("kitchen-1", false, true);
    std::ofstream(dir.path / "token") << counter_token;
    TestClient counter(broker.port, "counter-1", counter_token);
    REQUIRE(counter.connect_and_hello().ok());
    // Keep sends flowing; kill the broker while many are in flight.
    for (int i = 0; i < 400; ++i) {
      std::string ref = "K-" + std::to_string(i);
      counter.raw().request(send_json(ref, {"kitchen-1"}), [&, ref](possync::client::Reply r) {
        if (r.ok()) {
          std::lock_guard lock(mu);
          acked.insert(ref);
        }
        ++replies;
      });
      if (i == 250) {
        REQUIRE(eventually([&] { return replies > 50; }, std::chrono::seconds(20)));
        broker.proc->signal(SIGKILL);
      }
    }
    CHECK(broker.proc->wait(std::chrono::seconds(10)) == 128 + SIGKILL);
  }
  INFO("acknowledged before the crash: " << acked.size());
  REQUIRE(acked.size() > 50);

  BrokerProcess broker("sqlite:" + db);
  auto kitchen_token = broker.add_session("kitchen-2", false, true);  // the store is writable again
  (void)kitchen_token;
  auto rot = possync::client::http_request("127.0.0.1", broker.port, "POST", "/api/sessions/kitchen-1/token", kAdmin);
  REQUIRE(rot.status == 200);
  rapidjson::Document d;
  d.Parse(rot.body.c_str());
  TestClient kitchen(broker.port, "kitchen-1", d["token"].GetString());
  REQUIRE(kitchen.connect_and_hello().ok());
  std::map<std::string, int> replayed;
  std::set<std::int64_t> ids;
  std::int64_t last_id = 0;
  bool ordered = true;
  while (auto m = kitchen.wait_type("order", std::chrono::seconds(2))) {
    ++replayed[m->string_field("ref")];
    auto id = m->int_field("order_id");
    ordered = ordered && id > last_id;
    last_id = id;
    ids.insert(id);
  }
  CHECK(ordered);
  for (const auto& ref : acked) {
    INFO(ref);
    CHECK(replayed[ref] == 1);
  }
  for (const auto& [ref, n] : replayed) CHECK(n == 1);
  // The store holds exactly one order per ref.
  auto list = possync::client::http_request("127.0.0.1", broker.port, "GET", "/api/orders?limit=500", kAdmin);
  rapidjson::Document l;
  l.Parse(list.body.c_str());
  std::map<std::string, int> stored;
  for (const auto& o : l["orders"].GetArray()) ++stored[o["ref"].GetString()];
  for (const auto& [ref, n] : stored) CHECK(n == 1);
  CHECK(stored.size() == ids.size());
}

TEST_CASE("cli: the README walkthrough — counter-1 sends, kitchen-1 listens and delivers, the history shows it",
          "[process]") {
  TempDir dir;
  BrokerProcess broker("sqlite:" + (dir.path / "cli.db").string());
  std::string url = "ws://127.0.0.1:" + std::to_string(broker.port) + "/ws";
  auto cli = [&](std::vector<std::string> args, const std::string& input = "") {
    std::vector<std::string> argv = {POSSYNC_CLI_BIN, "--url", url, "--admin-token", kAdmin};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, input);
  };
  auto add_counter = cli({"sessions", "add", "counter-1", "--name", "Counter 1", "--sender"});
  REQUIRE(add_counter.exit_code == 0);
  auto add_kitchen = cli({"sessions", "add", "kitchen-1", "--name", "Kitchen 1", "--receiver"});
  REQUIRE(add_kitchen.exit_code == 0);
  std::smatch m;
  REQUIRE(std::regex_search(add_counter.out, m, std::regex(R"re("token"\s*:\s*"([0-9a-f]{64})")re")));
  std::string counter_token = m[1];
  REQUIRE(std::regex_search(add_kitchen.out, m, std::regex(R"re("token"\s*:\s*"([0-9a-f]{64})")re")));
  std::string kitchen_token = m[1];

  ChildProcess listener({POSSYNC_CLI_BIN, "--url", url, "--session", "kitchen-1", "--token", kitchen_token, "listen",
                         "--count", "3"});
  REQUIRE(eventually([&] { return broker.connections_of("kitchen-1") == 1; }));

  auto sent = cli({"--session", "counter-1", "--token", counter_token, "send", "--to", "kitchen-1", "--ref",
                   "Order 00012-003-0004", "-"},
                  sample_order(2, "no onions"));
  REQUIRE(sent.exit_code == 0);
  REQUIRE(std::regex_search(sent.out, m, std::regex(R"re("order_id"\s*:\s*(\d+))re")));
  std::string order_id = m[1];
  // The listener prints every push (presence too), one JSON object a line.
  std::optional<std::string> pushed;
  while ((pushed = listener.read_line(std::chrono::seconds(10)))) {
    if (pushed->find("\"type\":\"order\"") != std::string::npos) break;
  }
  REQUIRE(pushed);
  CHECK(pushed->find("\"type\":\"order\"") != std::string::npos);
  CHECK(pushed->find("no onions") != std::string::npos);

  auto delivered = cli({"--session", "kitchen-1", "--token", kitchen_token, "deliver", order_id});
  REQUIRE(delivered.exit_code == 0);
  CHECK(delivered.out.find("delivered") != std::string::npos);

  auto show = cli({"orders", "show", order_id});
  REQUIRE(show.exit_code == 0);
  for (const char* expected : {"received", "delivered", "Order 00012-003-0004"}) {
    CHECK(show.out.find(expected) != std::string::npos);
  }
  // A broker error is exit 1; a usage error exit 2; no broker exit 3.
  auto conflict = cli({"--session", "kitchen-1", "--token", kitchen_token, "reject", order_id});
  CHECK(conflict.exit_code == 1);
  CHECK(cli({"frobnicate"}).exit_code == 2);
  CHECK(run_command({POSSYNC_CLI_BIN, "--url", "ws://127.0.0.1:1/ws", "--session", "a", "--token", "b", "list"})
            .exit_code == 3);
}
