// What a run found: one Report filled by the modes, printed for people
// (print_report) and written as JSON for scripts such as bench/compare.sh
// (write_json; the fields are documented in bench/README.md).
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench/load/broker_stats.hpp"
#include "bench/load/histogram.hpp"
#include "bench/load/options.hpp"
#include "bench/load/traffic.hpp"

namespace possync::load {

struct Latency {
  std::uint64_t count = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0, mean_ms = 0;
};
Latency summarize(const Histogram& h);

// CPU and memory of one process over the measured phase.
struct Usage {
  bool ok = false;
  double cpu_s = 0;
  double cpu_percent = 0;       // of one core, over the phase
  double us_per_order = 0;      // CPU µs per acknowledged order
  double us_per_push = 0;       // CPU µs per push received
  std::int64_t rss_kib_start = 0, rss_kib_end = 0, rss_kib_peak = 0;
  std::int64_t disk_write_bytes = 0;  // written to storage (/proc/PID/io write_bytes)
  double disk_bytes_per_order = 0;
};

struct SoakInterval {
  double t_s = 0;  // end of the interval, since sending started
  std::int64_t orders = 0;
  double orders_per_s = 0;
  Latency push;
  std::int64_t broker_rss_kib = 0;
  double broker_cpu_percent = 0;
  double harness_cpu_percent = 0;
};

struct Report {
  const Options* options = nullptr;
  std::string prefix;
  std::string run_id;  // refs are "<prefix>.<run_id>-<sender>-<seq>"
  std::string started_at;  // UTC, RFC 3339
  int sessions = 0;
  int shops = 0;
  std::size_t order_bytes = 0;

  // The measured phase: sending (load, soak), holding (idle), replaying (storm).
  double elapsed_s = 0;
  std::int64_t attempted = 0, acknowledged = 0, failed = 0, unknown = 0, duplicate_replies = 0;
  std::int64_t retries = 0, backlog_dropped = 0, pushes = 0, claim_wins = 0, claim_conflicts = 0;
  double orders_per_s = 0, pushes_per_s = 0;
  Latency send_to_sent, send_to_push, connect;
  std::map<std::string, std::int64_t> errors;
  std::vector<std::string> error_samples;
  std::optional<Verification> verification;  // absent in idle mode
  bool drained = true;  // replies and pushes all arrived within --drain-timeout

  Usage broker, harness;
  StoreFigures store;  // the broker's /api/stats over the phase
  int nproc = 0;
  std::string cpu_model;
  std::array<double, 3> load_start{}, load_end{};

  int connections = 0, connections_up = 0;
  std::int64_t connect_failures = 0, reconnects = 0;

  // idle
  std::int64_t idle_rss_before_kib = 0, idle_rss_after_kib = 0;
  double idle_bytes_per_connection = 0;
  double idle_connect_s = 0;

  // storm
  std::int64_t storm_pending_total = 0, storm_replayed = 0;
  double storm_preload_s = 0, storm_all_welcomed_s = 0, storm_replay_s = 0;
  Latency storm_receiver_done;  // per receiver: reconnect start → its last pending order

  // soak
  std::vector<SoakInterval> intervals;

  int exit_code = 0;
};

void print_report(std::FILE* out, const Report& r);
// path "-" writes to stdout. Returns false when the file cannot be written.
bool write_json(const std::string& path, const Report& r);

}  // namespace possync::load
