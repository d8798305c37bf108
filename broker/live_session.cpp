// One /api/live connection (PROTOCOL.md §6, clarification 29): a dashboard
// authenticates with {"type":"hello","token":"<admin token>"} as its first
// message (never in the URL), gets {"type":"welcome"}, then a `stats` frame
// every second and every `event` of the LiveFeed. A wrong token gets an
// `unauthorized` error and close 4401; no hello in time, close 4408.
//
// The transport is every connection's (websocket_session.hpp): one
// async_write in flight, a bounded outgoing queue whose overflow drops the
// connection (slow consumer), registered with the Router so a graceful
// shutdown drains it with 1001 and the connection limit covers it.
#include <rapidjson/document.h>

#include "broker/live_feed.hpp"
#include "broker/websocket_session.hpp"
#include "protocol/replies.hpp"

namespace possync::broker {

namespace {

// A dashboard sends only `hello` and `ping`: a small frame limit suffices.
constexpr std::size_t kMaxLiveMessageBytes = 4096;
constexpr auto kStatsPeriod = std::chrono::seconds(1);

class LiveSession final : public WebSocketSession<LiveSession> {
 public:
  LiveSession(Stream&& stream, NetContext& ctx, LiveFeed& feed, std::string remote)
      : WebSocketSession(std::move(stream), ctx, std::move(remote)), feed_(feed), stats_timer_(executor()) {}
  ~LiveSession() override { finish(); }

 private:
  friend class WebSocketSession<LiveSession>;

  std::size_t max_message() const { return kMaxLiveMessageBytes; }

  void on_open() {
    // Counted as a dashboard before the router counts it, and after it
    // leaves: possync_connections (router minus dashboards) never counts one.
    feed_.connection_opened();
    if (!ctx().services.router.add_connection(shared_from_this())) {
      feed_.connection_closed();
      return begin_close(1013, "too many connections");
    }
    registered_ = true;
    logger().write(LogLevel::info, "connection_open", {{"path", "/api/live"}, {"remote", remote()}});
    if (!origin_ok()) return begin_close(1008, "origin not allowed");
    if (ctx().stopping) return begin_close(1001, "broker shutting down");
    start_hello_timer();
  }

  void on_message(std::string text) {
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
      stop_hello_timer();
      write(std::make_shared<const std::string>(R"({"type":"welcome"})"));
      feed_.subscribe(shared_from_this());
      send_stats();
      return;
    }
    if (type == "ping") return write(std::make_shared<const std::string>(R"({"type":"pong"})"));
    write(std::make_shared<const std::string>(
        protocol::error_reply({}, protocol::ErrorCode::bad_request, "type: only ping is accepted here")));
  }

  void on_push(Push push) {
    if (authenticated_) write(std::move(push.frame));
  }
  bool authenticated() const { return authenticated_; }
  void on_frame_out(const std::string&) {}
  void on_writable() {}
  // A dashboard's requests (hello, ping) are answered at once: nothing to
  // wait for, a drain closes at once.
  bool wants_more() const { return true; }
  int inflight() const { return 0; }
  std::string label() const { return "(live)"; }

  void send_stats() {
    if (closing()) return;
    write(feed_.stats_frame());
    stats_timer_.expires_after(kStatsPeriod);
    stats_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e) self->send_stats();
    });
  }

  void on_closing() {
    stats_timer_.cancel();
    feed_.unsubscribe(id());
  }

  void on_closed() {
    stats_timer_.cancel();
    feed_.unsubscribe(id());
    if (registered_) {
      ctx().services.router.remove_connection(id());
      feed_.connection_closed();
      logger().write(LogLevel::info, "connection_close",
                     {{"path", "/api/live"},
                      {"remote", remote()},
                      {"code", std::to_string(close_code())},
                      {"reason", close_reason().empty() ? "closed" : close_reason()}});
    }
  }

  LiveFeed& feed_;
  asio::steady_timer stats_timer_;
  bool registered_ = false;
  bool authenticated_ = false;
};

}  // namespace

void start_live_session(Stream stream, http::request<http::string_body> request, NetContext& ctx) {
  std::string remote = remote_of(stream);
  std::make_shared<LiveSession>(std::move(stream), ctx, ctx.api.live(), std::move(remote))->run(std::move(request));
}

}  // namespace possync::broker
