// SmallFifo: the outgoing frame queue of a WebSocket session.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "broker/small_fifo.hpp"

using possync::broker::SmallFifo;

TEST_CASE("small fifo: first in, first out across growth and wrap-around", "[fifo]") {
  SmallFifo<int> q;
  CHECK(q.empty());
  int next_in = 0;
  int next_out = 0;
  // Interleave pushes and pops so the head wraps before the ring grows.
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 3 + round % 7; ++i) q.push_back(next_in++);
    for (int i = 0; i < 2 + round % 5 && !q.empty(); ++i) {
      REQUIRE(q.front() == next_out++);
      q.pop_front();
    }
    REQUIRE(q.size() == static_cast<std::size_t>(next_in - next_out));
  }
  while (!q.empty()) {
    REQUIRE(q.front() == next_out++);
    q.pop_front();
  }
  CHECK(next_out == next_in);
  CHECK(q.size() == 0);
}

TEST_CASE("small fifo: a popped element is released at once, and the queue is reusable after draining", "[fifo]") {
  SmallFifo<std::shared_ptr<const std::string>> q;
  auto frame = std::make_shared<const std::string>("x");
  q.push_back(frame);
  q.push_back(std::make_shared<const std::string>("y"));
  CHECK(frame.use_count() == 2);
  q.pop_front();
  CHECK(frame.use_count() == 1);
  REQUIRE(*q.front() == "y");
  q.pop_front();
  CHECK(q.empty());
  q.push_back(frame);
  CHECK(*q.front() == "x");
  q.clear();
  CHECK(q.empty());
  CHECK(frame.use_count() == 1);
}
