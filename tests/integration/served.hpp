// A broker with one sender (counter-1) and one receiver (kitchen-1), and a
// full round trip to show it still serves after whatever a test threw at
// it. Shared by the transport tests (transport_test.cpp, ws_stress_test.cpp).
#pragma once

#include <catch2/catch.hpp>

#include <functional>
#include <string>

#include "tests/integration/harness.hpp"

namespace possync::test {

struct Served {
  TestBroker broker;
  std::string counter_token;
  std::string kitchen_token;
  explicit Served(std::function<void(broker::Config&)> tweak = {}) : broker(BrokerOptions{std::move(tweak)}) {
    counter_token = broker.add_session("counter-1", true, false);
    kitchen_token = broker.add_session("kitchen-1", false, true);
  }
  // A fresh pair of clients: hello, send, the push arrives, ack reaches the sender.
  void round_trip(const std::string& ref) {
    TestClient kitchen(broker.port(), "kitchen-1", kitchen_token);
    TestClient counter(broker.port(), "counter-1", counter_token);
    REQUIRE(kitchen.connect_and_hello().ok());
    REQUIRE(counter.connect_and_hello().ok());
    auto sent = counter.call(send_json(ref, {"kitchen-1"}));
    REQUIRE(sent.ok());
    auto push = kitchen.wait_push([&](const client::Message& m) {
      return m.type() == "order" && m.string_field("ref") == ref;
    });
    REQUIRE(push);
    kitchen.raw().ack(push->int_field("order_id"));
    REQUIRE(counter.wait_push(status_is(push->int_field("order_id"), "kitchen-1", "received")));
  }
};

}  // namespace possync::test
