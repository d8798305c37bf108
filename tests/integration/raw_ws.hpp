// A WebSocket client written frame by frame on a RawSocket, for what the
// client library never sends: frames split at any byte, messages
// fragmented with empty continuation frames, pings between fragments,
// close frames mid-message, frames after a close. It reads the broker's
// frames (unmasked, as servers send them) one at a time. Blocking calls,
// each bounded by a timeout; one thread may send while another reads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tests/integration/raw_socket.hpp"

namespace possync::test {

enum class WsOp : std::uint8_t { cont = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

// One client frame: masked with a key that changes from frame to frame.
std::string ws_frame(WsOp op, std::string_view payload, bool fin = true);
// A close frame's payload: the code, then the reason.
std::string ws_close_payload(std::uint16_t code, std::string_view reason = "");

struct WsFrame {
  WsOp op = WsOp::text;
  bool fin = true;
  std::string payload;
  // For a close frame: its code (1005 when it carries none).
  int close_code() const;
};

class RawWs {
 public:
  // Connects and upgrades on `path`; upgraded() says whether the broker
  // answered 101.
  RawWs(std::uint16_t port, std::string_view path, std::string_view extra_headers = "");

  bool upgraded() const { return upgraded_; }
  RawSocket& socket() { return socket_; }
  // Writes `bytes` in pieces of at most `piece` bytes, one send() each;
  // false once the broker closed or reset the connection.
  bool send(std::string_view bytes, std::size_t piece = SIZE_MAX);
  bool send_text(std::string_view payload) { return send(ws_frame(WsOp::text, payload)); }
  // The broker's next frame, or nullopt after `timeout` or at the end of
  // the connection.
  std::optional<WsFrame> next_frame(std::chrono::milliseconds timeout);
  // The next text frame (pongs and pings skipped); nullopt as above.
  std::optional<std::string> next_text(std::chrono::milliseconds timeout);
  // Reads until the broker's close frame: its code, or nullopt when the
  // connection ended (or `timeout` passed) without one.
  std::optional<int> wait_close_frame(std::chrono::milliseconds timeout);

 private:
  RawSocket socket_;
  std::string in_;  // bytes read and not yet parsed into a frame
  bool upgraded_ = false;
};

}  // namespace possync::test
