#include "bench/load/modes.hpp"

#include <algorithm>
#include <cstdio>

#include "bench/load/fleet.hpp"
#include "bench/load/orders.hpp"
#include "bench/load/progress.hpp"
#include "bench/load/traffic.hpp"

namespace possync::load {

namespace {

constexpr int kSetupFailed = 3;

// Everything a run with traffic needs, in an order that is safe to tear
// down: the fleet's io threads are joined (stop_first) before the traffic
// its handlers call into goes away.
struct Rig {
  Rig(const Options& o, const Plan& plan, const std::string& prefix, Report& r)
      : orders(o.lines), fleet(o, plan), traffic(o, plan, fleet, orders, prefix, r.run_id), stop_first(fleet),
        progress(o, fleet, &traffic) {
    r.order_bytes = orders.average_bytes();
    fleet.on_push([this](int t, const client::MessagePtr& m) { traffic.handle_push(t, m); });
    fleet.on_up([this](int t) { traffic.handle_up(t); });
  }
  struct StopFirst {
    explicit StopFirst(Fleet& f) : fleet(f) {}
    StopFirst(const StopFirst&) = delete;
    StopFirst& operator=(const StopFirst&) = delete;
    ~StopFirst() { fleet.shutdown(); }
    Fleet& fleet;
  };
  OrderPool orders;
  Fleet fleet;
  Traffic traffic;
  StopFirst stop_first;
  Progress progress;
};

std::vector<int> all_terminals(const Plan& plan) {
  std::vector<int> v(plan.terminals.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int>(i);
  return v;
}

// Time allowed for opening `n` connections before the run counts as failed.
double connect_timeout_s(std::size_t n) { return 30.0 + static_cast<double>(n) / 100.0; }

// Connects `which` and waits for every attempt; false (with the reason on
// stderr) when some did not come up.
bool connect_all(Fleet& fleet, const std::vector<int>& which, int concurrency, Progress& progress) {
  const auto target = static_cast<int>(which.size());
  const int before = fleet.up();
  fleet.connect(which, concurrency);
  const bool done = wait_for([&] { return fleet.up() - before >= target; }, connect_timeout_s(which.size()),
                             [&] {
                               progress.tick("connecting");
                               fleet.supervise();
                             });
  if (!done) {
    std::fprintf(stderr, "possync-load: only %d of %d connections came up\n", fleet.up() - before, target);
    for (const auto& e : fleet.first_errors()) std::fprintf(stderr, "  %s\n", e.c_str());
  }
  return done;
}

void fill_fleet(Report& r, const Fleet& fleet, int wanted) {
  r.connections = wanted;
  r.connections_up = fleet.up();
  r.connect_failures = fleet.connect_failures();
  r.reconnects = fleet.reconnects();
  Histogram h;
  fleet.connect_latency().copy_into(h);
  r.connect = summarize(h);
  for (const auto& [code, n] : fleet.unexpected_closes()) r.errors[code] += n;
  if (r.connect_failures > 0) r.errors["connect_failed"] += r.connect_failures;
  r.error_samples = fleet.first_errors();
}

void fill_traffic(Report& r, Traffic& t, const Meter& meter, double sending_s) {
  r.elapsed_s = sending_s;
  r.attempted = t.attempted();
  r.acknowledged = t.acknowledged();
  r.failed = t.failed();
  r.unknown = t.unknown();
  r.duplicate_replies = t.duplicate_replies();
  r.retries = t.retries();
  r.backlog_dropped = t.backlog_dropped();
  r.pushes = t.pushes();
  r.claim_wins = t.claim_wins();
  r.claim_conflicts = t.claim_conflicts();
  r.orders_per_s = sending_s > 0 ? static_cast<double>(r.acknowledged) / sending_s : 0;
  r.pushes_per_s = sending_s > 0 ? static_cast<double>(r.pushes) / sending_s : 0;
  Histogram sent, push;
  t.send_to_sent().copy_into(sent);
  t.send_to_push().copy_into(push);
  r.send_to_sent = summarize(sent);
  r.send_to_push = summarize(push);
  for (const auto& [code, n] : t.errors()) r.errors[code] += n;
  r.broker = meter.broker(r.acknowledged, r.pushes);
  r.harness = meter.harness(r.acknowledged, r.pushes);
  r.store = meter.store();
  r.verification = t.verify();
}

// Waits until every reply and push is in (bounded by --drain-timeout).
bool drain(const Options& o, Fleet& fleet, Traffic& traffic, Progress& progress) {
  return wait_for([&] { return traffic.settled(); }, o.drain_timeout_s, [&] {
    progress.tick("draining");
    fleet.supervise();
    traffic.resume();
  });
}

// connect_all, and on failure the fleet's figures in the report.
bool open_all(Fleet& fleet, const std::vector<int>& which, int concurrency, Progress& progress, Report& r) {
  if (connect_all(fleet, which, concurrency, progress)) return true;
  fill_fleet(r, fleet, static_cast<int>(which.size()));
  return false;
}

int verdict(const Report& r) { return r.verification && !r.verification->ok() ? 1 : 0; }

// ---- load and soak ----

int run_traffic(const Options& o, const Plan& plan, const std::string& prefix, Report& r) {
  Rig rig(o, plan, prefix, r);
  auto& fleet = rig.fleet;
  auto& traffic = rig.traffic;
  auto& progress = rig.progress;
  const auto everyone = all_terminals(plan);
  if (!open_all(fleet, everyone, o.connect_concurrency, progress, r)) return kSetupFailed;

  Meter meter(o);
  traffic.start();
  const auto start = now_ns();
  const auto elapsed_s = [&] { return static_cast<double>(now_ns() - start) / 1e9; };
  // Soak: one interval histogram, fed by the progress line's seconds.
  Histogram interval;
  auto interval_start = now_ns();
  std::int64_t interval_acked = 0;
  ProcessSample interval_broker = sample_processes(o.broker_pids), interval_self = sample_self();
  auto close_interval = [&] {
    SoakInterval i;
    const auto now = now_ns();
    const double dt = static_cast<double>(now - interval_start) / 1e9;
    i.t_s = elapsed_s();
    i.orders = traffic.acknowledged() - interval_acked;
    i.orders_per_s = static_cast<double>(i.orders) / dt;
    i.push = summarize(interval);
    const auto& b = progress.broker();
    i.broker_rss_kib = b.rss_kib;
    i.broker_cpu_percent = b.ok && interval_broker.ok ? 100 * (b.cpu_s - interval_broker.cpu_s) / dt : 0;
    i.harness_cpu_percent = 100 * (progress.self().cpu_s - interval_self.cpu_s) / dt;
    r.intervals.push_back(i);
    interval.clear();
    interval_start = now;
    interval_acked = traffic.acknowledged();
    interval_broker = b;
    interval_self = progress.self();
  };

  const bool by_time = o.duration_s > 0;
  wait_for([&] { return traffic.sending_done() || (by_time && elapsed_s() >= o.duration_s); },
           by_time ? o.duration_s + 1 : 1e12, [&] {
             progress.tick(o.mode == Mode::soak ? "soak" : "sending");
             fleet.supervise();
             traffic.resume();
             if (o.mode != Mode::soak) return;
             interval.merge(progress.second());
             if (static_cast<double>(now_ns() - interval_start) / 1e9 >= o.interval_s - 0.5) close_interval();
           });
  const double sending_s = elapsed_s();
  traffic.stop();
  if (o.mode == Mode::soak) {
    traffic.push_this_second().take_into(interval);  // the part-second since the last tick
    if (interval.count() > 0) close_interval();
  }
  r.drained = drain(o, fleet, traffic, progress);
  meter.stop();
  fill_traffic(r, traffic, meter, sending_s);
  fill_fleet(r, fleet, static_cast<int>(everyone.size()));
  fleet.shutdown();
  return verdict(r);
}

// ---- idle ----

int run_idle(const Options& o, const Plan& plan, Report& r) {
  Fleet fleet(o, plan);
  Progress progress(o, fleet, nullptr);
  const auto everyone = all_terminals(plan);
  Meter meter(o);
  const auto before = sample_processes(o.broker_pids);
  const auto start = now_ns();
  const bool up = connect_all(fleet, everyone, o.connect_concurrency, progress);
  r.idle_connect_s = static_cast<double>(now_ns() - start) / 1e9;
  // Hold them; the broker's memory is read at the end of the hold, once
  // the connections' buffers have settled.
  if (up) wait_for([] { return false; }, o.hold_s, [&] { progress.tick("holding"); });
  const auto after = sample_processes(o.broker_pids);
  meter.stop();
  fill_fleet(r, fleet, static_cast<int>(everyone.size()));
  r.elapsed_s = meter.wall_s();
  r.broker = meter.broker(0, 0);
  r.harness = meter.harness(0, 0);
  r.store = meter.store();
  r.idle_rss_before_kib = before.rss_kib;
  r.idle_rss_after_kib = after.rss_kib;
  if (before.ok && after.ok && r.connections_up > 0) {
    r.idle_bytes_per_connection = static_cast<double>(after.rss_kib - before.rss_kib) * 1024 / r.connections_up;
  }
  fleet.shutdown();
  return up ? 0 : kSetupFailed;
}

// ---- storm ----

int run_storm(const Options& o, const Plan& plan, const std::string& prefix, Report& r) {
  Rig rig(o, plan, prefix, r);
  auto& fleet = rig.fleet;
  auto& traffic = rig.traffic;
  auto& progress = rig.progress;
  const auto everyone = all_terminals(plan);
  const auto& receivers = plan.receivers;
  // Every terminal has been online once; then the receivers drop.
  if (!open_all(fleet, everyone, std::min(o.connect_concurrency, 200), progress, r)) return kSetupFailed;
  fleet.disconnect(receivers);
  const auto all_down = [&] {
    return std::none_of(receivers.begin(), receivers.end(), [&](int t) { return fleet.is_up(t); });
  };
  if (!wait_for(all_down, 30, [&] { progress.tick("dropping"); })) {
    std::fprintf(stderr, "possync-load: receivers did not close within 30 s\n");
    return kSetupFailed;
  }

  // The pending orders, stored while the receivers are offline.
  const auto preload_start = now_ns();
  traffic.start();
  const bool stored = wait_for([&] { return traffic.sending_done() && traffic.settled_sending(); },
                               connect_timeout_s(0) + o.drain_timeout_s + static_cast<double>(o.receivers) * o.pending / 100.0,
                               [&] {
                                 progress.tick("storing");
                                 fleet.supervise();
                                 traffic.resume();
                               });
  traffic.stop();
  r.storm_preload_s = static_cast<double>(now_ns() - preload_start) / 1e9;
  r.storm_pending_total = traffic.acknowledged();
  if (!stored || traffic.acknowledged() != traffic.attempted()) {
    std::fprintf(stderr, "possync-load: only %lld of %lld pending orders were stored\n",
                 static_cast<long long>(traffic.acknowledged()), static_cast<long long>(traffic.attempted()));
  }

  // The storm: every receiver reconnects at once.
  Meter meter(o);
  const auto pushes_before = traffic.pushes();
  const auto t0 = now_ns();
  const int up_before = fleet.up();
  std::int64_t all_welcomed = 0;
  fleet.connect(receivers, o.connect_concurrency);
  r.drained = wait_for(
      [&] {
        if (all_welcomed == 0 && fleet.up() - up_before >= static_cast<int>(receivers.size())) all_welcomed = now_ns();
        return all_welcomed != 0 && traffic.settled();
      },
      o.drain_timeout_s + connect_timeout_s(receivers.size()), [&] {
        progress.tick("replaying");
        fleet.supervise();
      });
  meter.stop();

  Histogram done;
  std::int64_t last = t0;
  for (int t : receivers) {
    r.storm_replayed += traffic.unique_pushes_of(t);
    const auto at = traffic.last_push_ns_of(t);
    if (at > t0) {
      done.record(at - t0);
      last = std::max(last, at);
    }
  }
  r.storm_receiver_done = summarize(done);
  r.storm_all_welcomed_s = all_welcomed ? static_cast<double>(all_welcomed - t0) / 1e9 : 0;
  r.storm_replay_s = static_cast<double>(last - t0) / 1e9;
  fill_traffic(r, traffic, meter, meter.wall_s());
  // Per message costs of the storm: the replayed pushes (and their acks).
  const auto replay_pushes = traffic.pushes() - pushes_before;
  r.broker = meter.broker(r.storm_replayed, replay_pushes);
  r.harness = meter.harness(r.storm_replayed, replay_pushes);
  r.orders_per_s = r.elapsed_s > 0 ? static_cast<double>(r.storm_replayed) / r.elapsed_s : 0;
  r.pushes_per_s = r.elapsed_s > 0 ? static_cast<double>(replay_pushes) / r.elapsed_s : 0;
  fill_fleet(r, fleet, static_cast<int>(everyone.size()));
  fleet.shutdown();
  return verdict(r);
}

}  // namespace

int run_mode(const Options& o, const Plan& plan, const std::string& prefix, Report& r) {
  switch (o.mode) {
    case Mode::idle: return run_idle(o, plan, r);
    case Mode::storm: return run_storm(o, plan, prefix, r);
    case Mode::load:
    case Mode::soak: break;
  }
  return run_traffic(o, plan, prefix, r);
}

}  // namespace possync::load
