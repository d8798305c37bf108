// One /api/live connection (PROTOCOL.md §6, clarification 29): a dashboard
// authenticates with {"type":"hello","token":"<admin token>"} as its first
// message (never in the URL), gets {"type":"welcome"}, then a `stats` frame
// every second and every `event` of the LiveFeed. A wrong token gets an
// `unauthorized` error and close 4401; no hello in time, close 4408.
//
// Like a POS connection: every handler on the connection's strand, one
// async_write in flight, a bounded outgoing queue whose overflow drops the
// connection (slow consumer), registered with the Router so a graceful
// shutdown drains it with 1001 and the connection limit covers it.
#include <deque>
#include <optional>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <rapidjson/document.h>

#include "broker/live_feed.hpp"
#include "broker/log.hpp"
#include "broker/net.hpp"
#include "protocol/replies.hpp"

namespace possync::broker {
namespace websocket = beast::websocket;

namespace {

// A dashboard sends only `hello` and `ping`: a small frame limit suffices.
constexpr std::size_t kMaxLiveMessageBytes = 4096;
constexpr auto kStatsPeriod = std::chrono::seconds(1);

class LiveSession final : public Peer, public std::enable_shared_from_this<LiveSession> {
 public:
  LiveSession(Stream&& stream, NetContext& ctx, LiveFeed& feed, std::string remote)
      : ws_(std::move(stream)),
        ctx_(ctx),
        feed_(feed),
        config_(ctx.services.config),
        remote_(std::move(remote)),
        hello_timer_(ws_.get_executor()),
        stats_timer_(ws_.get_executor()),
        id_(ctx.next_peer_id.fetch_add(1)) {
    ++ctx_.live_sessions;
  }
  ~LiveSession() override {
    finish("destroyed");
    --ctx_.live_sessions;
  }

  void run(http::request<http::string_body> request) {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ec);
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::milliseconds(config_.handshake_timeout_ms);
    timeouts.idle_timeout = std::chrono::milliseconds(2 * config_.heartbeat_ms);
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "possync/" POSSYNC_VERSION); }));
    ws_.read_message_max(kMaxLiveMessageBytes);
    // --allowed-origins applies here too; the dashboard the broker serves
    // itself (same origin as the request's Host) always passes.
    origin_ok_ = origin_allowed(config_, std::string_view(request[http::field::origin]),
                                std::string_view(request[http::field::host]));
    ws_.async_accept(request, [self = shared_from_this()](beast::error_code e) { self->on_accept(e); });
  }

  // ---- Peer ------------------------------------------------------------------
  std::uint64_t peer_id() const noexcept override { return id_; }

  void push(Push p) override {
    asio::post(ws_.get_executor(), [self = shared_from_this(), frame = std::move(p.frame)]() mutable {
      if (self->authenticated_) self->write(std::move(frame));
    });
  }

  void post(std::function<void()> fn) override {
    asio::post(ws_.get_executor(), [self = shared_from_this(), fn = std::move(fn)] { fn(); });
  }

  void close(int code, std::string reason) override {
    asio::dispatch(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
      self->begin_close(code, std::move(reason));
    });
  }

  // No request ever waits on the store here: close at once.
  void drain() override { close(1001, "broker shutting down"); }

  void write(Frame frame) override {
    if (closed_ || close_sent_) return;
    if (queue_.size() >= config_.max_queued_frames || queued_bytes_ + frame->size() > config_.max_queued_bytes) {
      abort("slow consumer: outgoing queue full");
      return;
    }
    queued_bytes_ += frame->size();
    queue_.push_back(std::move(frame));
    if (!writing_) do_write();
  }

  std::size_t queued_frames() const noexcept override { return queue_.size(); }
  std::size_t queued_bytes() const noexcept override { return queued_bytes_; }
  void resume_reading() override {}

  void abort(const std::string& reason) override {
    if (closed_) return;
    metrics().on_slow_consumer_close();
    close_code_ = 1006;
    close_reason_ = reason;
    logger().write(LogLevel::warn, "slow_consumer", {{"session", "(live)"}, {"remote", remote_}, {"reason", reason}});
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).socket().close(ec);
    finish(reason);
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return log_net_error("live accept", ec), finish("handshake failed");
    // Counted as a dashboard before the router counts it, and after it
    // leaves: possync_connections (router minus dashboards) never counts one.
    feed_.connection_opened();
    if (!ctx_.services.router.add_connection(shared_from_this())) {
      feed_.connection_closed();
      return begin_close(1013, "too many connections");
    }
    registered_ = true;
    logger().write(LogLevel::info, "connection_open", {{"path", "/api/live"}, {"remote", remote_}});
    if (!origin_ok_) return begin_close(1008, "origin not allowed");
    if (ctx_.stopping) return begin_close(1001, "broker shutting down");
    hello_timer_.expires_after(std::chrono::milliseconds(config_.hello_timeout_ms));
    hello_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e && !self->authenticated_) self->begin_close(4408, "no hello in time");
    });
    do_read();
  }

  // No read starts once our close frame is on its way: Beast's close
  // operation owns the read side then (ws_session.cpp, do_read).
  void do_read() {
    if (close_sent_ || closed_) return;
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      if (ec == websocket::error::closed) {
        close_code_ = ws_.reason().code != 0 ? ws_.reason().code : 1005;  // 1005: a close frame without a code
        close_reason_ = std::string(ws_.reason().reason.c_str());
        if (close_reason_.empty()) close_reason_ = "closed by the client";
      } else {
        log_net_error("live read", ec);
      }
      return finish(ec == websocket::error::closed ? close_reason_ : ec.message());
    }
    std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.clear();
    if (!closing_) on_text(text);
    do_read();  // discards what arrives until our close frame is sent
  }

  void on_text(const std::string& text) {
    rapidjson::Document doc;
    doc.Parse(text.c_str(), text.size());
    std::string type;
    if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("type") && doc["type"].IsString()) {
      type = doc["type"].GetString();
    }
    if (!authenticated_) {
      const bool has_token = type == "hello" && doc.HasMember("token") && doc["token"].IsString();
      if (!has_token || !feed_.authorize(std::string_view(doc["token"].GetString(), doc["token"].GetStringLength()))) {
        write(std::make_shared<const std::string>(
            protocol::error_reply({}, protocol::ErrorCode::unauthorized,
                                  type == "hello" ? "wrong admin token" : "send hello with the admin token first")));
        return begin_close(4401, "bad admin token");
      }
      authenticated_ = true;
      hello_timer_.cancel();
      write(std::make_shared<const std::string>(R"({"type":"welcome"})"));
      feed_.subscribe(shared_from_this());
      send_stats();
      return;
    }
    if (type == "ping") return write(std::make_shared<const std::string>(R"({"type":"pong"})"));
    write(std::make_shared<const std::string>(
        protocol::error_reply({}, protocol::ErrorCode::bad_request, "type: only ping is accepted here")));
  }

  void send_stats() {
    if (closing_ || closed_) return;
    write(feed_.stats_frame());
    stats_timer_.expires_after(kStatsPeriod);
    stats_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e) self->send_stats();
    });
  }

  void do_write() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(asio::buffer(*queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (ec) {
      log_net_error("live write", ec);
      return finish(ec.message());
    }
    queued_bytes_ -= queue_.front()->size();
    queue_.pop_front();
    if (!queue_.empty()) return do_write();
    if (pending_close_) do_close();
  }

  void begin_close(int code, std::string reason) {
    if (closing_ || closed_) return;
    closing_ = true;
    close_code_ = code;
    close_reason_ = reason;
    hello_timer_.cancel();
    stats_timer_.cancel();
    feed_.unsubscribe(id_);
    websocket::close_reason cr;
    cr.code = static_cast<std::uint16_t>(code);
    cr.reason = reason;
    pending_close_ = std::move(cr);
    if (!writing_) do_close();
  }

  void do_close() {
    if (close_sent_ || closed_) return;
    close_sent_ = true;
    writing_ = true;
    beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(5));
    ws_.async_close(*pending_close_, [self = shared_from_this()](beast::error_code ec) {
      self->writing_ = false;
      if (ec && ec != websocket::error::closed) log_net_error("live close", ec);
      self->finish("closed by the broker");
    });
  }

  void finish(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    hello_timer_.cancel();
    stats_timer_.cancel();
    feed_.unsubscribe(id_);
    if (registered_) {
      ctx_.services.router.remove_connection(id_);
      feed_.connection_closed();
      logger().write(LogLevel::info, "connection_close",
                     {{"path", "/api/live"},
                      {"remote", remote_},
                      {"code", std::to_string(close_code_)},
                      {"reason", close_reason_.empty() ? why : close_reason_}});
    }
  }

  websocket::stream<Stream> ws_;
  NetContext& ctx_;
  LiveFeed& feed_;
  const Config& config_;
  const std::string remote_;
  asio::steady_timer hello_timer_;
  asio::steady_timer stats_timer_;
  const std::uint64_t id_;
  beast::flat_buffer buffer_;
  std::deque<Frame> queue_;
  std::size_t queued_bytes_ = 0;
  std::optional<websocket::close_reason> pending_close_;
  int close_code_ = 1006;  // until a close frame says otherwise
  std::string close_reason_;
  bool origin_ok_ = true;
  bool registered_ = false;
  bool authenticated_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool close_sent_ = false;
  bool closed_ = false;
};

}  // namespace

void start_live_session(Stream stream, http::request<http::string_body> request, NetContext& ctx) {
  std::string remote = remote_of(stream);
  std::make_shared<LiveSession>(std::move(stream), ctx, ctx.api.live(), std::move(remote))->run(std::move(request));
}

}  // namespace possync::broker
