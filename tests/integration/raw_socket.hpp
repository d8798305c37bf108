// A bare TCP connection to the broker on 127.0.0.1, for what a well-behaved
// client library never sends: malformed HTTP, broken upgrade requests, huge
// or trickled headers, connections that say nothing. Blocking calls, each
// bounded by a timeout. One thread may send while another reads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace possync::test {

class RawSocket {
 public:
  // Connects at once; connected() says whether it worked.
  explicit RawSocket(std::uint16_t port);
  ~RawSocket();
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return fd_ >= 0 && connected_; }
  // Writes everything; false once the broker closed or reset the connection.
  bool send(std::string_view bytes);
  // What arrives until `marker` has been read, the broker closes, or
  // `timeout` passes (whichever is first).
  std::string read_until(std::string_view marker, std::chrono::milliseconds timeout);
  // What one recv() returns within `timeout`: "" when nothing arrived or
  // the broker closed (closed() tells which).
  std::string read_some(std::chrono::milliseconds timeout);
  // An HTTP response's head (up to the blank line), "" if none arrives.
  std::string read_response_head(std::chrono::milliseconds timeout) { return read_until("\r\n\r\n", timeout); }
  // True once the broker has closed (EOF or reset) within `timeout`; what
  // arrives meanwhile is discarded.
  bool wait_closed(std::chrono::milliseconds timeout);
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::atomic<bool> closed_{false};  // send() may run on another thread than the reads
};

// "GET {target} HTTP/1.1" with Host and the given extra header lines (each
// ending in \r\n), and the blank line.
std::string http_get(std::string_view target, std::string_view extra_headers = "");
// A complete WebSocket upgrade request to `target` with `extra_headers` and
// without the Sec-WebSocket-* lines unless given.
std::string upgrade_request(std::string_view target, std::string_view extra_headers);

}  // namespace possync::test
