// The broker's own view of a phase, from GET /api/stats (needs the admin
// token): how its store grouped the writes (group commit) and how long the
// commits took. Read at the start and the end of the measured phase on the
// main thread (a blocking HTTP request each); the difference is the phase.
#pragma once

#include <cstdint>
#include <vector>

#include "bench/load/options.hpp"

namespace possync::load {

struct BrokerStats {
  bool ok = false;
  double uptime_s = 0;       // a smaller one at the end means the broker restarted
  std::int64_t batches = 0;  // store transactions committed
  std::int64_t writes = 0;   // write requests committed in them
  std::int64_t slow_consumer_closes = 0;
  // commit_seconds (per write request, enqueue → committed): finite upper
  // bounds with cumulative counts, the count and the sum.
  std::vector<double> commit_bounds;
  std::vector<std::int64_t> commit_cumulative;
  std::int64_t commit_count = 0;
  double commit_sum_s = 0;
};

BrokerStats fetch_broker_stats(const Options& options);

// What happened between two snapshots.
struct StoreFigures {
  bool ok = false;
  std::int64_t batches = 0, writes = 0, slow_consumer_closes = 0;
  double writes_per_batch = 0;
  // A write request's wait from enqueue to commit (queue + transaction + fsync);
  // p50/p99 linear within the broker's buckets.
  double commit_ms_mean = 0, commit_ms_p50 = 0, commit_ms_p99 = 0;
};
StoreFigures store_between(const BrokerStats& start, const BrokerStats& end);

}  // namespace possync::load
