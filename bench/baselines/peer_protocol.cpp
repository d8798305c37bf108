#include "bench/baselines/peer_protocol.hpp"

#include <deque>

#include "bench/baselines/mqtt_codec.hpp"
#include "bench/baselines/nats_codec.hpp"

namespace possync::bench {

namespace {

constexpr std::uint16_t kKeepAliveS = 300;
constexpr std::uint16_t kSubscribeId = 1;
constexpr int kQos = 1;

class Mqtt final : public PeerProtocol {
 public:
  std::string open(const std::string& client_id) override { return mqtt::encode_connect(client_id, kKeepAliveS); }
  std::string subscribe(const std::string& topic) override {
    return mqtt::encode_subscribe(kSubscribeId, topic, kQos);
  }
  std::string publish(const std::string& topic, std::string_view payload, std::uint16_t id) override {
    return mqtt::encode_publish(topic, payload, kQos, id);
  }

  void receive(std::string_view bytes, Events& events, std::string& reply) override {
    decoder_.feed(bytes);
    while (auto packet = decoder_.next()) {
      switch (packet->type) {
        case mqtt::Type::connack:
          if (packet->return_code != 0) return events.failed("CONNACK refused, code " + std::to_string(packet->return_code));
          events.connected();
          break;
        case mqtt::Type::suback:
          if (packet->return_code > 2) return events.failed("SUBACK refused the subscription");
          events.subscribed();
          break;
        case mqtt::Type::puback:
          events.acked(packet->packet_id);
          break;
        case mqtt::Type::publish:
          // The PUBACK first: the broker's in-flight window for us depends on it.
          if (packet->qos() == 1) reply += mqtt::encode_puback(packet->packet_id);
          events.message(packet->payload);
          break;
        default:
          break;
      }
    }
    if (!decoder_.error().empty()) events.failed("MQTT: " + decoder_.error());
  }

 private:
  mqtt::Decoder decoder_;
};

class Nats final : public PeerProtocol {
 public:
  std::string open(const std::string& client_id) override {
    pongs_.push_back(Pong::connected);
    return nats::encode_connect(client_id) + nats::encode_ping();
  }
  std::string subscribe(const std::string& topic) override {
    pongs_.push_back(Pong::subscribed);
    return nats::encode_sub(topic, "1") + nats::encode_ping();
  }
  std::string publish(const std::string& topic, std::string_view payload, std::uint16_t) override {
    pongs_.push_back(Pong::acked);
    return nats::encode_pub(topic, payload) + nats::encode_ping();
  }

  void receive(std::string_view bytes, Events& events, std::string& reply) override {
    decoder_.feed(bytes);
    while (auto op = decoder_.next()) {
      switch (op->op) {
        case nats::Op::msg:
          events.message(op->payload);
          break;
        case nats::Op::ping:
          reply += nats::encode_pong();
          break;
        case nats::Op::pong: {
          if (pongs_.empty()) return events.failed("NATS: a PONG nobody asked for");
          const Pong pong = pongs_.front();
          pongs_.pop_front();
          if (pong == Pong::connected) events.connected();
          if (pong == Pong::subscribed) events.subscribed();
          if (pong == Pong::acked) events.acked(0);
          break;
        }
        case nats::Op::err:
          return events.failed("NATS -ERR" + std::string(op->text));
        case nats::Op::info:
        case nats::Op::ok:
          break;
      }
    }
    if (!decoder_.error().empty()) events.failed("NATS: " + decoder_.error());
  }

 private:
  enum class Pong { connected, subscribed, acked };
  nats::Decoder decoder_;
  std::deque<Pong> pongs_;  // what each PING we sent was for, oldest first
};

}  // namespace

std::unique_ptr<PeerProtocol> PeerProtocol::create(PeerKind kind) {
  if (kind == PeerKind::mqtt) return std::make_unique<Mqtt>();
  return std::make_unique<Nats>();
}

const char* subprotocol_of(PeerKind kind) { return kind == PeerKind::mqtt ? "mqtt" : ""; }

}  // namespace possync::bench
