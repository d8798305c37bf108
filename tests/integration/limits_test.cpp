// One test per configurable limit (issue #7, item 3) that no other file
// covers already: each is set low through its Config field (the field its
// --flag fills) and probed at the limit and just past it. Already covered
// elsewhere: --max-message-bytes, the binary-frame close, --rate-limit and
// --max-errors-per-minute, --max-queued-frames/--max-queued-bytes
// (robustness_test), --hello-timeout-ms (hello_test), the protocol's fixed
// ref/reason/id lengths (send_test, robustness_test),
// --handshake-timeout-ms (tls_test), --http-timeout-ms (transport_test).
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "broker/config.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/process.hpp"
#include "tests/integration/raw_socket.hpp"

using namespace possync::test;
using possync::broker::Config;

namespace {

struct Limited {
  TestBroker broker;
  std::string counter_token;
  std::string kitchen_token;
  explicit Limited(std::function<void(Config&)> tweak) : broker(BrokerOptions{std::move(tweak)}) {
    counter_token = broker.add_session("counter-1", true, false);
    kitchen_token = broker.add_session("kitchen-1", false, true);
    broker.add_session("kitchen-2", false, true);
    broker.add_session("kitchen-3", false, true);
  }
};

std::string line_json(const std::string& name = "a") {
  return R"({"product_id":1,"name":")" + name + R"(","qty":1,"price_unit":1})";
}

std::string order_with(int lines, const std::string& note = "") {
  std::string out = R"({"note":")" + note + R"(","lines":[)";
  for (int i = 0; i < lines; ++i) out += (i ? "," : "") + line_json();
  return out + "]}";
}

}  // namespace

TEST_CASE("limits: --max-lines bounds the lines of an order", "[limits]") {
  Limited l([](Config& c) { c.limits.max_lines = 3; });
  TestClient c(l.broker.port(), "counter-1", l.counter_token);
  REQUIRE(c.connect_and_hello().ok());
  CHECK(c.call(send_json("L-3", {"kitchen-1"}, "copy", order_with(3))).ok());
  auto over = c.call(send_json("L-4", {"kitchen-1"}, "copy", order_with(4)));
  REQUIRE(over.message);
  CHECK(over.message->error_code() == "too_large");
  CHECK(over.message->string_field("message").rfind("order.lines:", 0) == 0);
}

TEST_CASE("limits: --max-receivers bounds the receivers of a send", "[limits]") {
  Limited l([](Config& c) { c.limits.max_receivers = 2; });
  TestClient c(l.broker.port(), "counter-1", l.counter_token);
  REQUIRE(c.connect_and_hello().ok());
  CHECK(c.call(send_json("R-2", {"kitchen-1", "kitchen-2"})).ok());
  auto over = c.call(send_json("R-3", {"kitchen-1", "kitchen-2", "kitchen-3"}));
  REQUIRE(over.message);
  CHECK(over.message->error_code() == "too_large");
  CHECK(over.message->string_field("message").rfind("to:", 0) == 0);
}

TEST_CASE("limits: --max-text-chars bounds names and notes, counted in code points", "[limits]") {
  Limited l([](Config& c) { c.limits.max_text_chars = 16; });
  TestClient c(l.broker.port(), "counter-1", l.counter_token);
  REQUIRE(c.connect_and_hello().ok());
  // 16 code points of two bytes each pass: the count is not in bytes.
  std::string sixteen;
  for (int i = 0; i < 16; ++i) sixteen += "\xc3\xa1";  // á
  CHECK(c.call(send_json("T-16", {"kitchen-1"}, "copy", order_with(1, sixteen))).ok());
  auto note = c.call(send_json("T-17", {"kitchen-1"}, "copy", order_with(1, sixteen + "x")));
  REQUIRE(note.message);
  CHECK(note.message->error_code() == "too_large");
  CHECK(note.message->string_field("message").rfind("order.note:", 0) == 0);
  auto line_name = c.call(send_json(
      "T-name", {"kitchen-1"}, "copy", R"({"lines":[)" + line_json(std::string(17, 'n')) + "]}"));
  REQUIRE(line_name.message);
  CHECK(line_name.message->error_code() == "too_large");
  CHECK(line_name.message->string_field("message").rfind("order.lines[0].name:", 0) == 0);
}

TEST_CASE("limits: --max-connections-per-session refuses one more hello with too_large and 1008", "[limits]") {
  Limited l([](Config& c) { c.max_connections_per_session = 2; });
  TestClient a(l.broker.port(), "kitchen-1", l.kitchen_token);
  TestClient b(l.broker.port(), "kitchen-1", l.kitchen_token);
  REQUIRE(a.connect_and_hello().ok());
  REQUIRE(b.connect_and_hello().ok());
  TestClient third(l.broker.port(), "kitchen-1", l.kitchen_token);
  auto r = third.connect_and_hello();
  REQUIRE(r.message);
  CHECK(r.message->error_code() == "too_large");
  CHECK(third.wait_closed().value_or(-1) == 1008);
  // The two stay, and other sessions are not limited by kitchen-1's count.
  CHECK(a.call(R"({"type":"ping"})").ok());
  TestClient other(l.broker.port(), "counter-1", l.counter_token);
  CHECK(other.connect_and_hello().ok());
  CHECK(l.broker.connections_of("kitchen-1") == 2);
}

TEST_CASE("limits: --max-connections caps every connection, HTTP or WebSocket, and frees slots as they close",
          "[limits]") {
  // Sessions are made first: each admin request is a connection too.
  Limited l([](Config& c) { c.max_connections = 3; });
  // The admin requests' connections may take a moment to be released.
  std::vector<std::unique_ptr<TestClient>> clients;
  for (std::size_t i = 0; i < 3; ++i) {
    REQUIRE(eventually([&] {
      auto c = std::make_unique<TestClient>(l.broker.port(), "kitchen-1", l.kitchen_token);
      if (c->connect_and_hello().ok()) clients.push_back(std::move(c));
      return clients.size() == i + 1;
    }));
  }
  // A fourth connection of any kind is closed at once, without an answer.
  TestClient fourth(l.broker.port(), "counter-1", l.counter_token);
  CHECK_FALSE(fourth.connect_and_hello().ok());
  RawSocket raw(l.broker.port());
  raw.send(http_get("/healthz"));
  CHECK(raw.read_response_head(std::chrono::seconds(2)).empty());
  CHECK(raw.closed());
  // The connected ones are served as before.
  for (auto& c : clients) CHECK(c->call(R"({"type":"ping"})").ok());
  // A closed one frees its slot.
  clients.pop_back();
  CHECK(eventually([&] {
    TestClient next(l.broker.port(), "counter-1", l.counter_token);
    return next.connect_and_hello().ok();
  }));
}

TEST_CASE("limits: --max-inflight pauses reading, pipelined requests beyond it are all answered", "[limits]") {
  Limited l([](Config& c) {
    c.max_inflight_requests = 1;
    c.rate_limit_per_second = 1e6;
  });
  TestClient c(l.broker.port(), "counter-1", l.counter_token);
  REQUIRE(c.connect_and_hello().ok());
  std::atomic<int> ok{0};
  std::atomic<int> answered{0};
  for (int i = 0; i < 100; ++i) {
    c.raw().request(send_json("P-" + std::to_string(i), {"kitchen-1"}), [&](possync::client::Reply r) {
      if (r.ok()) ++ok;
      ++answered;
    });
  }
  REQUIRE(eventually([&] { return answered == 100; }, std::chrono::seconds(30)));
  CHECK(ok == 100);
}

TEST_CASE("limits: --heartbeat-ms drops a connection that stays silent for two heartbeats", "[limits]") {
  Limited l([](Config& c) { c.heartbeat_ms = 200; });
  // A library client answers the broker's pings by itself and stays.
  TestClient live(l.broker.port(), "kitchen-1", l.kitchen_token);
  REQUIRE(live.connect_and_hello().ok());
  // A bare WebSocket that never sends a frame (not even a pong) is dropped.
  RawSocket mute(l.broker.port());
  mute.send(upgrade_request("/ws", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"));
  REQUIRE(mute.read_response_head(kWait).rfind("HTTP/1.1 101", 0) == 0);
  CHECK(mute.wait_closed(std::chrono::seconds(3)));
  CHECK_FALSE(live.wait_closed(std::chrono::milliseconds(600)));
  CHECK(live.call(R"({"type":"ping"})").ok());
}

TEST_CASE("limits: --max-http-header-bytes answers 431, --max-http-body-bytes 413", "[limits]") {
  Limited l([](Config& c) {
    c.max_http_header_bytes = 2048;
    c.max_http_body_bytes = 4096;
  });
  auto headers = [](std::size_t pad) { return "X-Pad: " + std::string(pad, 'p') + "\r\n"; };
  {
    RawSocket s(l.broker.port());
    s.send(http_get("/healthz", headers(1500)));
    CHECK(s.read_response_head(kWait).rfind("HTTP/1.1 200", 0) == 0);
  }
  {
    RawSocket s(l.broker.port());
    s.send(http_get("/healthz", headers(3000)));
    CHECK(s.read_response_head(kWait).rfind("HTTP/1.1 431", 0) == 0);
    CHECK(s.wait_closed(kWait));
  }
  const std::string session = R"({"name":")" + std::string(3000, 'n') + R"("})";
  auto fits = l.broker.http("PUT", "/api/sessions/big-1", session);
  CHECK(fits.status == 400);  // parsed (the name is too long for a name): the body was read
  auto over = l.broker.http("PUT", "/api/sessions/big-2", R"({"name":")" + std::string(5000, 'n') + R"("})");
  CHECK(over.status == 413);
  CHECK(l.broker.http("GET", "/healthz").status == 200);
}

TEST_CASE("limits: every limit flag in the README's Security table exists in --help with the same default",
          "[limits][process]") {
  auto help = run_command({POSSYNC_BROKER_BIN, "--help"});
  REQUIRE(help.exit_code == 0);
  std::ifstream in(POSSYNC_README);
  REQUIRE(in);
  std::stringstream readme;
  readme << in.rdbuf();
  const std::string text = readme.str();
  const auto table_at = text.find("<!-- limits table -->");
  REQUIRE(table_at != std::string::npos);
  // Rows: | `--flag N` | default | what |
  std::regex row(R"(\| `(--[a-z-]+)[^`]*` \| ([^|]+?) \|)");
  std::map<std::string, std::string> rows;
  const auto end = text.find("<!-- end limits table -->", table_at);
  REQUIRE(end != std::string::npos);
  const std::string table = text.substr(table_at, end - table_at);
  for (std::sregex_iterator it(table.begin(), table.end(), row), stop; it != stop; ++it) {
    rows[(*it)[1]] = (*it)[2];
  }
  CHECK(rows.size() >= 17);
  for (const auto& [flag, value] : rows) {
    INFO(flag << " documented with default " << value);
    const auto at = help.out.find("  " + flag + " ");
    REQUIRE(at != std::string::npos);
    const auto line_end = help.out.find("\n  --", at + 1);
    const std::string entry = help.out.substr(at, line_end - at);
    CHECK(entry.find("default " + value) != std::string::npos);
  }
  // And every limit-like flag of --help is in the table.
  std::regex flag_re(R"(\n  (--(max|rate|hello|heartbeat|http|handshake)[a-z-]*))");
  for (std::sregex_iterator it(help.out.begin(), help.out.end(), flag_re), stop; it != stop; ++it) {
    INFO((*it)[1]);
    CHECK(rows.count((*it)[1]) == 1);
  }
}
