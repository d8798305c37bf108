// The WebSocket transport of every broker connection, written once: /ws
// (ws_session.cpp, a POS terminal's Conversation) and /api/live
// (live_session.cpp, a dashboard) derive from WebSocketSession<Derived>, as
// the sessions of Beast's advanced server derive from
// websocket_session<Derived>. Internal to those two files (Beast is
// expensive to compile; see net.hpp).
//
// What it does for both: the handshake and its timeouts, Beast's keep-alive
// pings, the origin check's verdict, a read loop that keeps every Beast
// precondition (two steps; none once our close frame is on its way), one
// async_write in flight, a bounded outgoing queue whose overflow drops the
// connection (the slow-consumer policy), the closing handshake after the
// queued frames, the hello timer, backpressure on requests and the
// graceful-shutdown drain. Every handler runs on the connection's strand
// (the stream's executor).
//
// What Derived provides (called on the strand):
//   std::size_t max_message() const;          // read_message_max
//   void on_open();                           // handshake done: register, check, start_hello_timer() …
//   void on_message(std::string text);        // one text message
//   void on_push(Push push);                  // Peer::push, on the strand
//   bool authenticated() const;               // the hello timer's question
//   void on_frame_out(const std::string&);    // a frame queued for writing (metrics)
//   void on_writable();                       // a frame went out (a replay continues)
//   bool wants_more() const;                  // may another request be read now?
//   int inflight() const;                     // requests not answered yet (drain waits for them)
//   void on_closing();                        // our close begins (stop timers, feeds)
//   void on_closed();                         // the connection is over (once)
//   std::string label() const;                // for the slow-consumer log line
#pragma once

#include <optional>
#include <string>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "broker/log.hpp"
#include "broker/metrics.hpp"
#include "broker/net.hpp"
#include "broker/small_fifo.hpp"

namespace possync::broker {

namespace websocket = beast::websocket;

template <class Derived>
class WebSocketSession : public Peer, public std::enable_shared_from_this<Derived> {
 public:
  WebSocketSession(Stream&& stream, NetContext& ctx, std::string remote)
      : ws_(std::move(stream)),
        ctx_(ctx),
        config_(ctx.services.config),
        remote_(std::move(remote)),
        hello_timer_(ws_.get_executor()),
        id_(ctx.next_peer_id.fetch_add(1)) {
    ++ctx_.live_sessions;
  }
  ~WebSocketSession() override { --ctx_.live_sessions; }

  void run(http::request<http::string_body> request) {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ec);
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::milliseconds(config_.handshake_timeout_ms);
    // Beast pings after half the idle time and drops the connection when a
    // whole idle period passes without a frame: ping every heartbeat, close
    // after two heartbeats of silence.
    timeouts.idle_timeout = std::chrono::milliseconds(2 * config_.heartbeat_ms);
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "possync/" POSSYNC_VERSION); }));
    // A message of exactly the limit passes; anything larger makes Beast
    // fail the connection with close code 1009.
    ws_.read_message_max(derived().max_message());
    ws_.auto_fragment(false);
    // --allowed-origins; the pages the broker serves itself (same origin as
    // the request's Host) always pass.
    origin_ok_ = origin_allowed(config_, std::string_view(request[http::field::origin]),
                                std::string_view(request[http::field::host]));
    ws_.async_accept(request, [self = this->shared_from_this()](beast::error_code e) { self->on_accept(e); });
  }

  // ---- Peer ------------------------------------------------------------------
  std::uint64_t peer_id() const noexcept override { return id_; }

  void push(Push p) override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this(), p = std::move(p)]() mutable {
      if (!self->closed_) self->on_push(std::move(p));
    });
  }

  void post(std::function<void()> fn) override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this(), fn = std::move(fn)] { fn(); });
  }

  void close(int code, std::string reason) override {
    asio::dispatch(ws_.get_executor(), [self = this->shared_from_this(), code, reason = std::move(reason)]() mutable {
      self->begin_close(code, std::move(reason));
    });
  }

  void drain() override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this()] {
      self->draining_ = true;
      self->maybe_finish_drain();
    });
  }

  void write(Frame frame) override {
    if (closed_ || close_sent_) return;
    if (queue_.size() >= config_.max_queued_frames || queued_bytes_ + frame->size() > config_.max_queued_bytes) {
      abort("slow consumer: outgoing queue full");
      return;
    }
    derived().on_frame_out(*frame);
    queued_bytes_ += frame->size();
    queue_.push_back(std::move(frame));
    if (!writing_) do_write();
  }

  std::size_t queued_frames() const noexcept override { return queue_.size(); }
  std::size_t queued_bytes() const noexcept override { return queued_bytes_; }

  void resume_reading() override {
    if (maybe_finish_drain()) return;
    if (read_paused_ && !closing_ && !closed_ && !draining_ && may_read()) {
      read_paused_ = false;
      do_read();
    }
  }

  void abort(const std::string& reason) override {
    if (closed_) return;
    metrics().on_slow_consumer_close();
    close_code_ = 1006;  // dropped without a close frame
    close_reason_ = reason;
    logger().write(LogLevel::warn, "slow_consumer",
                   {{"session", derived().label()}, {"remote", remote_}, {"reason", reason}});
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).socket().close(ec);
    finish();
  }

 protected:
  Derived& derived() { return static_cast<Derived&>(*this); }
  const Derived& derived() const { return static_cast<const Derived&>(*this); }

  // Ends the connection if the client has not authenticated within
  // --hello-timeout-ms (close 4408).
  void start_hello_timer() {
    hello_timer_.expires_after(std::chrono::milliseconds(config_.hello_timeout_ms));
    hello_timer_.async_wait([self = this->shared_from_this()](beast::error_code e) {
      if (!e && !self->derived().authenticated()) self->begin_close(4408, "no hello in time");
    });
  }
  void stop_hello_timer() { hello_timer_.cancel(); }

  // Closes after the queued frames (error replies before a 4401 included).
  void begin_close(int code, std::string reason) {
    if (closing_ || closed_) return;
    closing_ = true;
    close_code_ = code;
    close_reason_ = reason;
    hello_timer_.cancel();
    derived().on_closing();
    websocket::close_reason cr;
    cr.code = static_cast<std::uint16_t>(code);
    cr.reason = reason;
    pending_close_ = std::move(cr);
    if (!writing_ && queue_.empty()) do_close();
  }

  bool closing() const { return closing_ || closed_; }
  bool opened() const { return opened_; }
  bool origin_ok() const { return origin_ok_; }
  void start_draining() { draining_ = true; }
  int close_code() const { return close_code_; }
  const std::string& close_reason() const { return close_reason_; }
  const std::string& remote() const { return remote_; }
  std::uint64_t id() const { return id_; }
  NetContext& ctx() { return ctx_; }
  // The connection's strand: timers of Derived's own run on it.
  auto executor() { return ws_.get_executor(); }
  const Config& config() const { return config_; }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return log_net_error("websocket accept", ec), finish();
    opened_ = true;
    derived().on_open();
    if (!closing_ && !closed_) do_read();
  }

  // Two steps, so that an idle connection holds no read buffer (Beast's
  // async_read prepares ~1.5 KiB of buffer_ before a byte arrives:
  // bench/results/profiles-2026-11-27.md). First a read of zero payload
  // bytes: it waits for the next message's first frame header, handling
  // pings, pongs and close frames meanwhile, and works alike for plain TCP
  // and TLS and for bytes Beast already holds in its own frame buffer. Then
  // the message itself, into a buffer sized for what has arrived.
  //
  // No read starts once our close frame is on its way: from then on
  // Beast's close operation owns the read side. It discards frames until
  // the client's close frame arrives, and may do so between our two steps,
  // consuming the rest of a message whose header the first step read. A
  // second step started then finds the message neither done nor with bytes
  // left, the state Beast's read_size_hint asserts against
  // (`rd_remain > 0`, issue #15): Debug and ASan builds abort there, and
  // release builds read into a buffer of zero bytes until the close
  // completes. Any client can bring it about by sending on after the
  // broker starts to close (4429, 1003, 1008, 1009, 4401 …).
  void do_read() {
    if (close_sent_ || closed_) return;
    // Zero bytes, but at a real address: Beast's UTF-8 check does pointer
    // arithmetic on the buffer even when it is empty, and crashes on null.
    static char no_payload[1];
    ws_.async_read_some(asio::mutable_buffer(no_payload, 0),
                        [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                          self->on_message_start(ec);
                        });
  }

  void on_message_start(beast::error_code ec) {
    // An error, or an empty message (already complete): nothing to read.
    if (ec || ws_.is_message_done()) return on_read(ec);
    if (close_sent_) return;  // the close operation discards the rest (see do_read)
    ws_.async_read(buffer_,
                   [self = this->shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
  }

  // After each message: give the read buffer's storage back.
  void release_buffer() {
    buffer_.clear();
    buffer_.shrink_to_fit();
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      if (ec == websocket::error::closed) {
        if (!closing_) {  // the client closed first: its code and reason
          close_code_ = ws_.reason().code != 0 ? ws_.reason().code : 1005;  // 1005: no code in the frame
          close_reason_ = std::string(ws_.reason().reason.c_str());
        }
      } else {
        log_net_error("websocket read", ec);
        if (!closing_ && close_reason_.empty()) close_reason_ = ec.message();
      }
      return finish();
    }
    if (closing_) {  // after our close frame: discard until the peer's close arrives
      release_buffer();
      return do_read();
    }
    if (!ws_.got_text()) {
      release_buffer();
      return begin_close(1003, "binary frames are not supported");
    }
    std::string text = beast::buffers_to_string(buffer_.data());
    release_buffer();
    derived().on_message(std::move(text));
    if (closing_ || closed_) {
      if (!closed_) do_read();  // discards what arrives until our close frame is sent
      return;
    }
    if (draining_ || !may_read()) {
      read_paused_ = true;
      maybe_finish_drain();
      return;
    }
    do_read();
  }

  void do_write() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(*queue_.front()),
                    [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) {
      writing_ = false;
      log_net_error("websocket write", ec);
      if (!closing_ && close_reason_.empty()) close_reason_ = ec.message();
      return finish();
    }
    queued_bytes_ -= queue_.front()->size();
    queue_.pop_front();
    // Still `writing_` while Derived refills the queue (a replay continues
    // here): write() only queues, and the one do_write() below keeps
    // exactly one async_write in flight. Clearing it first let the refill
    // start a write and this function a second one of the same frame.
    derived().on_writable();
    if (read_paused_) resume_reading();
    writing_ = false;
    if (closed_) return;
    if (!queue_.empty()) return do_write();
    if (pending_close_) do_close();
  }

  void do_close() {
    if (close_sent_ || closed_) return;
    close_sent_ = true;
    writing_ = true;
    // Bound the closing handshake: a peer that never answers is dropped.
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(5));
    ws_.async_close(*pending_close_, [self = this->shared_from_this()](beast::error_code ec) {
      self->writing_ = false;
      if (ec && ec != websocket::error::closed) log_net_error("websocket close", ec);
      // With no read of ours pending (do_read), the closing handshake's end
      // is the connection's end.
      self->finish();
    });
  }

  // Backpressure on requests: a client whose replies pile up (it reads
  // slower than it asks) is not read from until its queue halves, so its
  // own replies never trip the slow-consumer limit.
  bool may_read() const {
    return derived().wants_more() && queue_.size() < config_.max_queued_frames / 2 &&
           queued_bytes_ < config_.max_queued_bytes / 2;
  }

  bool maybe_finish_drain() {
    if (!draining_ || derived().inflight() > 0 || closing_) return false;
    begin_close(1001, "broker shutting down");
    return true;
  }

 protected:
  // The connection is over: Derived's on_closed() once. Derived's
  // destructor calls it too (a session dropped without an end).
  void finish() {
    if (closed_) return;
    closed_ = true;
    hello_timer_.cancel();
    derived().on_closed();
  }

 private:
  websocket::stream<Stream> ws_;
  NetContext& ctx_;
  const Config& config_;
  const std::string remote_;
  asio::steady_timer hello_timer_;
  const std::uint64_t id_;
  beast::flat_buffer buffer_;
  SmallFifo<Frame> queue_;  // allocates nothing while empty
  std::size_t queued_bytes_ = 0;
  std::optional<websocket::close_reason> pending_close_;
  int close_code_ = 1006;     // no close frame (yet): the connection dropped
  std::string close_reason_;  // ours, the client's, or the transport error
  bool opened_ = false;       // the handshake completed
  bool writing_ = false;
  bool read_paused_ = false;
  bool closing_ = false;
  bool close_sent_ = false;
  bool closed_ = false;
  bool draining_ = false;
  bool origin_ok_ = true;
};

}  // namespace possync::broker
