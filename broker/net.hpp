// Internal to the broker's transport files (server.cpp, http_session.cpp,
// ws_session.cpp, live_session.cpp): the Beast/Asio types they share. Never include it from a
// header other code uses — Beast is expensive to compile.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "broker/admin_api.hpp"
#include "broker/conversation.hpp"

namespace possync::broker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// What every transport session needs; owned by the Server, outlives them all.
struct NetContext {
  Services& services;
  AdminApi& api;
  std::atomic<std::uint64_t> next_peer_id{1};
  std::atomic<std::int64_t> live_sessions{0};  // HTTP + WebSocket, for the shutdown drain
  std::atomic<bool> stopping{false};
};

// Logs a transport error unless it is a normal end of a connection.
void log_net_error(const char* what, const beast::error_code& ec);

// Serves HTTP on an accepted socket; upgrades /ws to a WebSocket session.
void start_http_session(tcp::socket socket, NetContext& ctx);
// Takes over a stream whose HTTP request asked for a WebSocket upgrade.
void start_ws_session(beast::tcp_stream stream, http::request<http::string_body> request, NetContext& ctx);
// Likewise for the dashboards' /api/live stream (live_session.cpp).
void start_live_session(beast::tcp_stream stream, http::request<http::string_body> request, NetContext& ctx);

}  // namespace possync::broker
