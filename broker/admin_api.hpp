// The operations HTTP API of PROTOCOL.md §6 (health, sessions, orders),
// as plain request → response logic with no Beast: the HTTP transport hands
// in the method, target, Authorization header and body, and gets a
// response back through a callback (possibly on a store thread).
#pragma once

#include <functional>
#include <string>

#include "broker/conversation.hpp"
#include "broker/live_feed.hpp"

namespace possync::broker {

struct HttpRequestData {
  std::string method;
  std::string target;         // path and query, as received
  std::string authorization;  // the Authorization header ("" if absent)
  std::string body;
};

struct HttpResponseData {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class AdminApi {
 public:
  explicit AdminApi(Services& services);
  // Answers one request; `done` is called exactly once, on any thread.
  void handle(const HttpRequestData& request, std::function<void(HttpResponseData)> done);
  // The hub of the /api/live streams and of this server's figures.
  LiveFeed& live() noexcept { return live_; }

 private:
  void sessions_route(const HttpRequestData& req, const std::string& path, const std::string& query,
                      std::function<void(HttpResponseData)> done);
  void orders_route(const HttpRequestData& req, const std::string& path, const std::string& query,
                    std::function<void(HttpResponseData)> done);

  Services& svc_;
  std::string admin_token_hash_;
  LiveFeed live_;
};

}  // namespace possync::broker
