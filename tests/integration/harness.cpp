#include "tests/integration/harness.hpp"

#include <cstdlib>

#include "broker/log.hpp"

#include <atomic>
#include <random>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include <rapidjson/document.h>

namespace possync::test {

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path = std::filesystem::temp_directory_path() /
         ("possync-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
          std::to_string(rd() % 100000));
  std::filesystem::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

TestBroker::TestBroker(BrokerOptions options) : location_(std::make_shared<TestStore>()) { open(options); }

TestBroker::TestBroker(const TestStorePtr& store, BrokerOptions options) : location_(store) { open(options); }

void TestBroker::open(BrokerOptions& options) {
  // Tests print warnings and errors only; POSSYNC_TEST_LOG=debug shows all.
  const char* level = std::getenv("POSSYNC_TEST_LOG");
  broker::logger().configure("text", level ? level : "warn");
  std::string error;
  auto inner = storage::open_store(location_->url(), storage::StoreOptions{}, error);
  if (!inner) throw std::runtime_error("open store: " + error);
  faults_ = std::make_unique<storage::FaultStore>(std::move(inner));
  broker::Config config;
  config.listen_host = "127.0.0.1";
  config.listen_port = 0;
  config.admin_token = admin_token_;
  config.threads = 2;
  config.drain_timeout_ms = 3000;
  if (options.tweak) options.tweak(config);
  server_ = std::make_unique<broker::Server>(config, *faults_);
  if (auto failure = server_->start(); !failure.empty()) throw std::runtime_error("start broker: " + failure);
}

TestBroker::~TestBroker() { shutdown(); }

void TestBroker::shutdown() {
  if (down_) return;
  down_ = true;
  server_->stop();
  faults_->close();
}

client::HttpResponse TestBroker::http(const std::string& method, const std::string& target, const std::string& body,
                                      std::optional<std::string> token) {
  return client::http_request("127.0.0.1", port(), method, target, token.value_or(admin_token_), body);
}

std::string TestBroker::add_session(const std::string& id, bool sender, bool receiver, const std::string& shop) {
  return put_session(port(), admin_token_, id, sender, receiver, shop);
}

int TestBroker::connections_of(const std::string& id) { return session_connections(port(), admin_token_, id); }

std::string put_session(std::uint16_t port, const std::string& admin_token, const std::string& id, bool sender,
                        bool receiver, const std::string& shop) {
  std::string body = std::string(R"({"name":")") + id + R"(","shop":")" + shop + R"(","sender":)" +
                     (sender ? "true" : "false") + R"(,"receiver":)" + (receiver ? "true" : "false") + "}";
  auto res = client::http_request("127.0.0.1", port, "PUT", "/api/sessions/" + id, admin_token, body);
  if (res.status != 201 && res.status != 200) {
    throw std::runtime_error("add_session " + id + ": HTTP " + std::to_string(res.status) + " " + res.body + res.error);
  }
  rapidjson::Document doc;
  doc.Parse(res.body.c_str());
  if (doc.IsObject() && doc.HasMember("token") && doc["token"].IsString()) return doc["token"].GetString();
  return "";
}

int session_connections(std::uint16_t port, const std::string& admin_token, const std::string& id) {
  auto res = client::http_request("127.0.0.1", port, "GET", "/api/sessions", admin_token);
  rapidjson::Document doc;
  doc.Parse(res.body.c_str());
  if (!doc.IsObject() || !doc.HasMember("sessions")) return -1;
  for (const auto& s : doc["sessions"].GetArray()) {
    if (s["session"].GetString() == id) return s["connections"].GetInt();
  }
  return -1;
}

client::Runtime& TestClient::runtime() {
  static client::Runtime rt(2);
  return rt;
}

TestClient::TestClient(std::uint16_t port, std::string session, std::string token, std::string origin)
    : TestClient([&] {
        client::Options o;
        o.port = port;
        o.session = std::move(session);
        o.token = std::move(token);
        o.origin = std::move(origin);
        return o;
      }()) {}

TestClient::TestClient(client::Options o) {
  o.request_timeout = kWait;
  client_ = client::Client::create(runtime(), o);
  client_->on_push([inbox = inbox_](MessagePtr m) {
    std::lock_guard lock(inbox->mu);
    inbox->pushes.push_back(std::move(m));
    inbox->cv.notify_all();
  });
  client_->on_close([inbox = inbox_](int code, std::string) {
    std::lock_guard lock(inbox->mu);
    inbox->close_code = code;
    inbox->cv.notify_all();
  });
}

TestClient::~TestClient() { client_->close(); }

bool TestClient::connect() { return client_->connect_sync().empty(); }

Reply TestClient::connect_and_hello() {
  if (auto err = client_->connect_sync(); !err.empty()) return Reply{nullptr, "connect: " + err};
  return client_->hello_sync();
}

MessagePtr TestClient::wait_push(const std::function<bool(const client::Message&)>& pred,
                                 std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto& in = *inbox_;
  std::unique_lock lock(in.mu);
  for (;;) {
    while (!in.pushes.empty()) {
      auto m = std::move(in.pushes.front());
      in.pushes.pop_front();
      if (pred(*m)) return m;
    }
    if (in.cv.wait_until(lock, deadline) == std::cv_status::timeout && in.pushes.empty()) return nullptr;
  }
}

MessagePtr TestClient::next_push(std::chrono::milliseconds timeout) {
  return wait_push([](const client::Message&) { return true; }, timeout);
}

MessagePtr TestClient::wait_type(const std::string& type, std::chrono::milliseconds timeout) {
  return wait_push([&type](const client::Message& m) { return m.type() == type; }, timeout);
}

std::size_t TestClient::pending_pushes() {
  std::lock_guard lock(inbox_->mu);
  return inbox_->pushes.size();
}

std::optional<int> TestClient::wait_closed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(inbox_->mu);
  inbox_->cv.wait_for(lock, timeout, [this] { return inbox_->close_code.has_value(); });
  return inbox_->close_code;
}

bool TestClient::sync() { return client_->call(R"({"type":"ping"})").ok(); }

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::string sample_order(int lines, const std::string& note) {
  std::string out = R"({"name":"Order 1","table":"T4","note":")" + note +
                    R"(","customer":{"id":88,"name":"Ana Souza"},"lines":[)";
  for (int i = 0; i < lines; ++i) {
    if (i) out += ',';
    out += R"({"product_id":)" + std::to_string(30 + i) + R"(,"name":"Item )" + std::to_string(i) +
           R"(","qty":2,"price_unit":9.5,"discount":10})";
  }
  return out + "]}";
}

std::string send_json(const std::string& ref, const std::vector<std::string>& to, const std::string& mode,
                      const std::string& order) {
  std::string list;
  for (const auto& t : to) list += (list.empty() ? "\"" : ",\"") + t + "\"";
  return R"({"type":"send","ref":")" + ref + R"(","to":[)" + list + R"(],"mode":")" + mode + R"(","order":)" + order +
         "}";
}

std::string order_op(const std::string& type, std::int64_t order_id, const std::string& extra) {
  return R"({"type":")" + type + R"(","order_id":)" + std::to_string(order_id) + extra + "}";
}

PushPredicate status_is(std::int64_t order_id, const std::string& session, const std::string& status) {
  return [=](const client::Message& m) {
    return m.type() == "status" && m.int_field("order_id") == order_id && m.string_field("session") == session &&
           m.string_field("status") == status;
  };
}

PushPredicate presence_is(const std::string& session, bool online) {
  return [=](const client::Message& m) {
    return m.type() == "presence" && m.string_field("session") == session && m.doc.HasMember("online") &&
           m.doc["online"].IsBool() && m.doc["online"].GetBool() == online;
  };
}

}  // namespace possync::test
