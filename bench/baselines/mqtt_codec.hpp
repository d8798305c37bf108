// The few MQTT 3.1.1 packets the peer baseline needs (OASIS MQTT 3.1.1,
// section 3): CONNECT, CONNACK, PUBLISH at QoS 0/1, PUBACK, SUBSCRIBE,
// SUBACK, PINGREQ/PINGRESP. Encoding into bytes and a stream decoder that
// cuts whole packets out of whatever the transport delivers (over
// WebSockets a frame may hold part of a packet or several). No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace possync::bench::mqtt {

enum class Type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  subscribe = 8,
  suback = 9,
  pingreq = 12,
  pingresp = 13,
};

// CONNECT with a clean session, no will, no credentials.
std::string encode_connect(std::string_view client_id, std::uint16_t keep_alive_s);
// PUBLISH; packet_id is used (and required non-zero) only at QoS 1.
std::string encode_publish(std::string_view topic, std::string_view payload, int qos, std::uint16_t packet_id);
std::string encode_puback(std::uint16_t packet_id);
// SUBSCRIBE to one topic filter at the requested QoS.
std::string encode_subscribe(std::uint16_t packet_id, std::string_view topic_filter, int qos);
std::string encode_pingreq();

// One decoded packet. The views point into the decoder's buffer and stay
// valid until the next call to Decoder::feed().
struct Packet {
  Type type{};
  std::uint8_t flags = 0;         // the low nibble of the fixed header
  std::uint16_t packet_id = 0;    // PUBACK, SUBACK, PUBLISH at QoS > 0
  std::uint8_t return_code = 0;   // CONNACK's code, SUBACK's first granted QoS (0x80: failure)
  std::string_view topic;         // PUBLISH
  std::string_view payload;       // PUBLISH
  int qos() const { return (flags >> 1) & 3; }
};

class Decoder {
 public:
  // Appends bytes received from the transport; packets cut out by the
  // previous feed() are forgotten.
  void feed(std::string_view bytes);
  // The next whole packet, nullopt when more bytes are needed. Sets error()
  // and returns nullopt for a malformed stream (the caller drops the link).
  std::optional<Packet> next();
  const std::string& error() const { return error_; }

 private:
  std::string buffer_;
  std::size_t offset_ = 0;  // start of the first undecoded byte
  std::string error_;
};

}  // namespace possync::bench::mqtt
