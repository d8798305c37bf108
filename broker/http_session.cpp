// One HTTP connection: reads requests with bounded header and body sizes,
// answers them through the AdminApi, and hands `/ws` upgrades to a
// WebSocket session. Handlers run on the connection's strand.
#include <optional>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "broker/log.hpp"
#include "broker/net.hpp"
#include "protocol/replies.hpp"

namespace possync::broker {

void log_net_error(const char* what, const beast::error_code& ec) {
  if (ec == asio::error::operation_aborted || ec == asio::error::eof || ec == http::error::end_of_stream ||
      ec == asio::error::connection_reset || ec == beast::error::timeout || ec == asio::error::broken_pipe ||
      ec == asio::error::bad_descriptor || ec == asio::error::not_connected) {
    return;  // the normal ends of a connection
  }
  logger().write(LogLevel::debug, "net_error", {{"what", what}, {"error", ec.message()}});
}

namespace {

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
constexpr auto kRequestTimeout = std::chrono::seconds(30);

class HttpSession final : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, NetContext& ctx) : stream_(std::move(socket)), ctx_(ctx) { ++ctx_.live_sessions; }
  ~HttpSession() { --ctx_.live_sessions; }

  void run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->header_limit(kMaxHeaderBytes);
    parser_->body_limit(ctx_.services.config.max_http_body_bytes);
    // Bounds the whole request, so a slow header trickle cannot hold the connection.
    stream_.expires_after(kRequestTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::body_limit) return reply_error(413, "payload_too_large", "request body too large");
    if (ec == http::error::header_limit) return reply_error(431, "headers_too_large", "request headers too large");
    if (ec) {
      log_net_error("http read", ec);
      return shutdown();
    }
    auto request = parser_->release();
    if (beast::websocket::is_upgrade(request)) {
      std::string_view target = request.target();
      auto path = target.substr(0, target.find('?'));
      if (path != "/ws" && path != "/api/live") return reply_error(404, "not_found", "no WebSocket here");
      if (ctx_.stopping) return reply_error(503, "unavailable", "broker shutting down");
      if (path == "/api/live") return start_live_session(std::move(stream_), std::move(request), ctx_);
      return start_ws_session(std::move(stream_), std::move(request), ctx_);
    }
    keep_alive_ = request.keep_alive() && !ctx_.stopping;
    version_ = request.version();
    HttpRequestData data;
    data.method = std::string(request.method_string());
    data.target = std::string(request.target());
    data.authorization = std::string(request[http::field::authorization]);
    data.body = std::move(request.body());
    ctx_.api.handle(data, [self = shared_from_this()](HttpResponseData response) {
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
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      if (ec) return log_net_error("http write", ec);
      if (!self->keep_alive_) return self->shutdown();
      self->do_read();
    });
  }

  void shutdown() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  NetContext& ctx_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = false;
  unsigned version_ = 11;
};

}  // namespace

void start_http_session(tcp::socket socket, NetContext& ctx) {
  std::make_shared<HttpSession>(std::move(socket), ctx)->run();
}

}  // namespace possync::broker
