// One HTTP connection: with TLS configured, the TLS handshake first (bounded
// by --handshake-timeout-ms); then it reads requests with bounded header and
// body sizes and a deadline per request, answers them through the AdminApi,
// and hands `/ws` and `/api/live` upgrades to a WebSocket session. Handlers
// run on the connection's strand.
#include <optional>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "broker/http_request.hpp"
#include "broker/log.hpp"
#include "broker/net.hpp"
#include "protocol/replies.hpp"

namespace possync::broker {

void log_net_error(const char* what, const beast::error_code& ec) {
  if (ec == asio::error::operation_aborted || ec == asio::error::eof || ec == http::error::end_of_stream ||
      ec == asio::error::connection_reset || ec == beast::error::timeout || ec == asio::error::broken_pipe ||
      ec == asio::error::bad_descriptor || ec == asio::error::not_connected ||
      ec == asio::ssl::error::stream_truncated) {
    return;  // the normal ends of a connection (a TLS peer may skip close_notify)
  }
  logger().write(LogLevel::debug, "net_error", {{"what", what}, {"error", ec.message()}});
}

std::string remote_of(const Stream& stream) {
  beast::error_code ec;
  auto ep = stream.next_layer().socket().remote_endpoint(ec);
  return ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

namespace {

Stream make_stream(tcp::socket&& socket, NetContext& ctx) {
  if (ctx.tls) return Stream(beast::tcp_stream(std::move(socket)), *ctx.tls);
  return Stream(beast::tcp_stream(std::move(socket)));
}

class HttpSession final : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, NetContext& ctx)
      : stream_(make_stream(std::move(socket), ctx)), ctx_(ctx), config_(ctx.services.config) {
    ++ctx_.live_sessions;
  }
  ~HttpSession() { --ctx_.live_sessions; }

  void run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->stream_.is_tls()) return self->do_read();
      self->lowest().expires_after(std::chrono::milliseconds(self->config_.handshake_timeout_ms));
      self->stream_.tls().async_handshake(asio::ssl::stream_base::server,
                                          [self](beast::error_code ec) { self->on_handshake(ec); });
    });
  }

 private:
  beast::tcp_stream& lowest() { return stream_.next_layer(); }

  // A client that does not speak TLS (plain HTTP on a TLS port) or a
  // certificate it refuses ends here: the connection closes, nothing else.
  void on_handshake(beast::error_code ec) {
    if (ec) {
      logger().write(LogLevel::debug, "tls_handshake_failed",
                     {{"remote", remote_of(stream_)}, {"error", ec.message()}});
      return close_socket();
    }
    do_read();
  }

  void do_read() {
    parser_.emplace();
    limit_request_parser(*parser_, config_);
    // Bounds the whole request, so a slow header trickle cannot hold the connection.
    lowest().expires_after(std::chrono::milliseconds(config_.http_timeout_ms));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) return reply_error(413, "payload_too_large", "request body too large");
    if (ec == http::error::header_limit) return reply_error(431, "headers_too_large", "request headers too large");
    // Not HTTP (a bad method, version, header or chunk): one 400, then close.
    if (ec && ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return reply_error(400, "bad_request", "malformed HTTP request");
    }
    if (ec) {
      log_net_error("http read", ec);
      return ec == beast::error::timeout ? close_socket() : shutdown();
    }
    auto request = parser_->release();
    if (beast::websocket::is_upgrade(request)) {
      const std::string_view path = upgrade_route(request);
      if (path.empty()) return reply_error(404, "not_found", "no WebSocket here");
      if (ctx_.stopping) return reply_error(503, "unavailable", "broker shutting down");
      if (path == "/api/live") return start_live_session(std::move(stream_), std::move(request), ctx_);
      return start_ws_session(std::move(stream_), std::move(request), ctx_);
    }
    keep_alive_ = request.keep_alive() && !ctx_.stopping;
    version_ = request.version();
    ctx_.api.handle(api_request(request), [self = shared_from_this()](HttpResponseData response) {
      asio::post(self->stream_.get_executor(),
                 [self, response = std::move(response)]() mutable { self->write(std::move(response)); });
    });
  }

  void reply_error(int status, std::string_view code, std::string_view message) {
    keep_alive_ = false;
    version_ = 11;
    write({status, "application/json", protocol::http_error_body(code, message)});
  }

  void write(HttpResponseData data) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(data.status), version_);
    res->set(http::field::server, "possync/" POSSYNC_VERSION);
    res->set(http::field::cache_control, "no-store");
    if (data.status != 204) res->set(http::field::content_type, data.content_type);
    res->keep_alive(keep_alive_);
    res->body() = std::move(data.body);
    res->prepare_payload();
    lowest().expires_after(std::chrono::milliseconds(config_.http_timeout_ms));
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      if (ec) return log_net_error("http write", ec);
      if (!self->keep_alive_) return self->shutdown();
      self->do_read();
    });
  }

  // The end of a connection after our last reply: TLS sends close_notify
  // first (bounded; a peer that never answers is dropped), TCP half-closes.
  void shutdown() {
    if (stream_.is_tls()) {
      lowest().expires_after(std::chrono::seconds(5));
      stream_.tls().async_shutdown([self = shared_from_this()](beast::error_code) { self->close_socket(); });
      return;
    }
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  void close_socket() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().socket().close(ec);
  }

  Stream stream_;
  NetContext& ctx_;
  const Config& config_;
  beast::flat_buffer buffer_;
  std::optional<HttpRequestParser> parser_;
  bool keep_alive_ = false;
  unsigned version_ = 11;
};

}  // namespace

void start_http_session(tcp::socket socket, NetContext& ctx) {
  std::make_shared<HttpSession>(std::move(socket), ctx)->run();
}

}  // namespace possync::broker
