// Operations: GET /metrics (strictly parsed), GET /api/stats, the /api/live
// stream for dashboards, and the dashboard page. Figures are process-wide,
// so tests compare deltas around their own traffic, never absolute values.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "tests/integration/exposition.hpp"
#include "tests/integration/harness.hpp"

using namespace possync::test;
using possync::client::Message;

namespace {

struct Scrape {
  int status = 0;
  std::string content_type;
  Exposition metrics;
  double operator()(const std::string& name, const Labels& labels = {}) const {
    auto v = metrics.value(name, labels);
    INFO("sample " << name);
    REQUIRE(v.has_value());
    return *v;
  }
};

Scrape scrape(TestBroker& broker) {
  // /metrics needs no credentials.
  auto res = broker.http("GET", "/metrics", "", "");
  Scrape s;
  s.status = res.status;
  s.content_type = res.content_type;
  auto error = parse_exposition(res.body, s.metrics);
  INFO(res.body);
  REQUIRE(error.empty());
  return s;
}

rapidjson::Document parse(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str());
  return d;
}

// A dashboard's /api/live connection: records every message and the close.
class LiveClient {
 public:
  explicit LiveClient(std::uint16_t port, std::string origin = "") {
    possync::client::Options o;
    o.port = port;
    o.path = "/api/live";
    o.origin = std::move(origin);
    client_ = possync::client::Client::create(runtime(), o);
    client_->on_push([inbox = inbox_](MessagePtr m) {
      std::lock_guard lock(inbox->mu);
      inbox->messages.push_back(std::move(m));
      inbox->cv.notify_all();
    });
    client_->on_close([inbox = inbox_](int code, std::string) {
      std::lock_guard lock(inbox->mu);
      inbox->close_code = code;
      inbox->cv.notify_all();
    });
  }
  ~LiveClient() { client_->close(); }

  bool connect() { return client_->connect_sync().empty(); }
  void hello(const std::string& token) {
    client_->send_text(R"({"type":"hello","token":)" + possync::client::json_quote(token) + "}");
  }
  void send_text(std::string text) { client_->send_text(std::move(text)); }

  // The next message satisfying `pred` (others are skipped), or null.
  MessagePtr wait(const std::function<bool(const Message&)>& pred, std::chrono::milliseconds timeout = kWait) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(inbox_->mu);
    for (;;) {
      while (!inbox_->messages.empty()) {
        auto m = std::move(inbox_->messages.front());
        inbox_->messages.pop_front();
        if (pred(*m)) return m;
      }
      if (inbox_->cv.wait_until(lock, deadline) == std::cv_status::timeout && inbox_->messages.empty()) return nullptr;
    }
  }
  MessagePtr wait_type(const std::string& type, std::chrono::milliseconds timeout = kWait) {
    return wait([&type](const Message& m) { return m.type() == type; }, timeout);
  }
  MessagePtr wait_event(const std::string& event, const std::function<bool(const Message&)>& pred) {
    return wait([&](const Message& m) { return m.type() == "event" && m.string_field("event") == event && pred(m); });
  }
  std::optional<int> wait_closed(std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(inbox_->mu);
    inbox_->cv.wait_for(lock, timeout, [this] { return inbox_->close_code.has_value(); });
    return inbox_->close_code;
  }

 private:
  static possync::client::Runtime& runtime() {
    static possync::client::Runtime rt(1);
    return rt;
  }
  struct Inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<MessagePtr> messages;
    std::optional<int> close_code;
  };
  std::shared_ptr<Inbox> inbox_ = std::make_shared<Inbox>();
  std::shared_ptr<possync::client::Client> client_;
};

struct OpsFixture {
  TestBroker broker;
  std::string counter = broker.add_session("counter-1", true, false);
  std::string kitchen = broker.add_session("kitchen-1", false, true);
};

}  // namespace

TEST_CASE("exposition parser: refuses what Prometheus would refuse", "[ops]") {
  Exposition e;
  CHECK(parse_exposition("# HELP a x\n# TYPE a gauge\na 1\n", e).empty());
  CHECK(e.value("a") == 1.0);
  CHECK_FALSE(parse_exposition("a 1\n", e).empty());                                   // no TYPE
  CHECK_FALSE(parse_exposition("# TYPE a gauge\na 1\n", e).empty());                   // no HELP
  CHECK_FALSE(parse_exposition("# HELP a x\n# TYPE a gauge\na{b=\"1} 1\n", e).empty());  // unterminated
  CHECK_FALSE(parse_exposition("# HELP a x\n# TYPE a gauge\na one\n", e).empty());       // bad value
  CHECK_FALSE(parse_exposition("# HELP a x\n# TYPE a gauge\na 1\na 2\n", e).empty());    // same series twice
  CHECK_FALSE(parse_exposition("# HELP a x\n# TYPE a counter\na -1\n", e).empty());      // negative counter
  const std::string head = "# HELP h x\n# TYPE h histogram\n";
  CHECK(parse_exposition(head + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n", e).empty());
  CHECK_FALSE(parse_exposition(head + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 3\n", e).empty());
  CHECK_FALSE(parse_exposition(head + "h_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n", e).empty());
  CHECK_FALSE(parse_exposition(head + "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
                                      "h_sum 1\nh_count 1\n", e).empty());
  CHECK_FALSE(parse_exposition(head + "h_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", e).empty());  // no +Inf
}

TEST_CASE_METHOD(OpsFixture, "metrics: /metrics is valid exposition text with every documented family", "[ops]") {
  auto s = scrape(broker);
  CHECK(s.status == 200);
  CHECK(s.content_type.starts_with("text/plain; version=0.0.4"));
  const std::map<std::string, std::string> documented = {
      {"possync_connections", "gauge"},
      {"possync_sessions_online", "gauge"},
      {"possync_messages_in_total", "counter"},
      {"possync_messages_out_total", "counter"},
      {"possync_orders_sent_total", "counter"},
      {"possync_deliveries_total", "counter"},
      {"possync_errors_total", "counter"},
      {"possync_send_to_push_seconds", "histogram"},
      {"possync_commit_seconds", "histogram"},
      {"possync_store_queue_depth", "gauge"},
      {"possync_store_batch_size", "histogram"},
      {"possync_slow_consumer_closes_total", "counter"},
      {"possync_build_info", "gauge"},
  };
  for (const auto& [name, type] : documented) {
    INFO(name);
    REQUIRE(s.metrics.families.count(name) == 1);
    CHECK(s.metrics.families.at(name).type == type);
  }
  for (const auto& [name, family] : s.metrics.families) {
    INFO(name);
    CHECK(name.starts_with("possync_"));
    if (family.type == "counter") CHECK(name.ends_with("_total"));
  }
  CHECK(s("possync_build_info", {{"version", POSSYNC_VERSION}, {"node", broker.server().config().node_id}}) == 1);
  CHECK(s("possync_messages_in_total", {{"type", "send"}}) >= 0);
  CHECK(s("possync_deliveries_total", {{"status", "taken"}}) >= 0);
  CHECK(s("possync_errors_total", {{"code", "rate_limited"}}) >= 0);
}

TEST_CASE_METHOD(OpsFixture, "metrics: counters, gauges and histograms move with the traffic", "[ops]") {
  auto before = scrape(broker);
  TestClient k(broker.port(), "kitchen-1", kitchen);
  REQUIRE(k.connect_and_hello().ok());
  TestClient c(broker.port(), "counter-1", counter);
  REQUIRE(c.connect_and_hello().ok());

  auto sent = c.call(send_json("metrics-1", {"kitchen-1"}));
  REQUIRE(sent.ok());
  auto id = sent.message->int_field("order_id");
  REQUIRE(k.wait_type("order"));
  REQUIRE(k.call(R"({"type":"deliver","order_id":)" + std::to_string(id) + "}").ok());
  // The sender's `status` push may come through the store's feed (PostgreSQL)
  // after the deliver's reply: wait for it, so that it is counted below.
  REQUIRE(c.wait_type("status"));
  CHECK(c.call(send_json("metrics-1", {"kitchen-1"})).ok());  // a duplicate: not a new order
  CHECK(k.call(R"({"type":"deliver","order_id":999999})").message->error_code() == "not_found");
  REQUIRE(c.sync());

  auto after = scrape(broker);
  auto delta = [&](const std::string& name, const Labels& labels = {}) { return after(name, labels) - before(name, labels); };
  CHECK(after("possync_connections") == 2);
  CHECK(after("possync_sessions_online") == 2);
  CHECK(delta("possync_orders_sent_total") == 1);
  CHECK(delta("possync_messages_in_total", {{"type", "hello"}}) == 2);
  CHECK(delta("possync_messages_in_total", {{"type", "send"}}) == 2);
  CHECK(delta("possync_messages_in_total", {{"type", "deliver"}}) == 2);
  CHECK(delta("possync_messages_out_total", {{"type", "order"}}) == 1);
  CHECK(delta("possync_messages_out_total", {{"type", "sent"}}) == 2);
  CHECK(delta("possync_messages_out_total", {{"type", "status"}}) == 1);  // delivered, to the sender
  CHECK(delta("possync_messages_out_total", {{"type", "error"}}) == 1);
  CHECK(delta("possync_deliveries_total", {{"status", "sent"}}) == 1);
  CHECK(delta("possync_deliveries_total", {{"status", "delivered"}}) == 1);
  CHECK(delta("possync_deliveries_total", {{"status", "received"}}) == 0);
  CHECK(delta("possync_errors_total", {{"code", "not_found"}}) == 1);
  CHECK(delta("possync_send_to_push_seconds_count") == 1);
  CHECK(delta("possync_send_to_push_seconds_sum") > 0);
  CHECK(delta("possync_commit_seconds_count") == 4);  // send, deliver, duplicate send, failed deliver
  CHECK(delta("possync_store_batches_total") >= 1);
  // Every committed batch is in the batch-size histogram once scraped.
  CHECK(after("possync_store_batch_size_count") == after("possync_store_batches_total") +
                                                       before("possync_store_batch_size_count") -
                                                       before("possync_store_batches_total"));
  CHECK(after("possync_store_queue_depth") >= 0);
}

TEST_CASE_METHOD(OpsFixture, "stats: /api/stats needs the admin token and carries the figures", "[ops]") {
  CHECK(broker.http("GET", "/api/stats", "", "").status == 401);
  CHECK(broker.http("GET", "/api/stats", "", "wrong-token-wrong-token").status == 403);
  auto first = broker.http("GET", "/api/stats");
  REQUIRE(first.status == 200);
  auto a = parse(first.body);
  REQUIRE(a.IsObject());
  CHECK(std::string(a["version"].GetString()) == POSSYNC_VERSION);
  CHECK(std::string(a["node_id"].GetString()) == broker.server().config().node_id);
  CHECK(a["uptime_s"].GetDouble() >= 0);
  for (const char* key : {"connections", "sessions_online", "orders_sent", "messages_in", "messages_out", "deliveries",
                          "errors", "slow_consumer_closes", "store", "send_to_push_seconds", "commit_seconds",
                          "store_batch_size"}) {
    INFO(key);
    CHECK(a.HasMember(key));
  }

  TestClient k(broker.port(), "kitchen-1", kitchen);
  REQUIRE(k.connect_and_hello().ok());
  TestClient c(broker.port(), "counter-1", counter);
  REQUIRE(c.connect_and_hello().ok());
  REQUIRE(c.call(send_json("stats-1", {"kitchen-1"})).ok());
  REQUIRE(k.wait_type("order"));
  auto b = parse(broker.http("GET", "/api/stats").body);
  CHECK(b["connections"].GetInt() == 2);
  CHECK(b["orders_sent"].GetInt64() - a["orders_sent"].GetInt64() == 1);
  CHECK(b["messages_in"]["send"].GetInt64() - a["messages_in"]["send"].GetInt64() == 1);
  CHECK(b["deliveries"]["sent"].GetInt64() - a["deliveries"]["sent"].GetInt64() == 1);
  CHECK(b["send_to_push_seconds"]["count"].GetUint64() - a["send_to_push_seconds"]["count"].GetUint64() == 1);
  CHECK(b["send_to_push_seconds"]["p50"].IsNumber());
  CHECK(b["store"]["writable"].GetBool());
}

TEST_CASE_METHOD(OpsFixture, "live: a good hello gets welcome, then a stats frame every second", "[ops]") {
  LiveClient live(broker.port());
  REQUIRE(live.connect());
  live.hello(broker.admin_token());
  auto welcome = live.wait([](const Message&) { return true; });
  REQUIRE(welcome);
  CHECK(welcome->type() == "welcome");
  auto s1 = live.wait_type("stats");
  REQUIRE(s1);
  auto s2 = live.wait_type("stats");  // the next second's
  REQUIRE(s2);
  const auto& d = s2->doc;
  CHECK(std::string(d["node_id"].GetString()) == broker.server().config().node_id);
  CHECK(d.HasMember("uptime_s"));
  CHECK(d.HasMember("orders_sent"));
  CHECK(d.HasMember("store"));
  REQUIRE(d.HasMember("rates"));
  CHECK(d["rates"]["orders_per_s"].IsNumber());
  CHECK(d["rates"].HasMember("send_to_push_p99_s"));
  CHECK(d["live_connections"].GetInt() == 1);
  CHECK(d["connections"].GetInt() == 0);  // a dashboard is not a POS connection
  live.send_text(R"({"type":"ping"})");
  CHECK(live.wait_type("pong"));
}

TEST_CASE_METHOD(OpsFixture, "live: a wrong token gets unauthorized and close 4401", "[ops]") {
  LiveClient live(broker.port());
  REQUIRE(live.connect());
  live.hello("wrong-token-wrong-token");
  auto error = live.wait([](const Message&) { return true; });
  REQUIRE(error);
  CHECK(error->type() == "error");
  CHECK(error->error_code() == "unauthorized");
  CHECK(live.wait_closed() == 4401);
}

TEST_CASE_METHOD(OpsFixture, "live: anything but hello first gets unauthorized and close 4401", "[ops]") {
  LiveClient live(broker.port());
  REQUIRE(live.connect());
  live.send_text(R"({"type":"ping"})");
  auto error = live.wait([](const Message&) { return true; });
  REQUIRE(error);
  CHECK(error->error_code() == "unauthorized");
  CHECK(live.wait_closed() == 4401);
}

TEST_CASE("live: no hello in time closes with 4408", "[ops]") {
  TestBroker broker(BrokerOptions{[](possync::broker::Config& c) { c.hello_timeout_ms = 200; }});
  LiveClient live(broker.port());
  REQUIRE(live.connect());
  CHECK(live.wait_closed() == 4408);
}

TEST_CASE("live: --allowed-origins closes foreign browser origins with 1008, never the dashboard's own", "[ops]") {
  TestBroker broker(BrokerOptions{[](possync::broker::Config& c) { c.allowed_origins = {"https://pos.example"}; }});
  LiveClient foreign(broker.port(), "https://evil.example");
  REQUIRE(foreign.connect());
  CHECK(foreign.wait_closed() == 1008);

  // The page the broker serves itself connects from the broker's own origin.
  LiveClient own(broker.port(), "http://127.0.0.1:" + std::to_string(broker.port()));
  REQUIRE(own.connect());
  own.hello(broker.admin_token());
  CHECK(own.wait_type("welcome"));
  LiveClient listed(broker.port(), "https://pos.example");
  REQUIRE(listed.connect());
  listed.hello(broker.admin_token());
  CHECK(listed.wait_type("welcome"));
}

TEST_CASE_METHOD(OpsFixture, "live: events for an order, its status changes and presence", "[ops][concurrency]") {
  LiveClient live(broker.port());
  REQUIRE(live.connect());
  live.hello(broker.admin_token());
  REQUIRE(live.wait_type("welcome"));

  auto k = std::make_unique<TestClient>(broker.port(), "kitchen-1", kitchen);
  REQUIRE(k->connect_and_hello().ok());
  auto online = live.wait_event("presence", [](const Message& m) { return m.string_field("session") == "kitchen-1"; });
  REQUIRE(online);
  CHECK(online->doc["online"].GetBool());
  CHECK(online->string_field("shop") == "main");

  TestClient c(broker.port(), "counter-1", counter);
  REQUIRE(c.connect_and_hello().ok());
  auto sent = c.call(send_json("live-1", {"kitchen-1"}));
  REQUIRE(sent.ok());
  auto id = sent.message->int_field("order_id");
  auto order = live.wait_event("order", [id](const Message& m) { return m.int_field("order_id") == id; });
  REQUIRE(order);
  CHECK(order->string_field("ref") == "live-1");
  CHECK(order->string_field("from") == "counter-1");
  REQUIRE(order->doc["receivers"].Size() == 1);
  CHECK(std::string(order->doc["receivers"][0]["session"].GetString()) == "kitchen-1");
  CHECK(std::string(order->doc["receivers"][0]["status"].GetString()) == "sent");

  REQUIRE(k->wait_type("order"));
  k->raw().ack(id);
  auto received = live.wait_event("status", [id](const Message& m) { return m.int_field("order_id") == id; });
  REQUIRE(received);
  CHECK(received->string_field("status") == "received");
  CHECK(received->string_field("session") == "kitchen-1");
  CHECK(received->string_field("by") == "kitchen-1");
  REQUIRE(k->call(R"({"type":"reject","order_id":)" + std::to_string(id) + R"(,"reason":"out of stock"})").ok());
  auto rejected = live.wait_event("status", [id](const Message& m) { return m.int_field("order_id") == id; });
  REQUIRE(rejected);
  CHECK(rejected->string_field("status") == "rejected");
  CHECK(rejected->string_field("reason") == "out of stock");

  k.reset();  // the kitchen's only connection closes
  auto offline = live.wait_event("presence", [](const Message& m) { return m.string_field("session") == "kitchen-1"; });
  REQUIRE(offline);
  CHECK_FALSE(offline->doc["online"].GetBool());
}

TEST_CASE_METHOD(OpsFixture, "live: a graceful shutdown closes dashboards with 1001", "[ops][concurrency]") {
  LiveClient live(broker.port());
  REQUIRE(live.connect());
  live.hello(broker.admin_token());
  REQUIRE(live.wait_type("welcome"));
  broker.shutdown();
  CHECK(live.wait_closed() == 1001);
}

TEST_CASE_METHOD(OpsFixture, "dashboard: / serves the page and its embedded files", "[ops]") {
  auto page = broker.http("GET", "/", "", "");
  REQUIRE(page.status == 200);
  CHECK(page.content_type.starts_with("text/html"));
  CHECK(page.body.find("/dashboard/app.js") != std::string::npos);
  auto js = broker.http("GET", "/dashboard/app.js", "", "");
  CHECK(js.status == 200);
  CHECK(js.content_type.starts_with("text/javascript"));
  CHECK(js.body.find("/api/live") != std::string::npos);
  CHECK(broker.http("GET", "/dashboard/app.css", "", "").status == 200);
  CHECK(broker.http("GET", "/dashboard/nothing.js", "", "").status == 404);
  CHECK(broker.http("GET", "/dashboard/../CMakeLists.txt", "", "").status == 404);
}
