#include "bench/load/progress.hpp"

#include <cstdio>

namespace possync::load {

void Meter::restart() {
  stats_start_ = fetch_broker_stats(options_);
  start_ns_ = now_ns();
  broker_start_ = sample_processes(options_.broker_pids);
  self_start_ = sample_self();
}

void Meter::stop() {
  end_ns_ = now_ns();
  broker_end_ = sample_processes(options_.broker_pids);
  self_end_ = sample_self();
  stats_end_ = fetch_broker_stats(options_);
}

Usage Meter::usage(const ProcessSample& a, const ProcessSample& b, std::int64_t orders, std::int64_t pushes) const {
  Usage u;
  if (!a.ok || !b.ok) return u;
  u.ok = true;
  u.cpu_s = b.cpu_s - a.cpu_s;
  const double wall = wall_s();
  u.cpu_percent = wall > 0 ? 100.0 * u.cpu_s / wall : 0;
  u.us_per_order = orders > 0 ? 1e6 * u.cpu_s / static_cast<double>(orders) : 0;
  u.us_per_push = pushes > 0 ? 1e6 * u.cpu_s / static_cast<double>(pushes) : 0;
  u.rss_kib_start = a.rss_kib;
  u.rss_kib_end = b.rss_kib;
  u.rss_kib_peak = b.hwm_kib;
  u.disk_write_bytes = b.write_bytes - a.write_bytes;
  u.disk_bytes_per_order = orders > 0 ? static_cast<double>(u.disk_write_bytes) / static_cast<double>(orders) : 0;
  return u;
}

Progress::Progress(const Options& options, Fleet& fleet, Traffic* traffic)
    : options_(options), fleet_(fleet), traffic_(traffic), start_ns_(now_ns()), last_ns_(start_ns_) {
  broker_last_ = broker_now_ = sample_processes(options.broker_pids);
  self_last_ = self_now_ = sample_self();
}

void Progress::tick(const char* phase) {
  const auto now = now_ns();
  const double dt = static_cast<double>(now - last_ns_) / 1e9;
  broker_now_ = sample_processes(options_.broker_pids);
  self_now_ = sample_self();
  second_.clear();
  std::int64_t acked = 0, pushes = 0;
  if (traffic_ != nullptr) {
    traffic_->push_this_second().take_into(second_);
    acked = traffic_->acknowledged();
    pushes = traffic_->pushes();
  }
  if (options_.progress && dt > 0) {
    std::string line;
    char buf[256];
    std::snprintf(buf, sizeof buf, "[%6.1fs] %-10s up %d", static_cast<double>(now - start_ns_) / 1e9, phase, fleet_.up());
    line += buf;
    if (traffic_ != nullptr) {
      std::int64_t errors = 0;
      for (const auto& [code, n] : traffic_->errors()) errors += n;
      std::snprintf(buf, sizeof buf,
                    "  orders %6.0f/s  pushes %6.0f/s  in-flight %4lld  push p50 %6.2f p99 %7.2f ms  errors %lld",
                    static_cast<double>(acked - last_acked_) / dt, static_cast<double>(pushes - last_pushes_) / dt,
                    static_cast<long long>(traffic_->in_flight()), to_ms(second_.quantile(0.5)),
                    to_ms(second_.quantile(0.99)), static_cast<long long>(errors));
      line += buf;
    }
    if (broker_now_.ok && broker_last_.ok) {
      std::snprintf(buf, sizeof buf, "  broker %3.0f%% %.1f MiB", 100 * (broker_now_.cpu_s - broker_last_.cpu_s) / dt,
                    static_cast<double>(broker_now_.rss_kib) / 1024);
      line += buf;
    }
    std::snprintf(buf, sizeof buf, "  harness %3.0f%%  load %.2f", 100 * (self_now_.cpu_s - self_last_.cpu_s) / dt,
                  load_average()[0]);
    line += buf;
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  last_ns_ = now;
  last_acked_ = acked;
  last_pushes_ = pushes;
  broker_last_ = broker_now_;
  self_last_ = self_now_;
}

}  // namespace possync::load
