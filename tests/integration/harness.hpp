// Integration-test harness: a real broker (in-process, on a fresh store of
// the backend POSSYNC_TEST_STORE names — a SQLite file in a temporary
// directory or a PostgreSQL schema, tests/support/test_store.hpp —, real
// sockets on an ephemeral 127.0.0.1 port)
// and test clients built on the possync C++ client library. Waits are
// bounded by timeouts; nothing asserts on elapsed time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "broker/config.hpp"
#include "broker/server.hpp"
#include "clients/cpp/client.hpp"
#include "storage/fault_store.hpp"
#include "storage/store.hpp"
#include "tests/support/test_store.hpp"

namespace possync::test {

using namespace std::chrono_literals;
using client::MessagePtr;
using client::Reply;

constexpr auto kWait = 5s;  // upper bound of any wait for something that must happen

// A fresh directory under the system temp dir, removed at the end.
struct TempDir {
  TempDir();
  ~TempDir();
  std::filesystem::path path;
};

struct BrokerOptions {
  std::function<void(broker::Config&)> tweak;  // adjust limits etc.
};

class TestBroker {
 public:
  explicit TestBroker(BrokerOptions options = {});
  // Reopens the same store (restart on the same database).
  TestBroker(const TestStorePtr& store, BrokerOptions options);
  ~TestBroker();

  std::uint16_t port() const { return server_->port(); }
  const std::string& admin_token() const { return admin_token_; }
  storage::FaultStore& faults() { return *faults_; }
  broker::Server& server() { return *server_; }
  // Where the store lives; give it to the constructor above to reopen it.
  const TestStorePtr& store_location() const { return location_; }
  const TestStorePtr& db_file() const { return location_; }  // the name predates PostgreSQL

  // Creates (or updates) a session through the admin API; returns its token
  // when created.
  std::string add_session(const std::string& id, bool sender, bool receiver, const std::string& shop = "main");
  client::HttpResponse http(const std::string& method, const std::string& target, const std::string& body = "",
                            std::optional<std::string> token = std::nullopt);
  // `connections` of a session as GET /api/sessions reports it (-1 if absent).
  int connections_of(const std::string& id);
  // Stops the server gracefully and closes the store (as SIGTERM would).
  void shutdown();

 private:
  void open(BrokerOptions& options);
  TestStorePtr location_;
  std::string admin_token_ = "test-admin-token-0123456789abcdef";
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::FaultStore> faults_;
  std::unique_ptr<broker::Server> server_;
  bool down_ = false;
};

// One client connection that records every push and its close.
class TestClient {
 public:
  TestClient(std::uint16_t port, std::string session, std::string token, std::string origin = "");
  // Any connection options (TLS, another path); request_timeout is kWait.
  explicit TestClient(client::Options options);
  ~TestClient();

  // Connects and says hello; the welcome (or error) reply.
  Reply connect_and_hello();
  bool connect();  // transport only
  Reply call(const std::string& json_object) { return client_->call(json_object); }
  void send_text(std::string text) { client_->send_text(std::move(text)); }
  void send_binary(std::string bytes) { client_->send_binary(std::move(bytes)); }
  client::Client& raw() { return *client_; }

  // Next push (any non-reply message), or null after `timeout`.
  MessagePtr next_push(std::chrono::milliseconds timeout = kWait);
  // Skips pushes until one satisfies `pred`; null after `timeout`.
  MessagePtr wait_push(const std::function<bool(const client::Message&)>& pred,
                       std::chrono::milliseconds timeout = kWait);
  MessagePtr wait_type(const std::string& type, std::chrono::milliseconds timeout = kWait);
  std::size_t pending_pushes();
  // The close code once closed (nullopt if still open after `timeout`).
  std::optional<int> wait_closed(std::chrono::milliseconds timeout = kWait);
  // A round trip (`ping`): every push the broker queued before answering it
  // has arrived once this returns.
  bool sync();

 private:
  static client::Runtime& runtime();
  // Shared with the client's callbacks, which may outlive this object.
  struct Inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<MessagePtr> pushes;
    std::optional<int> close_code;
  };
  std::shared_ptr<Inbox> inbox_ = std::make_shared<Inbox>();
  std::shared_ptr<client::Client> client_;
};

// The admin API of the broker on 127.0.0.1:port, for tests that run it as a
// child process as well as in-process.
// Creates (or updates) a session; its token when created; throws on failure.
std::string put_session(std::uint16_t port, const std::string& admin_token, const std::string& id, bool sender,
                        bool receiver, const std::string& shop = "main");
// `connections` of a session as GET /api/sessions reports it (-1 if absent).
int session_connections(std::uint16_t port, const std::string& admin_token, const std::string& id);

// Polls `condition` (every 10 ms) until it holds or `timeout` passes: for
// waiting on state only observable by asking (e.g. the ops API).
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = kWait);

using PushPredicate = std::function<bool(const client::Message&)>;
// {"type":TYPE,"order_id":ID<extra>} — `extra` is more members, e.g. ,"reason":"x".
std::string order_op(const std::string& type, std::int64_t order_id, const std::string& extra = "");
// A `status` push for (order_id, session) with that status.
PushPredicate status_is(std::int64_t order_id, const std::string& session, const std::string& status);
// A `presence` push for the session, online or not.
PushPredicate presence_is(const std::string& session, bool online);

// A minimal order of `lines` lines, as JSON text.
std::string sample_order(int lines = 2, const std::string& note = "no onions");
// {"type":"send",…} without id.
std::string send_json(const std::string& ref, const std::vector<std::string>& to, const std::string& mode = "copy",
                      const std::string& order = sample_order());

}  // namespace possync::test
