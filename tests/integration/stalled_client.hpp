// A WebSocket client on a bare socket with a tiny receive buffer, which
// stops reading after its hello: the slow consumer. Closed with the object.
#pragma once

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace possync::test {

class StalledClient {
 public:
  StalledClient(std::uint16_t port, const std::string& session, const std::string& token) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    std::string upgrade =
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    write_all(upgrade);
    std::string response;
    char c;
    while (response.find("\r\n\r\n") == std::string::npos && ::read(fd_, &c, 1) == 1) response += c;
    REQUIRE(response.rfind("HTTP/1.1 101", 0) == 0);
    send_text(R"({"type":"hello","session":")" + session + R"(","token":")" + token + R"("})");
  }
  ~StalledClient() { ::close(fd_); }
  StalledClient(const StalledClient&) = delete;
  StalledClient& operator=(const StalledClient&) = delete;

  void send_text(const std::string& payload) {
    std::string frame;
    frame += static_cast<char>(0x81);
    if (payload.size() < 126) {
      frame += static_cast<char>(0x80 | payload.size());
    } else {
      frame += static_cast<char>(0x80 | 126);
      frame += static_cast<char>((payload.size() >> 8) & 0xff);
      frame += static_cast<char>(payload.size() & 0xff);
    }
    frame += std::string(4, '\0');  // a zero mask leaves the payload as is
    frame += payload;
    write_all(frame);
  }

 private:
  void write_all(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      auto n = ::write(fd_, s.data() + off, s.size() - off);
      REQUIRE(n > 0);
      off += static_cast<std::size_t>(n);
    }
  }
  int fd_ = -1;
};

}  // namespace possync::test
