// One /ws connection: a POS terminal's Conversation over the WebSocket
// transport every connection shares (websocket_session.hpp).
#include "broker/websocket_session.hpp"

namespace possync::broker {

namespace {

class WsSession final : public WebSocketSession<WsSession> {
 public:
  WsSession(Stream&& stream, NetContext& ctx, std::string remote)
      : WebSocketSession(std::move(stream), ctx, remote), conv_(ctx.services, std::move(remote)) {}
  ~WsSession() override { finish(); }

 private:
  friend class WebSocketSession<WsSession>;

  std::size_t max_message() const { return config().max_message_bytes; }

  void on_open() {
    metrics().on_connection_opened();
    logger().write(LogLevel::info, "connection_open", {{"path", "/ws"}, {"remote", remote()}});
    // Upgraded, then closed: a browser sees the reason (clarification 19).
    if (!origin_ok()) return begin_close(1008, "origin not allowed");
    if (!ctx().services.router.add_connection(shared_from_this())) {
      return begin_close(1013, "too many connections");
    }
    conv_.bind(weak_from_this(), id());
    start_hello_timer();
    if (ctx().stopping) start_draining();
  }

  void on_message(std::string text) { conv_.on_text(text); }
  void on_push(Push push) { conv_.on_push(std::move(push)); }
  bool authenticated() const { return conv_.authenticated(); }
  void on_frame_out(const std::string& frame) { metrics().on_message_out(frame); }
  void on_writable() { conv_.on_writable(); }
  bool wants_more() const { return conv_.wants_more(); }
  int inflight() const { return conv_.inflight(); }
  void on_closing() {}
  std::string label() const { return conv_.session(); }

  void on_closed() {
    if (opened()) {
      logger().write(LogLevel::info, "connection_close",
                     {{"path", "/ws"},
                      {"session", conv_.session()},
                      {"remote", remote()},
                      {"code", std::to_string(close_code())},
                      {"reason", close_reason()}});
    }
    conv_.on_closed();
  }

  Conversation conv_;
};

}  // namespace

void start_ws_session(Stream stream, http::request<http::string_body> request, NetContext& ctx) {
  std::string remote = remote_of(stream);
  std::make_shared<WsSession>(std::move(stream), ctx, std::move(remote))->run(std::move(request));
}

}  // namespace possync::broker
