// Hostile HTTP on raw TCP sockets (issue #7, item 5, transport part):
// malformed requests, broken upgrades, huge headers, a slow header trickle
// and many half-open connections each get a bounded answer (or a close), and
// meanwhile a normal client does a full hello → send → push round trip.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "tests/integration/harness.hpp"
#include "tests/integration/raw_socket.hpp"
#include "tests/integration/served.hpp"

using namespace possync::test;
using possync::broker::Config;

namespace {

constexpr const char* kKey = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

std::string status_line(const std::string& head) { return head.substr(0, head.find("\r\n")); }

}  // namespace

TEST_CASE("transport: malformed HTTP gets 400 and a close, the broker keeps serving", "[transport]") {
  Served s;
  const std::vector<std::string> garbage = {
      "THIS IS NOT HTTP\r\n\r\n",
      "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost x no colon\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "POST /api/stats HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      std::string("GET /\x01\x02 HTTP/1.1\r\n\r\n"),
      std::string(20000, '\0'),
  };
  for (const auto& g : garbage) {
    INFO(g.substr(0, 60));
    RawSocket raw(s.broker.port());
    REQUIRE(raw.connected());
    raw.send(g);
    auto head = raw.read_response_head(kWait);
    CHECK(status_line(head) == "HTTP/1.1 400 Bad Request");
    CHECK(raw.wait_closed(kWait));
  }
  // A request cut off halfway just ends its connection.
  {
    RawSocket raw(s.broker.port());
    raw.send("GET /healthz HTTP/1.1\r\nHo");
  }
  s.round_trip("T-malformed");
}

TEST_CASE("transport: broken WebSocket upgrades are refused with an HTTP status, never upgraded", "[transport]") {
  Served s;
  struct Case {
    std::string request;
    std::string status;
  };
  const std::vector<Case> cases = {
      {upgrade_request("/ws", "Sec-WebSocket-Version: 13\r\n"), "HTTP/1.1 400"},                 // no key
      {upgrade_request("/ws", std::string(kKey) + "Sec-WebSocket-Version: 8\r\n"), "HTTP/1.1 426"},  // old version
      {upgrade_request("/ws", kKey), "HTTP/1.1 400"},                                             // no version
      {upgrade_request("/ws", "Sec-WebSocket-Key: " + std::string(40, 'k') + "\r\nSec-WebSocket-Version: 13\r\n"),
       "HTTP/1.1 400"},                                                                           // not a key
      {upgrade_request("/elsewhere", std::string(kKey) + "Sec-WebSocket-Version: 13\r\n"), "HTTP/1.1 404"},
      {upgrade_request("/api/sessions", std::string(kKey) + "Sec-WebSocket-Version: 13\r\n"), "HTTP/1.1 404"},
  };
  for (const auto& c : cases) {
    INFO(c.request);
    RawSocket raw(s.broker.port());
    raw.send(c.request);
    auto head = raw.read_response_head(kWait);
    CHECK(head.rfind(c.status, 0) == 0);
    CHECK(raw.wait_closed(kWait));
  }
  // The well-formed upgrade still works on the same broker.
  RawSocket good(s.broker.port());
  good.send(upgrade_request("/ws", std::string(kKey) + "Sec-WebSocket-Version: 13\r\n"));
  CHECK(good.read_response_head(kWait).rfind("HTTP/1.1 101", 0) == 0);
  s.round_trip("T-upgrade");
}

TEST_CASE("transport: huge headers get 431 and a close, however many bytes follow", "[transport]") {
  Served s;
  // One enormous header line, and many ordinary ones: both over the 16 KiB default.
  for (const std::string& headers : {"X-Big: " + std::string(64 * 1024, 'h') + "\r\n",
                                     [] {
                                       std::string many;
                                       for (int i = 0; i < 2000; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
                                       return many;
                                     }()}) {
    RawSocket raw(s.broker.port());
    raw.send(http_get("/healthz", headers));  // may fail midway once the broker has closed
    CHECK(status_line(raw.read_response_head(kWait)) == "HTTP/1.1 431 Request Header Fields Too Large");
    CHECK(raw.wait_closed(kWait));
  }
  // A client that keeps streaming header bytes is cut as well.
  RawSocket endless(s.broker.port());
  endless.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: ");
  bool cut = false;
  for (int i = 0; i < 1000 && !cut; ++i) cut = !endless.send(std::string(4096, 'e'));
  CHECK((cut || endless.wait_closed(kWait)));
  s.round_trip("T-headers");
}

TEST_CASE("transport: a slow header trickle (a byte every 100 ms) is cut by --http-timeout-ms", "[transport]") {
  Served s([](Config& c) { c.http_timeout_ms = 800; });
  RawSocket slow(s.broker.port());
  REQUIRE(slow.connected());
  const std::string request = http_get("/healthz", "X-Slow: " + std::string(200, 's') + "\r\n");
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> sent{0};
  auto started = std::chrono::steady_clock::now();
  std::thread trickler([&] {
    for (char ch : request) {
      if (stop || !slow.send(std::string_view(&ch, 1))) return;
      ++sent;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  // Meanwhile everyone else is served.
  s.round_trip("T-trickle");
  CHECK(slow.wait_closed(std::chrono::seconds(10)));
  auto held = std::chrono::steady_clock::now() - started;
  stop = true;
  trickler.join();
  CHECK(sent < request.size());  // cut before the request was complete
  CHECK(held < std::chrono::seconds(5));
}

TEST_CASE("transport: many half-open connections that send nothing leave others served, then time out",
          "[transport]") {
  Served s([](Config& c) { c.http_timeout_ms = 1500; });
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (int i = 0; i < 400; ++i) {
    idle.push_back(std::make_unique<RawSocket>(s.broker.port()));
    REQUIRE(idle.back()->connected());
  }
  s.round_trip("T-idle");
  CHECK(s.broker.http("GET", "/healthz").status == 200);
  // Every one of them is closed by the broker once the request deadline passes.
  for (auto& sock : idle) CHECK(sock->wait_closed(std::chrono::seconds(10)));
  s.round_trip("T-idle-after");
}

TEST_CASE("transport: a flood of idle connections at --max-connections refuses newcomers, not the connected",
          "[transport]") {
  Served s([](Config& c) {
    c.max_connections = 20;
    c.http_timeout_ms = 1000;
  });
  TestClient kitchen(s.broker.port(), "kitchen-1", s.kitchen_token);
  TestClient counter(s.broker.port(), "counter-1", s.counter_token);
  REQUIRE(kitchen.connect_and_hello().ok());
  REQUIRE(counter.connect_and_hello().ok());
  std::vector<std::unique_ptr<RawSocket>> flood;
  for (int i = 0; i < 60; ++i) flood.push_back(std::make_unique<RawSocket>(s.broker.port()));
  // The connected pair keeps working through the flood.
  auto sent = counter.call(send_json("T-flood", {"kitchen-1"}));
  REQUIRE(sent.ok());
  REQUIRE(kitchen.wait_type("order"));
  // The idle ones time out, and a newcomer gets in again.
  for (auto& sock : flood) CHECK(sock->wait_closed(std::chrono::seconds(10)));
  flood.clear();
  s.round_trip("T-flood-after");
}
