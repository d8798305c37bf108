// The few NATS client-protocol operations the peer baseline needs
// (docs.nats.io, "Client Protocol"): CONNECT, SUB, PUB, PING/PONG out; INFO,
// MSG, PING, PONG, +OK, -ERR in. A stream decoder that cuts whole
// operations out of whatever the transport delivers. No I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace possync::bench::nats {

// CONNECT with verbose off (no +OK per operation) and echo off.
std::string encode_connect(std::string_view name);
std::string encode_sub(std::string_view subject, std::string_view sid);
std::string encode_pub(std::string_view subject, std::string_view payload);
inline std::string encode_ping() { return "PING\r\n"; }
inline std::string encode_pong() { return "PONG\r\n"; }

enum class Op { info, msg, ping, pong, ok, err };

// One decoded operation. Views point into the decoder's buffer and stay
// valid until the next call to Decoder::feed().
struct Operation {
  Op op{};
  std::string_view subject;  // MSG
  std::string_view payload;  // MSG
  std::string_view text;     // INFO's JSON, -ERR's message
};

class Decoder {
 public:
  void feed(std::string_view bytes);
  // The next whole operation, nullopt when more bytes are needed. Sets
  // error() and returns nullopt for something unparsable.
  std::optional<Operation> next();
  const std::string& error() const { return error_; }

 private:
  std::string buffer_;
  std::size_t offset_ = 0;
  std::string error_;
};

}  // namespace possync::bench::nats
