// The once-a-second view of a run (a progress line on stderr) and the CPU
// and memory bookkeeping of a measured phase, for the broker and the
// harness side by side.
#pragma once

#include <cstdint>
#include <string>

#include "bench/load/broker_stats.hpp"
#include "bench/load/fleet.hpp"
#include "bench/load/histogram.hpp"
#include "bench/load/proc.hpp"
#include "bench/load/report.hpp"
#include "bench/load/traffic.hpp"

namespace possync::load {

// Start and end samples of a phase; usage() turns them into per-message costs.
class Meter {
 public:
  explicit Meter(const Options& options) : options_(options) { restart(); }
  void restart();
  void stop();  // takes the end samples
  double wall_s() const { return static_cast<double>(end_ns_ - start_ns_) / 1e9; }
  Usage broker(std::int64_t orders, std::int64_t pushes) const { return usage(broker_start_, broker_end_, orders, pushes); }
  Usage harness(std::int64_t orders, std::int64_t pushes) const { return usage(self_start_, self_end_, orders, pushes); }
  StoreFigures store() const { return store_between(stats_start_, stats_end_); }

 private:
  Usage usage(const ProcessSample& a, const ProcessSample& b, std::int64_t orders, std::int64_t pushes) const;
  const Options& options_;
  std::int64_t start_ns_ = 0, end_ns_ = 0;
  ProcessSample broker_start_, broker_end_, self_start_, self_end_;
  BrokerStats stats_start_, stats_end_;
};

class Progress {
 public:
  Progress(const Options& options, Fleet& fleet, Traffic* traffic);
  // Call about once a second: prints the line (unless --quiet) and keeps
  // the last second's send→push histogram in `second()`.
  void tick(const char* phase);
  const Histogram& second() const { return second_; }
  const ProcessSample& broker() const { return broker_now_; }
  const ProcessSample& self() const { return self_now_; }

 private:
  const Options& options_;
  Fleet& fleet_;
  Traffic* traffic_;
  std::int64_t start_ns_, last_ns_;
  std::int64_t last_acked_ = 0, last_pushes_ = 0;
  ProcessSample broker_last_, self_last_, broker_now_, self_now_;
  Histogram second_;
};

}  // namespace possync::load
