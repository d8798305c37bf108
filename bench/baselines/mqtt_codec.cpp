#include "bench/baselines/mqtt_codec.hpp"

namespace possync::bench::mqtt {

namespace {

// The largest "remaining length" four varint bytes can hold (3.1.1 §2.2.3).
constexpr std::size_t kMaxRemaining = 268'435'455;

void put_u16(std::string& out, std::uint16_t value) {
  out += static_cast<char>(value >> 8);
  out += static_cast<char>(value & 0xff);
}

void put_string(std::string& out, std::string_view text) {
  put_u16(out, static_cast<std::uint16_t>(text.size()));
  out += text;
}

// Fixed header (type, flags, remaining length as a varint) before `body`.
std::string packet(Type type, std::uint8_t flags, const std::string& body) {
  std::string out;
  out.reserve(body.size() + 5);
  out += static_cast<char>((static_cast<std::uint8_t>(type) << 4) | (flags & 0x0f));
  std::size_t remaining = body.size();
  do {
    auto digit = static_cast<std::uint8_t>(remaining % 128);
    remaining /= 128;
    if (remaining > 0) digit |= 0x80;
    out += static_cast<char>(digit);
  } while (remaining > 0);
  out += body;
  return out;
}

std::uint16_t get_u16(std::string_view bytes, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(bytes[at]) << 8) | static_cast<std::uint8_t>(bytes[at + 1]));
}

}  // namespace

std::string encode_connect(std::string_view client_id, std::uint16_t keep_alive_s) {
  std::string body;
  put_string(body, "MQTT");
  body += static_cast<char>(4);     // protocol level 3.1.1
  body += static_cast<char>(0x02);  // clean session
  put_u16(body, keep_alive_s);
  put_string(body, client_id);
  return packet(Type::connect, 0, body);
}

std::string encode_publish(std::string_view topic, std::string_view payload, int qos, std::uint16_t packet_id) {
  std::string body;
  body.reserve(topic.size() + payload.size() + 4);
  put_string(body, topic);
  if (qos > 0) put_u16(body, packet_id);
  body += payload;
  return packet(Type::publish, static_cast<std::uint8_t>((qos & 3) << 1), body);
}

std::string encode_puback(std::uint16_t packet_id) {
  std::string body;
  put_u16(body, packet_id);
  return packet(Type::puback, 0, body);
}

std::string encode_subscribe(std::uint16_t packet_id, std::string_view topic_filter, int qos) {
  std::string body;
  put_u16(body, packet_id);
  put_string(body, topic_filter);
  body += static_cast<char>(qos & 3);
  return packet(Type::subscribe, 0x02, body);  // 0x02: the reserved flags SUBSCRIBE must carry
}

std::string encode_pingreq() { return packet(Type::pingreq, 0, {}); }

void Decoder::feed(std::string_view bytes) {
  buffer_.erase(0, offset_);
  offset_ = 0;
  buffer_ += bytes;
}

std::optional<Packet> Decoder::next() {
  if (!error_.empty()) return std::nullopt;
  const std::string_view rest = std::string_view(buffer_).substr(offset_);
  if (rest.size() < 2) return std::nullopt;

  std::size_t remaining = 0, header = 1;
  for (std::size_t multiplier = 1;; multiplier *= 128) {
    if (header >= rest.size()) return std::nullopt;
    if (header > 4) {
      error_ = "malformed remaining length";
      return std::nullopt;
    }
    const auto digit = static_cast<std::uint8_t>(rest[header++]);
    remaining += (digit & 0x7fU) * multiplier;
    if ((digit & 0x80) == 0) break;
  }
  if (remaining > kMaxRemaining) {
    error_ = "remaining length out of range";
    return std::nullopt;
  }
  if (rest.size() < header + remaining) return std::nullopt;

  const std::string_view body = rest.substr(header, remaining);
  offset_ += header + remaining;
  Packet p;
  p.type = static_cast<Type>(static_cast<std::uint8_t>(rest[0]) >> 4);
  p.flags = static_cast<std::uint8_t>(rest[0]) & 0x0f;
  const auto too_short = [&](std::size_t need) {
    if (body.size() >= need) return false;
    error_ = "packet of type " + std::to_string(static_cast<int>(p.type)) + " too short";
    return true;
  };
  switch (p.type) {
    case Type::connack:
      if (too_short(2)) return std::nullopt;
      p.return_code = static_cast<std::uint8_t>(body[1]);
      break;
    case Type::puback:
      if (too_short(2)) return std::nullopt;
      p.packet_id = get_u16(body, 0);
      break;
    case Type::suback:
      if (too_short(3)) return std::nullopt;
      p.packet_id = get_u16(body, 0);
      p.return_code = static_cast<std::uint8_t>(body[2]);
      break;
    case Type::publish: {
      if (too_short(2)) return std::nullopt;
      const std::size_t topic_size = get_u16(body, 0);
      const std::size_t id_size = p.qos() > 0 ? 2 : 0;
      if (too_short(2 + topic_size + id_size)) return std::nullopt;
      p.topic = body.substr(2, topic_size);
      if (id_size > 0) p.packet_id = get_u16(body, 2 + topic_size);
      p.payload = body.substr(2 + topic_size + id_size);
      break;
    }
    default:
      break;  // PINGRESP and anything else we never asked for: no fields we read
  }
  return p;
}

}  // namespace possync::bench::mqtt
