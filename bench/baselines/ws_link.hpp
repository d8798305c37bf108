// A bare WebSocket client connection for the peer baselines (MQTT and NATS
// over WebSockets): connect with an optional subprotocol, send messages,
// receive each message's bytes. The possync client library speaks the
// possync JSON protocol on top of its transport; the peers need the
// transport alone, so this is that part, small. Beast/Asio stay in
// ws_link.cpp.
//
// Threading: an IoPool runs one io_context per thread. A link lives on one
// of them (chosen at connect); its handlers all run on that thread, and
// send()/close() must be called there too (from a handler, or through
// post()). Nothing is locked.
//
// Outgoing messages queue with one write in flight. The queue is not
// bounded here: the peer driver bounds it (a publisher keeps at most its
// window in flight; a subscriber only answers what it received).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace possync::bench {

class IoPool {
 public:
  explicit IoPool(int threads);
  ~IoPool();  // stop(), then destroys the io_contexts and what is pending on them
  // Stops every io_context and joins the threads; nothing runs on them
  // afterwards. Idempotent.
  void stop();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;
  int size() const;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

struct WsOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string path = "/";
  std::string subprotocol;  // Sec-WebSocket-Protocol, e.g. "mqtt"; none when empty
  bool binary = true;       // frame type of what send() writes
};

class WsLink {
 public:
  struct Handlers {
    std::function<void(const std::string& error)> on_open;  // "" when the handshake succeeded
    std::function<void(std::string_view message)> on_message;
    std::function<void(const std::string& why)> on_close;  // after on_open(""), once
  };

  // A link on the pool's thread `slot % size()`; start() connects it.
  static std::shared_ptr<WsLink> create(IoPool& pool, int slot, WsOptions options, Handlers handlers);
  virtual ~WsLink() = default;

  // Any thread, once.
  virtual void start() = 0;

  // The link's thread only.
  virtual void send(std::string data) = 0;
  virtual void close() = 0;
  // Runs `task` on the link's thread.
  virtual void post(std::function<void()> task) = 0;
};

}  // namespace possync::bench
