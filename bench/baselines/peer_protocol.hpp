// One connection's protocol side for the peer baseline, MQTT 3.1.1 or NATS,
// behind one small interface: what to send once the WebSocket is open, to
// subscribe, to publish, and what the received bytes mean (ready, acked,
// a message) plus what must be answered (PUBACK, PONG). No I/O.
//
// "Acked" is the peer's counterpart of possync's `sent` reply:
// - MQTT: the PUBACK of a QoS 1 PUBLISH (the broker took responsibility).
// - NATS core has no per-message acknowledgement. Each PUB goes out with a
//   PING in the same frame; the server answers PINGs in order, after it has
//   processed everything the connection sent before, so the PONG says "the
//   server has processed this PUB (routed it to the subscribers' outbound
//   buffers)". That is the closest thing to a broker acknowledgement that
//   costs one message each way, as PUBACK does. A request/reply ack would
//   instead send a second message through the server per publish (double
//   the routed messages) and measure the subscriber's round trip, which
//   neither MQTT QoS 1 nor possync's `sent` does.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace possync::bench {

enum class PeerKind { mqtt, nats };

class PeerProtocol {
 public:
  // What the bytes received meant; the driver implements it.
  class Events {
   public:
    virtual ~Events() = default;
    virtual void connected() = 0;
    virtual void subscribed() = 0;
    // One publish acknowledged; `id` is the MQTT packet id (0 for NATS,
    // whose acks come in publish order).
    virtual void acked(std::uint16_t id) = 0;
    virtual void message(std::string_view payload) = 0;
    virtual void failed(const std::string& why) = 0;
  };

  static std::unique_ptr<PeerProtocol> create(PeerKind kind);
  virtual ~PeerProtocol() = default;

  // The bytes to send once the WebSocket is open; connected() follows.
  virtual std::string open(const std::string& client_id) = 0;
  // subscribed() follows.
  virtual std::string subscribe(const std::string& topic) = 0;
  // acked(id) follows; `id` is non-zero and unique among the unacked.
  virtual std::string publish(const std::string& topic, std::string_view payload, std::uint16_t id) = 0;
  // Decodes one WebSocket message; appends to `reply` what must go back.
  virtual void receive(std::string_view bytes, Events& events, std::string& reply) = 0;
};

// Subprotocol the peer's WebSocket endpoint expects ("mqtt"; none for NATS).
const char* subprotocol_of(PeerKind kind);

}  // namespace possync::bench
