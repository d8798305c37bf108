// http_request: one blocking HTTP/1.1 exchange for the ops API. It runs its
// own small io_context on the calling thread, so it may be used anywhere a
// blocking call is acceptable (the CLI, test bodies), and never on a Runtime
// thread's callback.
#include "clients/cpp/client.hpp"

// GCC 12 reports -Wnull-dereference inside Asio's any_executor comparison
// once it is inlined here (a false positive in a system header that the
// system-header rule misses for middle-end warnings).
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <exception>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "clients/cpp/tls.hpp"
#include "net/flex_stream.hpp"

namespace possync::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// An ops API answer is a page of orders at most; anything larger is a bug.
constexpr std::uint64_t kMaxResponseBodyBytes = 64 * 1024 * 1024;

class Exchange {
 public:
  Exchange(const Options& endpoint, http::request<http::string_body> request, std::chrono::milliseconds timeout)
      : endpoint_(endpoint),
        host_(endpoint.host),
        port_(endpoint.port),
        timeout_(timeout),
        request_(std::move(request)) {
    parser_.body_limit(kMaxResponseBodyBytes);
  }

  HttpResponse run() {
    if (endpoint_.tls) {
      tls_.emplace(asio::ssl::context::tls_client);
      if (auto bad = detail::configure_tls(*tls_, endpoint_); !bad.empty()) {
        out_.error = bad;
        return std::move(out_);
      }
      stream_.emplace(beast::tcp_stream(ioc_), *tls_);
    } else {
      stream_.emplace(beast::tcp_stream(ioc_));
    }
    lowest().expires_after(timeout_);  // one deadline for connect, handshake, write and read
    resolver_.async_resolve(host_, std::to_string(port_),
                            [this](error_code ec, const tcp::resolver::results_type& results) {
                              on_resolve(ec, results);
                            });
    // The resolver is not covered by the stream's deadline; this bounds it.
    ioc_.run_for(timeout_ + std::chrono::seconds(1));
    if (!finished_) out_.error = "timeout";
    return std::move(out_);
  }

 private:
  void on_resolve(error_code ec, const tcp::resolver::results_type& results) {
    if (ec) return fail("resolve " + host_, ec);
    lowest().async_connect(results, [this](error_code e, const tcp::endpoint&) { on_connect(e); });
  }

  void on_connect(error_code ec) {
    if (ec) return fail("connect " + host_ + ":" + std::to_string(port_), ec);
    if (!stream_->is_tls()) return send();
    if (auto bad = detail::prepare_tls_connection(stream_->tls().native_handle(), endpoint_); !bad.empty()) {
      finished_ = true;
      out_.error = bad;
      return;
    }
    stream_->tls().async_handshake(asio::ssl::stream_base::client, [this](error_code e) {
      if (e) return fail("tls handshake", e);
      send();
    });
  }

  void send() {
    http::async_write(*stream_, request_, [this](error_code e, std::size_t) { on_write(e); });
  }

  void on_write(error_code ec) {
    if (ec) return fail("write", ec);
    http::async_read(*stream_, buffer_, parser_, [this](error_code e, std::size_t) { on_read(e); });
  }

  void on_read(error_code ec) {
    if (ec) return fail("read", ec);
    finished_ = true;
    auto& response = parser_.get();
    out_.status = static_cast<int>(response.result_int());
    out_.content_type = std::string(response[http::field::content_type]);
    out_.body = std::move(response.body());
    error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  void fail(const std::string& what, error_code ec) {
    finished_ = true;
    out_.error = ec == beast::error::timeout ? "timeout" : what + ": " + ec.message();
  }

  beast::tcp_stream& lowest() { return stream_->next_layer(); }

  const Options& endpoint_;
  std::string host_;
  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  asio::io_context ioc_{1};
  tcp::resolver resolver_{ioc_};
  std::optional<asio::ssl::context> tls_;
  std::optional<net::FlexStream> stream_;
  http::request<http::string_body> request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
  HttpResponse out_;
  bool finished_ = false;
};

}  // namespace

HttpResponse http_request(const std::string& host, std::uint16_t port, const std::string& method,
                          const std::string& target, const std::string& bearer_token, const std::string& body,
                          std::chrono::milliseconds timeout) {
  Options endpoint;
  endpoint.host = host;
  endpoint.port = port;
  return http_request(endpoint, method, target, bearer_token, body, timeout);
}

HttpResponse http_request(const Options& endpoint, const std::string& method, const std::string& target,
                          const std::string& bearer_token, const std::string& body, std::chrono::milliseconds timeout) {
  const std::string& host = endpoint.host;
  const std::uint16_t port = endpoint.port;
  try {
    http::request<http::string_body> request;
    const http::verb verb = http::string_to_verb(method);
    if (verb == http::verb::unknown) {
      request.method_string(method);
    } else {
      request.method(verb);
    }
    request.target(target);
    request.version(11);
    const bool ipv6_literal = host.find(':') != std::string::npos;
    request.set(http::field::host, (ipv6_literal ? "[" + host + "]" : host) + ":" + std::to_string(port));
    request.set(http::field::user_agent, "possync-cpp/" POSSYNC_VERSION);
    request.set(http::field::accept, "application/json");
    if (!bearer_token.empty()) request.set(http::field::authorization, "Bearer " + bearer_token);
    if (!body.empty()) {
      request.set(http::field::content_type, "application/json");
      request.body() = body;
    }
    request.keep_alive(false);
    request.prepare_payload();
    Exchange exchange(endpoint, std::move(request), timeout);
    return exchange.run();
  } catch (const std::exception& e) {  // bad_alloc, or a header value Beast refuses
    HttpResponse out;
    out.error = e.what();
    return out;
  }
}

}  // namespace possync::client
