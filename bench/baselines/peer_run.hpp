// What peer-load's drivers share: the options, the payload, the counters of
// one run and the report (text and JSON), so that every peer — the
// WebSocket ones of peer_load.cpp and Redis (redis_peer.cpp) — prints and
// writes the same fields and bench/compare.sh reads them alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "bench/baselines/peer_protocol.hpp"
#include "bench/load/histogram.hpp"
#include "bench/load/proc.hpp"

namespace possync::bench::peer {

struct Args {
  std::string peer = "mqtt";  // mqtt | nats | redis
  PeerKind kind = PeerKind::mqtt;  // the WebSocket protocol of mqtt and nats
  std::uint16_t port = 0;
  std::string scenario = "pairs";
  int publishers = 10;
  int subscribers = 10;
  int connections = 1000;
  int window = 4;
  double rate = 0;  // publishes/s over all publishers; 0: flat out (redis only)
  double seconds = 10;
  double warmup = 1;
  double hold = 2;
  int lines = 5;
  int threads = 1;
  int broker_pid = 0;
  std::string json;
};

std::int64_t now_ns();
// Polls `done` every 5 ms until it holds (true) or `seconds` pass (false).
bool wait_for(const std::function<bool()>& done, double seconds);

// The payload: fixed-width numbers up front (send time, publisher, sequence),
// padded to the length of possync's order JSON. Fixed widths let the
// receiver read them without parsing.
struct Stamp {
  std::int64_t t0 = -1, publisher = -1, seq = -1;
};
std::string make_payload(std::size_t size, std::int64_t t0, int publisher, std::int64_t seq);
Stamp read_payload(std::string_view payload);

// What one io thread counts; read by main only after the thread quiesced.
struct ThreadStats {
  load::Histogram to_ack, to_receive;
  std::int64_t acked = 0, received = 0;  // inside the measured window
  std::int64_t duplicates = 0, foreign = 0;
  void merge(const ThreadStats& other);
};

// One traffic run as measured, for the report.
struct TrafficResult {
  int publishers = 0, subscribers = 0;
  std::size_t payload_bytes = 0;
  double seconds = 0;
  load::ProcessSample broker0, broker1, self0, self1;
  ThreadStats total;
  std::int64_t expected = 0, lost = 0, failures = 0;
  bool drained = false;
  std::string first_failure;
};
// Prints the run and writes --json; the exit code (0: verified and written).
int report_traffic(const Args& a, const char* peer, const TrafficResult& r);

struct IdleResult {
  std::int64_t up = 0, failures = 0;
  double connect_s = 0;
  load::ProcessSample before, after;
  std::string first_failure;
};
int report_idle(const Args& a, const char* peer, const IdleResult& r);

// Redis Streams through hiredis (redis_peer.cpp): every scenario.
int run_redis(const Args& a, std::size_t payload_bytes);

}  // namespace possync::bench::peer
