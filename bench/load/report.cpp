#include "bench/load/report.hpp"

#include <cstdio>
#include <string_view>

#include <rapidjson/filewritestream.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

namespace possync::load {

Latency summarize(const Histogram& h) {
  Latency l;
  l.count = h.count();
  l.p50_ms = to_ms(h.quantile(0.5));
  l.p90_ms = to_ms(h.quantile(0.9));
  l.p99_ms = to_ms(h.quantile(0.99));
  l.p999_ms = to_ms(h.quantile(0.999));
  l.max_ms = to_ms(h.max());
  l.mean_ms = h.mean() / 1e6;
  return l;
}

namespace {

struct Drift {
  double push_p50_ms = 0, push_p99_ms = 0;  // last interval − first
  std::int64_t broker_rss_kib = 0;          // last − first
  double broker_rss_kib_per_hour = 0;       // least-squares slope over all intervals
};

Drift drift_of(const std::vector<SoakInterval>& v) {
  Drift d;
  if (v.size() < 2) return d;
  d.push_p50_ms = v.back().push.p50_ms - v.front().push.p50_ms;
  d.push_p99_ms = v.back().push.p99_ms - v.front().push.p99_ms;
  d.broker_rss_kib = v.back().broker_rss_kib - v.front().broker_rss_kib;
  double mt = 0, mr = 0;
  for (const auto& i : v) {
    mt += i.t_s;
    mr += static_cast<double>(i.broker_rss_kib);
  }
  mt /= static_cast<double>(v.size());
  mr /= static_cast<double>(v.size());
  double num = 0, den = 0;
  for (const auto& i : v) {
    num += (i.t_s - mt) * (static_cast<double>(i.broker_rss_kib) - mr);
    den += (i.t_s - mt) * (i.t_s - mt);
  }
  d.broker_rss_kib_per_hour = den > 0 ? num / den * 3600 : 0;
  return d;
}

std::string rate_text(const Options& o) {
  if (o.rate <= 0) return "flat-out";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g/s", o.rate);
  return buf;
}

void print_latency(std::FILE* out, const char* name, const Latency& l) {
  std::fprintf(out, "  %-18s %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f %9llu\n", name, l.p50_ms, l.p90_ms, l.p99_ms,
               l.p999_ms, l.max_ms, l.mean_ms, static_cast<unsigned long long>(l.count));
}

void print_usage(std::FILE* out, const char* name, const Usage& u) {
  if (!u.ok) {
    std::fprintf(out, "  %-18s (not measured: pass --broker-pid for a local broker)\n", name);
    return;
  }
  std::fprintf(out, "  %-18s %9.2f %8.0f%% %10.1f %10.1f   %.1f → %.1f (peak %.1f)\n", name, u.cpu_s, u.cpu_percent,
               u.us_per_order, u.us_per_push, static_cast<double>(u.rss_kib_start) / 1024,
               static_cast<double>(u.rss_kib_end) / 1024, static_cast<double>(u.rss_kib_peak) / 1024);
}

}  // namespace

void print_report(std::FILE* out, const Report& r) {
  const auto& o = *r.options;
  const bool traffic = o.mode == Mode::load || o.mode == Mode::soak;
  std::fprintf(out, "\npossync-load %s", mode_name(o.mode));
  if (traffic) {
    std::fprintf(out, " topology=%s senders=%d receivers=%d window=%d rate=%s lines=%d ack=%s", topology_name(o.topology),
                 o.senders, o.topology == Topology::pairs ? o.senders : o.receivers, o.window, rate_text(o).c_str(),
                 o.lines, o.ack ? "yes" : "no");
  }
  std::fprintf(out, " shop-size=%d threads=%d\n", o.shop_size, o.threads);
  std::fprintf(out, "broker %s:%u", o.host.c_str(), o.port);
  if (o.receiver_host != o.host || o.receiver_port != o.port) {
    std::fprintf(out, " (receivers on %s:%u)", o.receiver_host.c_str(), o.receiver_port);
  }
  std::fprintf(out, ", %d sessions in %d shops (prefix %s), started %s\n", r.sessions, r.shops, r.prefix.c_str(),
               r.started_at.c_str());
  std::fprintf(out, "machine: %d × %s; load average %.2f → %.2f\n", r.nproc, r.cpu_model.c_str(), r.load_start[0],
               r.load_end[0]);
  std::fprintf(out, "connections: %d up of %d, %lld connect failures, %lld reconnects; connect→welcome p50 %.1f ms, p99 %.1f ms\n",
               r.connections_up, r.connections, static_cast<long long>(r.connect_failures),
               static_cast<long long>(r.reconnects), r.connect.p50_ms, r.connect.p99_ms);

  if (o.mode == Mode::idle) {
    std::fprintf(out, "idle: %d connections opened in %.1f s and held %.0f s\n", r.connections_up, r.idle_connect_s, o.hold_s);
    std::fprintf(out, "broker RSS %.1f MiB before → %.1f MiB after: %.0f bytes (%.2f KiB) per connection\n",
                 static_cast<double>(r.idle_rss_before_kib) / 1024, static_cast<double>(r.idle_rss_after_kib) / 1024,
                 r.idle_bytes_per_connection, r.idle_bytes_per_connection / 1024);
  }
  if (o.mode == Mode::storm) {
    std::fprintf(out, "storm: %d receivers × %d pending = %lld orders, stored in %.1f s while they were offline\n",
                 o.receivers, o.pending, static_cast<long long>(r.storm_pending_total), r.storm_preload_s);
    std::fprintf(out, "all reconnected at once: every hello answered after %.2f s, every pending order replayed after %.2f s (%lld of %lld)\n",
                 r.storm_all_welcomed_s, r.storm_replay_s, static_cast<long long>(r.storm_replayed),
                 static_cast<long long>(r.storm_pending_total));
    std::fprintf(out, "per receiver, reconnect → last pending order: p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
                 r.storm_receiver_done.p50_ms, r.storm_receiver_done.p99_ms, r.storm_receiver_done.max_ms);
  }
  if (o.mode != Mode::idle) {
    std::fprintf(out, "orders: %lld acknowledged%s in %.1f s = %.0f orders/s; %lld attempted, %lld refused, %lld unknown, %lld retried, %lld duplicate replies\n",
                 static_cast<long long>(o.mode == Mode::storm ? r.storm_replayed : r.acknowledged),
                 o.mode == Mode::storm ? " orders replayed" : "", r.elapsed_s, r.orders_per_s, static_cast<long long>(r.attempted),
                 static_cast<long long>(r.failed), static_cast<long long>(r.unknown), static_cast<long long>(r.retries),
                 static_cast<long long>(r.duplicate_replies));
    std::fprintf(out, "pushes: %lld = %.0f pushes/s", static_cast<long long>(r.pushes), r.pushes_per_s);
    if (o.topology == Topology::claim && traffic) {
      std::fprintf(out, "; claims won %lld, lost the race %lld", static_cast<long long>(r.claim_wins),
                   static_cast<long long>(r.claim_conflicts));
    }
    if (r.backlog_dropped) std::fprintf(out, "; %lld scheduled sends never went out (window full)", static_cast<long long>(r.backlog_dropped));
    std::fprintf(out, "\n");
    std::fprintf(out, "latency ms           %9s %9s %9s %9s %9s %9s %9s\n", "p50", "p90", "p99", "p99.9", "max", "mean", "n");
    print_latency(out, "send→sent", r.send_to_sent);
    print_latency(out, o.mode == Mode::storm ? "send→push (replay)" : "send→push", r.send_to_push);
  }
  if (!r.intervals.empty()) {
    std::fprintf(out, "soak, every %.0f s:\n  %8s %10s %9s %9s %11s %9s %9s\n", o.interval_s, "t s", "orders/s", "p50 ms",
                 "p99 ms", "broker MiB", "broker %", "harness %");
    for (const auto& i : r.intervals) {
      std::fprintf(out, "  %8.0f %10.0f %9.2f %9.2f %11.1f %9.0f %9.0f\n", i.t_s, i.orders_per_s, i.push.p50_ms,
                   i.push.p99_ms, static_cast<double>(i.broker_rss_kib) / 1024, i.broker_cpu_percent, i.harness_cpu_percent);
    }
    const auto d = drift_of(r.intervals);
    std::fprintf(out, "drift (last − first interval): push p50 %+.2f ms, p99 %+.2f ms, broker RSS %+.1f MiB (%+.1f MiB/h by least squares)\n",
                 d.push_p50_ms, d.push_p99_ms, static_cast<double>(d.broker_rss_kib) / 1024, d.broker_rss_kib_per_hour / 1024);
  }
  std::fprintf(out, "cpu                  %9s %9s %10s %10s   %s\n", "s", "% core", "µs/order", "µs/push", "RSS MiB start → end");
  print_usage(out, o.broker_pids.size() > 1 ? "brokers (summed)" : "broker", r.broker);
  print_usage(out, "harness", r.harness);
  if (r.broker.ok && r.broker.disk_write_bytes > 0) {
    std::fprintf(out, "broker disk writes: %.1f MiB = %.1f KiB per order\n",
                 static_cast<double>(r.broker.disk_write_bytes) / 1048576, r.broker.disk_bytes_per_order / 1024);
  }
  if (r.store.ok && r.store.batches > 0) {
    std::fprintf(out, "broker store: %lld writes in %lld commits (%.1f per commit); enqueue→commit per write mean %.2f ms, p50 %.2f, p99 %.2f",
                 static_cast<long long>(r.store.writes), static_cast<long long>(r.store.batches), r.store.writes_per_batch,
                 r.store.commit_ms_mean, r.store.commit_ms_p50, r.store.commit_ms_p99);
    if (r.store.slow_consumer_closes) std::fprintf(out, "; slow-consumer closes %lld", static_cast<long long>(r.store.slow_consumer_closes));
    std::fprintf(out, "\n");
  }
  if (r.errors.empty()) {
    std::fprintf(out, "errors: none\n");
  } else {
    std::fprintf(out, "errors:");
    for (const auto& [code, n] : r.errors) std::fprintf(out, " %s=%lld", code.c_str(), static_cast<long long>(n));
    std::fprintf(out, "\n");
  }
  for (const auto& s : r.error_samples) std::fprintf(out, "  e.g. %s\n", s.c_str());

  if (r.verification) {
    const auto& v = *r.verification;
    std::fprintf(out, "verification: %lld acknowledged orders, %lld deliveries expected, %lld delivered, lost %lld, unexpected %lld, duplicates removed %lld, unconfirmed %lld",
                 static_cast<long long>(v.acknowledged), static_cast<long long>(v.expected_deliveries),
                 static_cast<long long>(v.delivered), static_cast<long long>(v.lost), static_cast<long long>(v.unexpected),
                 static_cast<long long>(v.duplicates_removed), static_cast<long long>(v.unconfirmed));
    if (v.stale) std::fprintf(out, ", replays of earlier runs %lld", static_cast<long long>(v.stale));
    if (o.topology == Topology::claim && traffic) {
      std::fprintf(out, ", claims without a winner %lld, with several %lld", static_cast<long long>(v.claim_no_winner),
                   static_cast<long long>(v.claim_multiple_winners));
    }
    std::fprintf(out, "\n");
    for (const auto& s : v.samples) std::fprintf(out, "  %s\n", s.c_str());
    if (v.ok()) {
      std::fprintf(out, "PASS: every acknowledged order reached every addressed receiver exactly once (after de-duplication), nothing unexpected\n");
    } else {
      std::fprintf(out, "\n!!!!!!!! FAIL: lost=%lld unexpected=%lld order_id_mismatch=%lld claim_no_winner=%lld claim_multiple_winners=%lld !!!!!!!!\n\n",
                   static_cast<long long>(v.lost), static_cast<long long>(v.unexpected),
                   static_cast<long long>(v.order_id_mismatch), static_cast<long long>(v.claim_no_winner),
                   static_cast<long long>(v.claim_multiple_winners));
    }
  }
  if (!r.drained) std::fprintf(out, "note: replies or pushes were still missing after --drain-timeout %.0f s\n", o.drain_timeout_s);
  std::fflush(out);
}

// ---- JSON ----

namespace {

using Writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void key(Writer& w, std::string_view k) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
void str(Writer& w, std::string_view k, std::string_view v) {
  key(w, k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}
void num(Writer& w, std::string_view k, double v) {
  key(w, k);
  w.Double(v);
}
void integer(Writer& w, std::string_view k, std::int64_t v) {
  key(w, k);
  w.Int64(v);
}

void latency(Writer& w, std::string_view k, const Latency& l) {
  key(w, k);
  w.StartObject();
  integer(w, "count", static_cast<std::int64_t>(l.count));
  num(w, "p50", l.p50_ms);
  num(w, "p90", l.p90_ms);
  num(w, "p99", l.p99_ms);
  num(w, "p999", l.p999_ms);
  num(w, "max", l.max_ms);
  num(w, "mean", l.mean_ms);
  w.EndObject();
}

void usage(Writer& w, std::string_view k, const Usage& u, const std::vector<int>& pids) {
  key(w, k);
  if (!u.ok) {
    w.Null();
    return;
  }
  w.StartObject();
  if (!pids.empty()) integer(w, "pid", pids.front());
  if (pids.size() > 1) {  // a cluster: every figure below is the sum over these
    key(w, "pids");
    w.StartArray();
    for (int pid : pids) w.Int(pid);
    w.EndArray();
  }
  num(w, "cpu_s", u.cpu_s);
  num(w, "cpu_percent", u.cpu_percent);
  num(w, "cpu_us_per_order", u.us_per_order);
  num(w, "cpu_us_per_push", u.us_per_push);
  integer(w, "rss_kib_start", u.rss_kib_start);
  integer(w, "rss_kib_end", u.rss_kib_end);
  integer(w, "rss_kib_peak", u.rss_kib_peak);
  integer(w, "disk_write_bytes", u.disk_write_bytes);
  num(w, "disk_bytes_per_order", u.disk_bytes_per_order);
  w.EndObject();
}

void config(Writer& w, const Report& r) {
  const auto& o = *r.options;
  key(w, "config");
  w.StartObject();
  str(w, "topology", topology_name(o.topology));
  integer(w, "senders", o.senders);
  integer(w, "receivers", o.receivers);
  integer(w, "terminals", o.terminals);
  integer(w, "to", o.to);
  integer(w, "shop_size", o.shop_size);
  integer(w, "window", o.window);
  num(w, "rate", o.rate);
  num(w, "duration_s", o.duration_s);
  integer(w, "count", o.count);
  integer(w, "lines", o.lines);
  integer(w, "order_bytes", static_cast<std::int64_t>(r.order_bytes));
  key(w, "ack");
  w.Bool(o.ack);
  integer(w, "connections", o.connections);
  num(w, "hold_s", o.hold_s);
  integer(w, "pending", o.pending);
  num(w, "interval_s", o.interval_s);
  integer(w, "threads", o.threads);
  str(w, "host", o.host);
  integer(w, "port", o.port);
  str(w, "receiver_host", o.receiver_host);
  integer(w, "receiver_port", o.receiver_port);
  w.EndObject();
}

}  // namespace

bool write_json(const std::string& path, const Report& r) {
  const auto& o = *r.options;
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.SetIndent(' ', 1);
  w.StartObject();
  str(w, "tool", "possync-load");
  integer(w, "format", 1);
  str(w, "mode", mode_name(o.mode));
  str(w, "started_at", r.started_at);
  str(w, "prefix", r.prefix);
  str(w, "run_id", r.run_id);
  config(w, r);
  integer(w, "sessions", r.sessions);
  integer(w, "shops", r.shops);
  num(w, "elapsed_s", r.elapsed_s);

  key(w, "orders");
  w.StartObject();
  integer(w, "attempted", r.attempted);
  integer(w, "acknowledged", r.acknowledged);
  integer(w, "refused", r.failed);
  integer(w, "unknown", r.unknown);
  integer(w, "retried", r.retries);
  integer(w, "duplicate_replies", r.duplicate_replies);
  integer(w, "backlog_dropped", r.backlog_dropped);
  num(w, "per_s", r.orders_per_s);
  w.EndObject();
  key(w, "pushes");
  w.StartObject();
  integer(w, "received", r.pushes);
  num(w, "per_s", r.pushes_per_s);
  integer(w, "claims_won", r.claim_wins);
  integer(w, "claims_lost", r.claim_conflicts);
  w.EndObject();
  key(w, "latency_ms");
  w.StartObject();
  latency(w, "send_to_sent", r.send_to_sent);
  latency(w, "send_to_push", r.send_to_push);
  latency(w, "connect", r.connect);
  w.EndObject();
  key(w, "errors");
  w.StartObject();
  for (const auto& [code, n] : r.errors) integer(w, code, n);
  w.EndObject();

  key(w, "verify");
  if (r.verification) {
    const auto& v = *r.verification;
    w.StartObject();
    key(w, "ok");
    w.Bool(v.ok());
    integer(w, "acknowledged", v.acknowledged);
    integer(w, "expected_deliveries", v.expected_deliveries);
    integer(w, "delivered", v.delivered);
    integer(w, "lost", v.lost);
    integer(w, "unexpected", v.unexpected);
    integer(w, "duplicates_removed", v.duplicates_removed);
    integer(w, "unconfirmed", v.unconfirmed);
    integer(w, "stale", v.stale);
    integer(w, "order_id_mismatch", v.order_id_mismatch);
    integer(w, "claim_no_winner", v.claim_no_winner);
    integer(w, "claim_multiple_winners", v.claim_multiple_winners);
    key(w, "drained");
    w.Bool(r.drained);
    w.EndObject();
  } else {
    w.Null();
  }

  usage(w, "broker", r.broker, o.broker_pids);
  usage(w, "harness", r.harness, {});
  key(w, "broker_store");
  if (r.store.ok) {
    w.StartObject();
    integer(w, "commits", r.store.batches);
    integer(w, "writes", r.store.writes);
    num(w, "writes_per_commit", r.store.writes_per_batch);
    num(w, "write_ms_mean", r.store.commit_ms_mean);
    num(w, "write_ms_p50", r.store.commit_ms_p50);
    num(w, "write_ms_p99", r.store.commit_ms_p99);
    integer(w, "slow_consumer_closes", r.store.slow_consumer_closes);
    w.EndObject();
  } else {
    w.Null();
  }
  key(w, "machine");
  w.StartObject();
  integer(w, "nproc", r.nproc);
  str(w, "cpu_model", r.cpu_model);
  key(w, "loadavg_start");
  w.StartArray();
  for (double l : r.load_start) w.Double(l);
  w.EndArray();
  key(w, "loadavg_end");
  w.StartArray();
  for (double l : r.load_end) w.Double(l);
  w.EndArray();
  w.EndObject();
  key(w, "connections");
  w.StartObject();
  integer(w, "wanted", r.connections);
  integer(w, "up", r.connections_up);
  integer(w, "connect_failures", r.connect_failures);
  integer(w, "reconnects", r.reconnects);
  w.EndObject();

  if (o.mode == Mode::idle) {
    key(w, "idle");
    w.StartObject();
    integer(w, "connections", r.connections_up);
    num(w, "connect_s", r.idle_connect_s);
    integer(w, "broker_rss_kib_before", r.idle_rss_before_kib);
    integer(w, "broker_rss_kib_after", r.idle_rss_after_kib);
    num(w, "broker_bytes_per_connection", r.idle_bytes_per_connection);
    w.EndObject();
  }
  if (o.mode == Mode::storm) {
    key(w, "storm");
    w.StartObject();
    integer(w, "receivers", o.receivers);
    integer(w, "pending_per_receiver", o.pending);
    integer(w, "pending_total", r.storm_pending_total);
    integer(w, "replayed", r.storm_replayed);
    num(w, "preload_s", r.storm_preload_s);
    num(w, "all_welcomed_s", r.storm_all_welcomed_s);
    num(w, "replay_s", r.storm_replay_s);
    latency(w, "receiver_done_ms", r.storm_receiver_done);
    w.EndObject();
  }
  if (!r.intervals.empty()) {
    key(w, "soak");
    w.StartObject();
    key(w, "intervals");
    w.StartArray();
    for (const auto& i : r.intervals) {
      w.StartObject();
      num(w, "t_s", i.t_s);
      integer(w, "orders", i.orders);
      num(w, "orders_per_s", i.orders_per_s);
      latency(w, "send_to_push", i.push);
      integer(w, "broker_rss_kib", i.broker_rss_kib);
      num(w, "broker_cpu_percent", i.broker_cpu_percent);
      num(w, "harness_cpu_percent", i.harness_cpu_percent);
      w.EndObject();
    }
    w.EndArray();
    const auto d = drift_of(r.intervals);
    key(w, "drift");
    w.StartObject();
    num(w, "push_p50_ms", d.push_p50_ms);
    num(w, "push_p99_ms", d.push_p99_ms);
    integer(w, "broker_rss_kib", d.broker_rss_kib);
    num(w, "broker_rss_kib_per_hour", d.broker_rss_kib_per_hour);
    w.EndObject();
    w.EndObject();
  }
  integer(w, "exit_code", r.exit_code);
  w.EndObject();

  std::FILE* f = path == "-" ? stdout : std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  std::fwrite(buf.GetString(), 1, buf.GetSize(), f);
  std::fputc('\n', f);
  return path == "-" ? std::fflush(f) == 0 : std::fclose(f) == 0;
}

}  // namespace possync::load
