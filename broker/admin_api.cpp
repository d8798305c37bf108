#include "broker/admin_api.hpp"

#include <charconv>
#include <limits>
#include <map>
#include <optional>
#include <string_view>

#include <rapidjson/document.h>

#include "broker/log.hpp"
#include "clients/web/assets.hpp"
#include "dashboard/assets.hpp"
#include "protocol/json.hpp"
#include "protocol/replies.hpp"
#include "storage/tokens.hpp"

namespace possync::broker {
namespace {

using Done = std::function<void(HttpResponseData)>;
using protocol::ErrorCode;

HttpResponseData json(int status, std::string body) { return {status, "application/json", std::move(body)}; }

HttpResponseData error(int status, std::string_view code, std::string_view message) {
  return json(status, protocol::http_error_body(code, message));
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_json:
    case ErrorCode::bad_request: return 400;
    case ErrorCode::unauthorized: return 401;
    case ErrorCode::forbidden: return 403;
    case ErrorCode::not_found: return 404;
    case ErrorCode::conflict: return 409;
    case ErrorCode::too_large: return 413;
    case ErrorCode::rate_limited: return 429;
    case ErrorCode::unavailable: return 503;
    case ErrorCode::internal: return 500;
  }
  return 500;
}

HttpResponseData store_error(const protocol::Error& e) {
  if (e.code == ErrorCode::unavailable || e.code == ErrorCode::internal) {
    logger().write(LogLevel::warn, "store_error",
                   {{"via", "ops api"}, {"code", protocol::to_string(e.code)}, {"message", e.message}});
  }
  return error(http_status(e.code), protocol::to_string(e.code), e.message);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    auto part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    out[percent_decode(part.substr(0, eq))] =
        eq == std::string_view::npos ? std::string{} : percent_decode(part.substr(eq + 1));
  }
  return out;
}

std::optional<std::int64_t> parse_positive(std::string_view s, std::int64_t max) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 1 || v > max) return std::nullopt;
  return v;
}

// Splits "a,b,c" into statuses; false on an unknown one.
bool parse_statuses(std::string_view s, std::vector<protocol::Status>& out) {
  while (!s.empty()) {
    auto comma = s.find(',');
    auto st = protocol::parse_status(s.substr(0, comma));
    if (!st) return false;
    out.push_back(*st);
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
  }
  return true;
}

// An embedded web page file (dashboard or POS page), or 404.
HttpResponseData asset_response(const dashboard::Asset* asset) {
  if (!asset) return error(404, "not_found", "no such file");
  return {200, std::string(asset->content_type), std::string(asset->body)};
}

}  // namespace

AdminApi::AdminApi(Services& services)
    : svc_(services), admin_token_hash_(storage::hash_token(services.config.admin_token)), live_(services) {}

void AdminApi::handle(const HttpRequestData& req, Done done) {
  std::string_view target = req.target;
  auto qmark = target.find('?');
  std::string path(target.substr(0, qmark));
  std::string query(qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1));

  if (path == "/healthz") return done(json(200, R"({"status":"ok"})"));
  if (path == "/readyz") {
    return done(svc_.store.stats().writable ? json(200, R"({"status":"ready"})")
                                             : json(503, R"({"status":"unavailable"})"));
  }
  if (path == "/metrics") {
    if (req.method != "GET") return done(error(405, "method_not_allowed", "use GET"));
    return done({200, "text/plain; version=0.0.4; charset=utf-8", live_.metrics_text()});
  }
  // The dashboard: its page at /, its other files under /dashboard/.
  if (path == "/" || path.starts_with("/dashboard/")) {
    return done(asset_response(
        dashboard::find_asset(path == "/" ? "index.html" : path.substr(std::string_view("/dashboard/").size()))));
  }
  // The POS terminal page at /pos, its other files (the JavaScript client
  // among them) under /pos/.
  if (path == "/pos" || path.starts_with("/pos/")) {
    return done(asset_response(pos::find_asset(path.size() <= 5 ? "index.html" : std::string_view(path).substr(5))));
  }
  if (!path.starts_with("/api/")) return done(error(404, "not_found", "no such route"));

  constexpr std::string_view kBearer = "Bearer ";
  if (!std::string_view(req.authorization).starts_with(kBearer)) {
    return done(error(401, "unauthorized", "Authorization: Bearer <admin token> required"));
  }
  auto presented = storage::hash_token(std::string_view(req.authorization).substr(kBearer.size()));
  if (!storage::constant_time_equal(presented, admin_token_hash_)) {
    return done(error(403, "forbidden", "wrong admin token"));
  }
  if (path == "/api/sessions" || path.starts_with("/api/sessions/")) {
    return sessions_route(req, path, query, std::move(done));
  }
  if (path == "/api/stats") {
    if (req.method != "GET") return done(error(405, "method_not_allowed", "use GET"));
    return done(json(200, live_.stats_body()));
  }
  if (path == "/api/orders" || path.starts_with("/api/orders/")) {
    return orders_route(req, path, query, std::move(done));
  }
  done(error(404, "not_found", "no such route"));
}

void AdminApi::sessions_route(const HttpRequestData& req, const std::string& path, const std::string& query,
                              Done done) {
  auto& router = svc_.router;
  if (path == "/api/sessions") {
    if (req.method != "GET") return done(error(405, "method_not_allowed", "use GET"));
    auto q = parse_query(query);
    std::optional<std::string> shop;
    if (auto it = q.find("shop"); it != q.end() && !it->second.empty()) {
      if (!protocol::valid_session_id(it->second)) return done(error(400, "bad_request", "shop: invalid id"));
      shop = it->second;
    }
    svc_.store.list_sessions(shop, [done, &router](protocol::Result<std::vector<protocol::SessionEntry>> r) {
      if (!r.ok()) return done(store_error(r.error()));
      router.fill_presence(r.value());
      done(json(200, protocol::sessions_body(r.value())));
    });
    return;
  }
  std::string rest = path.substr(std::string_view("/api/sessions/").size());
  bool token_route = false;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    if (rest.substr(slash) != "/token") return done(error(404, "not_found", "no such route"));
    rest.resize(slash);
    token_route = true;
  }
  std::string id = percent_decode(rest);
  if (!protocol::valid_session_id(id)) return done(error(400, "bad_request", "session id: invalid"));

  if (token_route) {
    if (req.method != "POST") return done(error(405, "method_not_allowed", "use POST"));
    svc_.store.rotate_token(id, [this, done, id, &router](protocol::Result<std::string> r) {
      if (!r.ok()) return done(store_error(r.error()));
      router.close_session(id, 4401, "token rotated");
      svc_.store.revoke_session(id, 4401);
      done(json(200, R"({"session":")" + id + R"(","token":")" + r.value() + R"("})"));
    });
    return;
  }
  if (req.method == "DELETE") {
    svc_.store.delete_session(id, [this, done, id, &router](protocol::Result<protocol::Done> r) {
      if (!r.ok()) return done(store_error(r.error()));
      router.close_session(id, 4401, "session deleted");
      svc_.store.revoke_session(id, 4401);
      done({204, "application/json", ""});
    });
    return;
  }
  if (req.method != "PUT") return done(error(405, "method_not_allowed", "use PUT, DELETE or POST …/token"));

  // The protocol's reader, not RapidJSON's recursive default: a deeply
  // nested body must not overflow the stack, and a name that is not UTF-8
  // would make every welcome and directory of its shop unreadable.
  rapidjson::Document body;
  if (protocol::parse_json(req.body, body) || !body.IsObject()) {
    return done(error(400, "bad_request", "body: must be a JSON object"));
  }
  storage::SessionUpdate update;
  update.session = id;
  for (const char* field : {"name", "shop"}) {
    if (!body.HasMember(field)) continue;
    const auto& v = body[field];
    if (!v.IsString()) return done(error(400, "bad_request", std::string(field) + ": must be a string"));
    std::string s(v.GetString(), v.GetStringLength());
    if (std::string_view(field) == "shop") {
      if (!protocol::valid_session_id(s)) return done(error(400, "bad_request", "shop: invalid id"));
      update.shop = s;
    } else {
      if (s.empty() || s.size() > 256) return done(error(400, "bad_request", "name: 1 to 256 characters"));
      update.name = s;
    }
  }
  for (const char* field : {"sender", "receiver"}) {
    if (!body.HasMember(field)) continue;
    if (!body[field].IsBool()) return done(error(400, "bad_request", std::string(field) + ": must be a boolean"));
    (std::string_view(field) == "sender" ? update.sender : update.receiver) = body[field].GetBool();
  }
  svc_.store.put_session(std::move(update), [this, done, id, &router](protocol::Result<storage::PutSessionOutcome> r) {
    if (!r.ok()) return done(store_error(r.error()));
    auto& out = r.value();
    // A session's shop scopes its presence and directory: its live
    // connections reconnect into the new shop.
    if (out.shop_changed) {
      router.close_session(id, 1012, "session moved to another shop");
      svc_.store.revoke_session(id, 1012);
    }
    std::vector<protocol::SessionEntry> one{out.session};
    router.fill_presence(one);
    done(json(out.created ? 201 : 200, protocol::session_body(one.front(), out.token)));
  });
}

void AdminApi::orders_route(const HttpRequestData& req, const std::string& path, const std::string& query,
                            Done done) {
  if (req.method != "GET") return done(error(405, "method_not_allowed", "use GET"));
  if (path != "/api/orders") {
    auto id = parse_positive(std::string_view(path).substr(std::string_view("/api/orders/").size()),
                             std::numeric_limits<std::int64_t>::max());
    if (!id) return done(error(400, "bad_request", "order id: must be a positive integer"));
    svc_.store.get_order(*id, [done](protocol::Result<storage::OrderDetail> r) {
      if (!r.ok()) return done(store_error(r.error()));
      done(json(200, protocol::order_detail_body(r.value().order, r.value().history)));
    });
    return;
  }
  storage::OrderFilter f;
  for (auto& [key, value] : parse_query(query)) {
    if (value.empty()) continue;
    if (key == "shop" || key == "sender" || key == "receiver") {
      if (!protocol::valid_session_id(value)) return done(error(400, "bad_request", key + ": invalid id"));
      (key == "shop" ? f.shop : key == "sender" ? f.sender : f.receiver) = value;
    } else if (key == "ref") {
      f.ref = value;
    } else if (key == "status") {
      if (!parse_statuses(value, f.statuses)) return done(error(400, "bad_request", "status: unknown status"));
    } else if (key == "limit") {
      auto n = parse_positive(value, svc_.config.limits.max_list_limit);
      if (!n) return done(error(400, "bad_request", "limit: must be an integer from 1 to 500"));
      f.limit = static_cast<int>(*n);
    } else if (key == "before") {
      auto n = parse_positive(value, std::numeric_limits<std::int64_t>::max());
      if (!n) return done(error(400, "bad_request", "before: must be a positive integer"));
      f.before = *n;
    }
  }
  svc_.store.list_orders(std::move(f), [done](protocol::Result<storage::OrderPage> r) {
    if (!r.ok()) return done(store_error(r.error()));
    done(json(200, protocol::order_list_body(r.value().orders, r.value().next_before)));
  });
}

}  // namespace possync::broker
