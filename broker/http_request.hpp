// What the HTTP transport decides about one request before any socket work:
// the parser's limits, where a WebSocket upgrade goes, and the request as
// the ops API (AdminApi) takes it. http_session.cpp acts on these; the HTTP
// fuzz target (tests/fuzz/http_target.cpp) drives them with raw bytes and
// no connection, so both read requests the same way.
//
// Include only from transport files and tests: it pulls in Beast's HTTP
// parser (link possync_asio).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "broker/admin_api.hpp"
#include "broker/config.hpp"

namespace possync::broker {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpRequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// Bounds a fresh parser by --max-http-header-bytes and --max-http-body-bytes
// (Beast's own default body limit is 8 MB; its header limit, 8 KB).
inline void limit_request_parser(HttpRequestParser& parser, const Config& config) {
  parser.header_limit(static_cast<std::uint32_t>(config.max_http_header_bytes));
  parser.body_limit(config.max_http_body_bytes);
}

// The path of an upgrade request that has a WebSocket here ("/ws" or
// "/api/live"); empty for any other path (answered 404). The query is ignored.
inline std::string_view upgrade_route(const HttpRequest& request) {
  std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/ws" || path == "/api/live") return path;
  return {};
}

// A plain (not upgrade) request as the ops API takes it. Moves the body out.
inline HttpRequestData api_request(HttpRequest& request) {
  HttpRequestData data;
  data.method = std::string(request.method_string());
  data.target = std::string(request.target());
  data.authorization = std::string(request[boost::beast::http::field::authorization]);
  data.body = std::move(request.body());
  return data;
}

}  // namespace possync::broker
