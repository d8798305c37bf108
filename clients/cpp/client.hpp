// possync C++ client library: an asynchronous WebSocket client for the
// possync protocol, used by the tests, the `possync` CLI and the load harness.
// Beast/Asio stay inside the library's sources (client.cpp and the internal
// connection.hpp/.cpp); this header is cheap to include.
//
// Threading: a Runtime owns an io_context and its threads. Every callback of
// every Client on that Runtime runs on one of those threads, serialized per
// Client (a strand). Methods of Client may be called from any thread. The
// blocking helpers (`*_sync`, `call`) must not be called from a callback.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace possync::client {

// One incoming message: its raw text and the parsed document.
struct Message {
  std::string text;
  rapidjson::Document doc;
  std::string type() const;                  // "" if missing
  bool is_error() const { return type() == "error"; }
  std::string error_code() const;            // `code` of an error reply, else ""
  std::int64_t int_field(const char* name, std::int64_t fallback = 0) const;
  std::string string_field(const char* name) const;
};
using MessagePtr = std::shared_ptr<const Message>;
MessagePtr parse_message(std::string text);  // never null; doc has parse error on bad text

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string path = "/ws";
  std::string session;
  std::string token;
  std::string client_name = "possync-cpp/0.1";
  std::string origin;  // sent as the Origin header when non-empty
  std::string local_address;  // bind the socket here first when non-empty (e.g. 127.0.0.2)
  // TLS (wss:// and https://). The broker's certificate is verified against
  // `ca_file` (PEM) when given, else the system's CAs, and must name `host`
  // (DNS name or IP address). `insecure` skips every check: tests only.
  bool tls = false;
  std::string ca_file;
  bool insecure = false;
  std::chrono::milliseconds request_timeout{10000};
  std::size_t max_message_bytes = 16 * 1024 * 1024;
};

class Runtime {
 public:
  explicit Runtime(int threads = 1);
  ~Runtime();  // stops the io_context and joins its threads
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// The reply to a request: a message (a success reply or a protocol `error`),
// or a transport failure (timeout, connection closed) with no message.
struct Reply {
  MessagePtr message;      // null on transport failure
  std::string failure;     // why there is no message ("timeout", "closed: …")
  bool ok() const { return message && !message->is_error(); }
};
using ReplyHandler = std::function<void(Reply)>;

class Client : public std::enable_shared_from_this<Client> {
 public:
  static std::shared_ptr<Client> create(Runtime& runtime, Options options);
  virtual ~Client() = default;

  // Handlers; set them before connect().
  // Every message that is not a reply to a pending request (order, status,
  // presence pushes, and replies without a known id).
  virtual void on_push(std::function<void(MessagePtr)> handler) = 0;
  // The connection closed (code and reason of the close frame, 1006 when the
  // socket dropped without one). Called once per connection.
  virtual void on_close(std::function<void(int code, std::string reason)> handler) = 0;

  // TCP connect + WebSocket handshake. `done("")` on success, else the error.
  virtual void connect(std::function<void(std::string error)> done) = 0;
  // Sends `hello` with the options' session and token; the reply (welcome or error).
  virtual void hello(ReplyHandler done) = 0;

  // Sends a request object. `json_object` is a JSON object text without
  // "id"; the client adds a fresh numeric id and correlates the reply.
  virtual void request(std::string json_object, ReplyHandler done) = 0;
  // Sends text as-is with no correlation (ack, malformed input in tests).
  virtual void send_text(std::string text) = 0;
  virtual void send_binary(std::string bytes) = 0;
  // Close with a code (1000 normal). Pending requests fail with "closed".
  virtual void close(int code = 1000) = 0;
  virtual bool is_open() const = 0;

  // Typed requests (build the JSON and call request()).
  void send_order(std::string_view ref, const std::vector<std::string>& to, std::string_view mode,
                  std::string_view order_json, ReplyHandler done);
  void ack(std::int64_t order_id);
  void list(std::string_view box, const std::vector<std::string>& statuses, int limit,
            std::optional<std::int64_t> before, ReplyHandler done);
  void deliver(std::int64_t order_id, ReplyHandler done);
  void reject(std::int64_t order_id, std::optional<std::string> reason, ReplyHandler done);
  void cancel(std::int64_t order_id, ReplyHandler done);
  void sessions(ReplyHandler done);
  void ping(ReplyHandler done);

  // Blocking conveniences for tests and the CLI (not from a callback).
  std::string connect_sync();                   // "" on success
  Reply call(std::string json_object);          // request() and wait
  Reply hello_sync();

  const Options& options() const { return options_; }

 protected:
  explicit Client(Options options) : options_(std::move(options)) {}
  Options options_;
};

// Escapes a string as a JSON string literal (with quotes).
std::string json_quote(std::string_view s);

// ---- ops HTTP API (blocking; for the CLI and tests) ----------------------
struct HttpResponse {
  int status = 0;  // 0: transport failure, see `error`
  std::string body;
  std::string error;
  std::string content_type;
};
HttpResponse http_request(const std::string& host, std::uint16_t port, const std::string& method,
                          const std::string& target, const std::string& bearer_token = "",
                          const std::string& body = "",
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
// The same to the broker `endpoint` names: its host and port, and TLS
// (https://) with its ca_file/insecure when `endpoint.tls`.
HttpResponse http_request(const Options& endpoint, const std::string& method, const std::string& target,
                          const std::string& bearer_token = "", const std::string& body = "",
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

}  // namespace possync::client
