#include "tests/integration/raw_ws.hpp"

#include <algorithm>
#include <atomic>

namespace possync::test {

std::string ws_frame(WsOp op, std::string_view payload, bool fin) {
  static std::atomic<std::uint32_t> counter{0x9e3779b9u};
  const std::uint32_t key = counter.fetch_add(0x7f4a7c15u) | 0x01010101u;  // never a zero byte
  std::string out;
  out += static_cast<char>((fin ? 0x80 : 0x00) | static_cast<std::uint8_t>(op));
  const std::size_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(0x80 | n);
  } else if (n <= 0xffff) {
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>((n >> 8) & 0xff);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff);
  }
  char mask[4];
  for (int i = 0; i < 4; ++i) mask[i] = static_cast<char>((key >> (8 * i)) & 0xff);
  out.append(mask, 4);
  for (std::size_t i = 0; i < n; ++i) out += static_cast<char>(payload[i] ^ mask[i % 4]);
  return out;
}

std::string ws_close_payload(std::uint16_t code, std::string_view reason) {
  std::string out;
  out += static_cast<char>(code >> 8);
  out += static_cast<char>(code & 0xff);
  out += reason;
  return out;
}

int WsFrame::close_code() const {
  if (payload.size() < 2) return 1005;
  return (static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1]);
}

RawWs::RawWs(std::uint16_t port, std::string_view path, std::string_view extra_headers) : socket_(port) {
  if (!socket_.connected()) return;
  socket_.send(upgrade_request(path, std::string("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                                 "Sec-WebSocket-Version: 13\r\n") +
                                         std::string(extra_headers)));
  std::string head;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (head.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    auto got = socket_.read_some(std::chrono::milliseconds(100));
    if (got.empty() && socket_.closed()) break;
    head += got;
  }
  auto end = head.find("\r\n\r\n");
  if (end == std::string::npos) return;
  upgraded_ = head.rfind("HTTP/1.1 101", 0) == 0;
  in_ = head.substr(end + 4);  // frames sent right after the response
}

bool RawWs::send(std::string_view bytes, std::size_t piece) {
  while (!bytes.empty()) {
    auto n = std::min(piece, bytes.size());
    if (!socket_.send(bytes.substr(0, n))) return false;
    bytes.remove_prefix(n);
  }
  return true;
}

std::optional<WsFrame> RawWs::next_frame(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // A whole frame in in_? (Server frames are not masked.)
    if (in_.size() >= 2) {
      const auto b0 = static_cast<std::uint8_t>(in_[0]);
      const auto b1 = static_cast<std::uint8_t>(in_[1]);
      std::size_t header = 2;
      std::uint64_t len = b1 & 0x7f;
      if (len == 126) {
        header = 4;
        if (in_.size() >= header) len = (static_cast<std::uint8_t>(in_[2]) << 8) | static_cast<std::uint8_t>(in_[3]);
      } else if (len == 127) {
        header = 10;
        if (in_.size() >= header) {
          len = 0;
          for (int i = 2; i < 10; ++i) len = (len << 8) | static_cast<std::uint8_t>(in_[i]);
        }
      }
      if (in_.size() >= header && in_.size() - header >= len) {
        WsFrame f;
        f.op = static_cast<WsOp>(b0 & 0x0f);
        f.fin = (b0 & 0x80) != 0;
        f.payload = in_.substr(header, len);
        in_.erase(0, header + len);
        return f;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || socket_.closed()) return std::nullopt;
    in_ += socket_.read_some(left);
  }
}

std::optional<std::string> RawWs::next_text(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto f = next_frame(std::max(left, std::chrono::milliseconds(0)));
    if (!f) return std::nullopt;
    if (f->op == WsOp::text) return f->payload;
    if (f->op == WsOp::close) return std::nullopt;
  }
}

std::optional<int> RawWs::wait_close_frame(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto f = next_frame(std::max(left, std::chrono::milliseconds(0)));
    if (!f) return std::nullopt;
    if (f->op == WsOp::close) return f->close_code();
  }
}

}  // namespace possync::test
