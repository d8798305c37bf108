// Peer: what the transport-agnostic broker logic (Router, Conversation)
// needs from one WebSocket connection. Implemented by the Beast session in
// ws_session.cpp, so the logic compiles without Beast.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace possync::broker {

using Frame = std::shared_ptr<const std::string>;

// A frame for one connection: fan-out serializes once and shares the text.
struct Push {
  Frame frame;
  std::int64_t order_id = 0;  // an `order` push's id (replay de-duplication), else 0
  // When the `send` that created this order push was read (the send→push
  // latency metric); default (epoch) for every other push.
  std::chrono::steady_clock::time_point read_at{};
};

class Peer {
 public:
  virtual ~Peer() = default;
  // Unique per process; used to skip the originating connection of a change.
  virtual std::uint64_t peer_id() const noexcept = 0;
  // Thread-safe: hands a push to the connection's strand (the Conversation
  // decides whether to buffer it during replay or queue it for writing).
  virtual void push(Push p) = 0;
  // Thread-safe: runs fn on the connection's strand (store completions).
  virtual void post(std::function<void()> fn) = 0;
  // Thread-safe: writes the frames already queued, then the close frame.
  virtual void close(int code, std::string reason) = 0;
  // Thread-safe: stop reading requests; close with 1001 once every request
  // in flight has been answered (graceful shutdown).
  virtual void drain() = 0;

  // ---- strand only ---------------------------------------------------------
  // Queue a frame for writing. Overflow of the configured bound closes the
  // connection as a slow consumer (the store replays what it missed).
  virtual void write(Frame frame) = 0;
  virtual std::size_t queued_frames() const noexcept = 0;
  // Bytes of the frames queued (the other half of the slow-consumer bound).
  virtual std::size_t queued_bytes() const noexcept = 0;
  // Drop the connection at once, without a close frame: the slow-consumer
  // policy (its queue cannot drain, so a close frame would never leave).
  virtual void abort(const std::string& reason) = 0;
  // Reading paused because too many requests were in flight; resume it.
  virtual void resume_reading() = 0;
};

}  // namespace possync::broker
