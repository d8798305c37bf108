#include "bench/baselines/peer_run.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <thread>

namespace possync::bench::peer {

namespace {

constexpr std::size_t kT0At = 6, kT0Width = 19, kPubAt = 31, kPubWidth = 6, kSeqAt = 43, kSeqWidth = 12;

std::int64_t field(std::string_view payload, std::size_t at, std::size_t width) {
  std::int64_t value = -1;
  if (payload.size() >= at + width) std::from_chars(payload.data() + at, payload.data() + at + width, value);
  return value;
}

// printf into a string.
__attribute__((format(printf, 1, 2))) std::string strf(const char* format, ...) {
  va_list args;
  va_start(args, format);
  va_list again;
  va_copy(again, args);
  const int size = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::string out(static_cast<std::size_t>(std::max(size, 0)) + 1, '\0');
  std::vsnprintf(out.data(), out.size(), format, again);
  va_end(again);
  out.pop_back();
  return out;
}

// Writes the JSON report when --json was given; false when it cannot.
bool write_json(const std::string& path, const std::string& json) {
  if (path.empty()) return true;
  std::FILE* out = std::fopen(path.c_str(), "w");
  if (out == nullptr) return false;
  std::fputs(json.c_str(), out);
  std::fputc('\n', out);
  return std::fclose(out) == 0;
}

std::string failure_note(std::int64_t failures, const std::string& first) {
  return failures > 0 ? "; first failure: " + first : "";
}

struct Summary {
  std::uint64_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
};
Summary summarize(const load::Histogram& h) {
  return {h.count(), load::to_ms(h.quantile(0.50)), load::to_ms(h.quantile(0.90)), load::to_ms(h.quantile(0.99)),
          load::to_ms(h.max())};
}
std::string json_latency(const char* name, const Summary& s) {
  return strf("\"%s\":{\"count\":%llu,\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,\"max\":%.4f}", name,
              static_cast<unsigned long long>(s.count), s.p50, s.p90, s.p99, s.max);
}

}  // namespace

bool wait_for(const std::function<bool()>& done, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string make_payload(std::size_t size, std::int64_t t0, int publisher, std::int64_t seq) {
  char head[80];
  const int n = std::snprintf(head, sizeof head, R"({"t0":%019lld,"p":%06d,"s":%012lld,"pad":")",
                              static_cast<long long>(t0), publisher, static_cast<long long>(seq));
  std::string out(head, static_cast<std::size_t>(n));
  if (out.size() + 2 < size) out.append(size - out.size() - 2, 'x');
  out += "\"}";
  return out;
}

Stamp read_payload(std::string_view payload) {
  return {field(payload, kT0At, kT0Width), field(payload, kPubAt, kPubWidth), field(payload, kSeqAt, kSeqWidth)};
}

void ThreadStats::merge(const ThreadStats& other) {
  to_ack.merge(other.to_ack);
  to_receive.merge(other.to_receive);
  acked += other.acked;
  received += other.received;
  duplicates += other.duplicates;
  foreign += other.foreign;
}

int report_traffic(const Args& a, const char* peer, const TrafficResult& r) {
  const ThreadStats& total = r.total;
  const double seconds = r.seconds;
  const double published_per_s = static_cast<double>(total.acked) / seconds;
  const double delivered_per_s = static_cast<double>(total.received) / seconds;
  const bool have_broker = r.broker0.ok && r.broker1.ok;
  const double broker_cpu = r.broker1.cpu_s - r.broker0.cpu_s, self_cpu = r.self1.cpu_s - r.self0.cpu_s;
  const auto us_per = [&](double cpu) {
    return total.received > 0 ? cpu * 1e6 / static_cast<double>(total.received) : 0.0;
  };
  const Summary ack = summarize(total.to_ack), receive = summarize(total.to_receive);
  const bool ok = r.lost == 0 && total.foreign == 0 && r.failures == 0 && r.drained;
  const std::string note = failure_note(r.failures, r.first_failure);

  std::printf("peer-load %s %s publishers=%d subscribers=%d window=%d payload=%zu B threads=%d%s\n", peer,
              a.scenario.c_str(), r.publishers, r.subscribers, a.window, r.payload_bytes, a.threads,
              a.rate > 0 ? strf(" rate=%.0f/s", a.rate).c_str() : "");
  std::printf("  %.0f publishes/s acked, %.0f deliveries/s over %.1f s\n", published_per_s, delivered_per_s, seconds);
  std::printf("  publish→ack     p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", ack.p50, ack.p90, ack.p99,
              ack.max);
  std::printf("  publish→receive p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", receive.p50, receive.p90,
              receive.p99, receive.max);
  if (have_broker) {
    std::printf("  broker CPU %.2f s (%.0f%% of a core) = %.1f µs per delivered message; RSS %.1f MiB\n", broker_cpu,
                broker_cpu * 100 / seconds, us_per(broker_cpu), static_cast<double>(r.broker1.rss_kib) / 1024);
  }
  std::printf("  peer-load CPU %.2f s (%.0f%% of a core) = %.1f µs per delivered message\n", self_cpu,
              self_cpu * 100 / seconds, us_per(self_cpu));
  std::printf("  verify: %lld deliveries of acked publishes expected, lost %lld, duplicates %lld, foreign %lld%s%s\n",
              static_cast<long long>(r.expected), static_cast<long long>(r.lost),
              static_cast<long long>(total.duplicates), static_cast<long long>(total.foreign),
              r.drained ? "" : ", NOT DRAINED", note.c_str());
  std::printf("  %s\n", ok ? "PASS" : "FAIL");

  const std::string broker_json =
      have_broker ? strf("{\"pid\":%d,\"cpu_s\":%.3f,\"cpu_percent\":%.1f,\"cpu_us_per_delivery\":%.3f,\"rss_kib\":%lld}",
                         a.broker_pid, broker_cpu, broker_cpu * 100 / seconds, us_per(broker_cpu),
                         static_cast<long long>(r.broker1.rss_kib))
                  : "null";
  const bool written = write_json(
      a.json,
      strf("{\"tool\":\"peer-load\",\"peer\":\"%s\",\"scenario\":\"%s\",\"publishers\":%d,\"subscribers\":%d,"
           "\"window\":%d,\"rate\":%.1f,\"payload_bytes\":%zu,\"threads\":%d,\"seconds\":%.3f,\"published\":%lld,"
           "\"delivered\":%lld,\"published_per_s\":%.1f,\"delivered_per_s\":%.1f,",
           peer, a.scenario.c_str(), r.publishers, r.subscribers, a.window, a.rate, r.payload_bytes, a.threads,
           seconds, static_cast<long long>(total.acked), static_cast<long long>(total.received), published_per_s,
           delivered_per_s) +
          "\"latency_ms\":{" + json_latency("publish_to_ack", ack) + "," +
          json_latency("publish_to_receive", receive) + "},\"broker\":" + broker_json +
          strf(",\"harness\":{\"cpu_s\":%.3f,\"cpu_percent\":%.1f,\"cpu_us_per_delivery\":%.3f},"
               "\"verify\":{\"ok\":%s,\"expected\":%lld,\"lost\":%lld,\"duplicates\":%lld,\"foreign\":%lld,"
               "\"drained\":%s},\"failures\":%lld}",
               self_cpu, self_cpu * 100 / seconds, us_per(self_cpu), ok ? "true" : "false",
               static_cast<long long>(r.expected), static_cast<long long>(r.lost),
               static_cast<long long>(total.duplicates), static_cast<long long>(total.foreign),
               r.drained ? "true" : "false", static_cast<long long>(r.failures)));
  return ok && written ? 0 : 1;
}

int report_idle(const Args& a, const char* peer, const IdleResult& r) {
  const double per_connection =
      r.up > 0 ? static_cast<double>(r.after.rss_kib - r.before.rss_kib) * 1024.0 / static_cast<double>(r.up) : 0;
  std::printf("peer-load %s idle: %lld of %d connections up in %.1f s; broker RSS %.1f → %.1f MiB = %.0f bytes "
              "(%.2f KiB) per connection%s\n",
              peer, static_cast<long long>(r.up), a.connections, r.connect_s,
              static_cast<double>(r.before.rss_kib) / 1024, static_cast<double>(r.after.rss_kib) / 1024,
              per_connection, per_connection / 1024, failure_note(r.failures, r.first_failure).c_str());
  const bool written = write_json(
      a.json, strf("{\"tool\":\"peer-load\",\"peer\":\"%s\",\"scenario\":\"idle\",\"idle\":{\"connections\":%lld,"
                   "\"wanted\":%d,\"connect_s\":%.3f,\"broker_rss_kib_before\":%lld,\"broker_rss_kib_after\":%lld,"
                   "\"broker_bytes_per_connection\":%.1f},\"failures\":%lld}",
                   peer, static_cast<long long>(r.up), a.connections, r.connect_s,
                   static_cast<long long>(r.before.rss_kib), static_cast<long long>(r.after.rss_kib), per_connection,
                   static_cast<long long>(r.failures)));
  return written && r.up == a.connections && r.failures == 0 ? 0 : 1;
}

}  // namespace possync::bench::peer
