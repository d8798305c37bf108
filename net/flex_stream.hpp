// FlexStream: one TCP connection that is either plain or TLS, chosen when it
// is made. The broker's HTTP and WebSocket sessions and the C++ client read
// and write through it, so Beast's HTTP parser and WebSocket stream are
// instantiated once for both kinds (websocket::stream<FlexStream>, not one
// copy of every session class per transport); only this thin layer branches.
//
// It models Asio's AsyncReadStream/AsyncWriteStream and Beast's layered
// stream: next_layer() is the beast::tcp_stream underneath in both cases, so
// beast::get_lowest_layer() reaches the socket and its timeouts. WebSocket
// teardown (the TLS close_notify, then the TCP close) is found by ADL.
//
// Like every Asio stream: not thread-safe, use it on its strand, and never
// move it while an operation is pending. Include only from transport files
// (it pulls in Asio's SSL headers).
#pragma once

#include <cstddef>
#include <utility>
#include <variant>

#include <boost/asio/async_result.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace possync::net {

class FlexStream {
 public:
  using plain_type = boost::beast::tcp_stream;
  using tls_type = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using next_layer_type = plain_type;
  using executor_type = plain_type::executor_type;

  // A plain connection.
  explicit FlexStream(plain_type&& tcp) : stream_(std::in_place_type<plain_type>, std::move(tcp)) {}
  // A TLS connection over `tcp`; the caller runs tls().async_handshake first.
  FlexStream(plain_type&& tcp, boost::asio::ssl::context& tls)
      : stream_(std::in_place_type<tls_type>, std::move(tcp), tls) {}

  FlexStream(FlexStream&&) = default;
  FlexStream& operator=(FlexStream&&) = default;

  executor_type get_executor() noexcept { return next_layer().get_executor(); }

  bool is_tls() const noexcept { return std::holds_alternative<tls_type>(stream_); }
  // Only when is_tls(): the handshake, SNI, shutdown.
  tls_type& tls() { return std::get<tls_type>(stream_); }

  plain_type& next_layer() noexcept {
    if (auto* t = std::get_if<tls_type>(&stream_)) return t->next_layer();
    return std::get<plain_type>(stream_);
  }
  const plain_type& next_layer() const noexcept {
    if (const auto* t = std::get_if<tls_type>(&stream_)) return t->next_layer();
    return std::get<plain_type>(stream_);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          if (auto* t = std::get_if<tls_type>(&stream_)) return t->async_read_some(b, std::move(handler));
          std::get<plain_type>(stream_).async_read_some(b, std::move(handler));
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::beast::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          if (auto* t = std::get_if<tls_type>(&stream_)) return t->async_write_some(b, std::move(handler));
          std::get<plain_type>(stream_).async_write_some(b, std::move(handler));
        },
        token, buffers);
  }

  // WebSocket teardown after the closing handshake: TLS close_notify (when
  // TLS), then the TCP shutdown — each as Beast does it for that stream.
  template <class Handler>
  friend void async_teardown(boost::beast::role_type role, FlexStream& s, Handler&& handler) {
    using boost::beast::websocket::async_teardown;
    if (auto* t = std::get_if<tls_type>(&s.stream_)) return async_teardown(role, *t, std::forward<Handler>(handler));
    async_teardown(role, std::get<plain_type>(s.stream_), std::forward<Handler>(handler));
  }
  friend void teardown(boost::beast::role_type role, FlexStream& s, boost::beast::error_code& ec) {
    using boost::beast::websocket::teardown;
    if (auto* t = std::get_if<tls_type>(&s.stream_)) return teardown(role, *t, ec);
    teardown(role, std::get<plain_type>(s.stream_), ec);
  }

 private:
  std::variant<plain_type, tls_type> stream_;
};

}  // namespace possync::net
