// Internal to the broker's transport files (server.cpp, http_session.cpp,
// ws_session.cpp, live_session.cpp): the Beast/Asio types they share. Never include it from a
// header other code uses — Beast is expensive to compile.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "broker/admin_api.hpp"
#include "broker/conversation.hpp"
#include "net/flex_stream.hpp"

namespace possync::broker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
// Every connection's stream: plain TCP, or TLS when --tls-cert is given.
using Stream = net::FlexStream;

// What every transport session needs; owned by the Server, outlives them all.
struct NetContext {
  Services& services;
  AdminApi& api;
  std::atomic<std::uint64_t> next_peer_id{1};
  std::atomic<std::int64_t> live_sessions{0};  // HTTP + WebSocket, for the shutdown drain
  std::atomic<bool> stopping{false};
  // The server's TLS context when --tls-cert/--tls-key are set: then every
  // accepted connection is TLS (https:// and wss://), none is plain.
  asio::ssl::context* tls = nullptr;
};

// Logs a transport error unless it is a normal end of a connection.
void log_net_error(const char* what, const beast::error_code& ec);

// Serves HTTP on an accepted socket (after the TLS handshake when
// ctx.tls is set); upgrades /ws to a WebSocket session.
void start_http_session(tcp::socket socket, NetContext& ctx);
// Takes over a stream whose HTTP request asked for a WebSocket upgrade.
void start_ws_session(Stream stream, http::request<http::string_body> request, NetContext& ctx);
// Likewise for the dashboards' /api/live stream (live_session.cpp).
void start_live_session(Stream stream, http::request<http::string_body> request, NetContext& ctx);
// "host:port" of the stream's peer, "?" when unknown (for logs).
std::string remote_of(const Stream& stream);

}  // namespace possync::broker
