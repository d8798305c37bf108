// A fault with the real broker binary on a real SQLite file (issue #7): a
// slow consumer flooded with big orders, closed by the queue limits while
// another pair keeps its round trips and the broker its memory; its backlog
// replays when it comes back. Every wait is bounded in time and count and
// ends on an observable event, never on a sleep.
#include <catch2/catch.hpp>

#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <set>

#include <rapidjson/document.h>

#include "tests/integration/broker_process.hpp"
#include "tests/integration/fault_support.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/stalled_client.hpp"
#include "storage/sqlite/sqlite_store.hpp"

using namespace possync::test;
using namespace possync::test::fault;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

// A /proc/PID/status figure in KiB ("VmRSS:", "VmHWM:"); -1 if absent.
long proc_status_kib(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size()));
  }
  return -1;
}

// A big order: a free field of `bytes` characters, kept verbatim.
std::string big_order(std::size_t bytes) {
  std::string o = sample_order(2);
  o.pop_back();
  return o + R"(,"ticket":")" + std::string(bytes, 'x') + "\"}";
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

TEST_CASE("fault: a slow consumer flooded with big orders is closed by the queue limits while another pair keeps "
          "its round trips, the broker's memory stays bounded, the backlog replays",
          "[process][fault]") {
  constexpr long kQueuedFrames = 64;
  constexpr long kQueuedBytes = 1L << 20;
  constexpr long kInflight = 16;
  constexpr long kMaxMessage = 262144;
  constexpr int kFlood = 800;               // orders to the stalled receiver
  constexpr std::size_t kOrderBytes = 120000;  // ~96 MB in all
  TempDir dir;
  BrokerProcess broker("sqlite:" + (dir.path / "slow.db").string(),
                       {"--max-queued-frames", std::to_string(kQueuedFrames), "--max-queued-bytes",
                        std::to_string(kQueuedBytes), "--max-inflight", std::to_string(kInflight),
                        "--max-message-bytes", std::to_string(kMaxMessage), "--rate-limit", "1000000"});
  const pid_t pid = broker.proc->pid();
  auto flood_token = broker.add_session("flood-1", true, false);
  auto slow_token = broker.add_session("slow-1", false, true);
  auto pos_token = broker.add_session("pos-2", true, false);
  auto kds_token = broker.add_session("kds-2", false, true);
  TestClient pos(broker.port, "pos-2", pos_token);
  TestClient kds(broker.port, "kds-2", kds_token);
  REQUIRE(pos.connect_and_hello().ok());
  REQUIRE(kds.connect_and_hello().ok());

  int rt_seq = 0;
  // One send -> push round trip of the other pair; its duration in ms.
  auto round_trip = [&]() -> double {
    const std::string ref = "RT-" + std::to_string(rt_seq++);
    const auto t0 = Clock::now();
    auto r = pos.call(send_json(ref, {"kds-2"}));
    REQUIRE(r.ok());
    auto m = kds.wait_push([&](const possync::client::Message& x) { return x.string_field("ref") == ref; },
                           std::chrono::seconds(30));
    REQUIRE(m);
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  for (int i = 0; i < 20; ++i) round_trip();  // warm up before the baseline
  const long baseline = proc_status_kib(pid, "VmRSS:");
  REQUIRE(baseline > 0);

  auto stalled = std::make_unique<StalledClient>(broker.port, "slow-1", slow_token);
  REQUIRE(eventually([&] { return broker.connections_of("slow-1") == 1; }));
  PipelinedSender flood(broker.port, "flood-1", flood_token);
  auto ok_total = std::make_shared<std::atomic<int>>(0);
  flood.st->prefix = "BIG-";
  flood.st->to = {"slow-1"};
  flood.st->order = big_order(kOrderBytes);
  flood.st->max = kFlood;
  flood.st->window = static_cast<int>(kInflight);
  flood.st->ok_total = ok_total;
  REQUIRE(connect_hello(*flood.client));
  const auto t0 = Clock::now();
  flood.start();
  // The other pair's round trips, back to back while the flood lasts (at
  // least 50, at most 20000).
  std::vector<double> rts;
  long peak_sampled = baseline;
  while ((!flood.st->idle() || rts.size() < 50) && rts.size() < 20000) {
    rts.push_back(round_trip());
    peak_sampled = std::max(peak_sampled, proc_status_kib(pid, "VmRSS:"));
    REQUIRE(Clock::now() - t0 < std::chrono::seconds(120));
  }
  const double flood_s = std::chrono::duration<double>(Clock::now() - t0).count();
  {
    std::lock_guard lock(flood.st->mu);
    CHECK(flood.st->errors.empty());
    CHECK_FALSE(flood.st->stopped);
    CHECK(flood.st->acked.size() == static_cast<std::size_t>(kFlood));
  }
  // The stalled connection was closed by the policy, not by anything else.
  REQUIRE(eventually([&] { return broker.connections_of("slow-1") == 0; }));
  auto stats = possync::client::http_request("127.0.0.1", broker.port, "GET", "/api/stats", kAdmin);
  rapidjson::Document sd;
  sd.Parse(stats.body.c_str());
  REQUIRE(sd.IsObject());
  REQUIRE(sd.HasMember("slow_consumer_closes"));
  CHECK(sd["slow_consumer_closes"].GetDouble() >= 1);

  const long hwm = proc_status_kib(pid, "VmHWM:");
  const long rss_after = proc_status_kib(pid, "VmRSS:");
  // What the limits allow: the stalled connection's queue and a few others',
  // the flood's requests in flight (raw frame, parsed request, record, push)
  // the SQLite writer's page cache, and a fixed margin for the allocator,
  // SQLite's other caches and thread stacks. ASan keeps freed memory in
  // quarantine (256 MiB by default) and shadow.
  const long bound_kib = baseline + (4 * kQueuedBytes + 4 * kInflight * kMaxMessage) / 1024 +
                         possync::storage::sqlite::kWriterCacheBytes / 1024 + 32 * 1024 + (kAsan ? 512 * 1024 : 0);
  const double p50 = percentile(rts, 0.5), p99 = percentile(rts, 0.99), mx = percentile(rts, 1.0);
  WARN("flood: " << kFlood << " orders of " << kOrderBytes / 1000 << " kB (" << kFlood * kOrderBytes / 1000000
                 << " MB) in " << flood_s << " s; other pair: " << rts.size() << " round trips, p50 " << p50
                 << " ms, p99 " << p99 << " ms, max " << mx << " ms");
  WARN("broker RSS: baseline " << baseline << " KiB, peak sampled " << peak_sampled << " KiB, VmHWM " << hwm
                               << " KiB, after " << rss_after << " KiB, bound " << bound_kib << " KiB"
                               << (kAsan ? " (ASan allowance included)" : ""));
  CHECK(hwm <= bound_kib);
  CHECK(mx < 5000.0);
  CHECK(pos.call(R"({"type":"ping"})").ok());

  // Back with a reader: the whole backlog is replayed, in order, once each.
  stalled.reset();
  TestClient slow(broker.port, "slow-1", slow_token);
  REQUIRE(slow.connect_and_hello().ok());
  std::vector<std::string> refs;
  std::int64_t last = 0;
  bool ordered = true;
  while (refs.size() < static_cast<std::size_t>(kFlood)) {
    auto m = slow.wait_type("order", std::chrono::seconds(20));
    if (!m) break;
    ordered = ordered && m->int_field("order_id") > last;
    last = m->int_field("order_id");
    refs.push_back(m->string_field("ref"));
  }
  REQUIRE(slow.sync());
  CHECK(slow.pending_pushes() == 0);
  CHECK(ordered);
  CHECK(refs.size() == static_cast<std::size_t>(kFlood));
  CHECK(std::set<std::string>(refs.begin(), refs.end()).size() == refs.size());
  // The replay reads the backlog a page (256 orders) at a time: at most a
  // page's records and their copy besides what the limits allow, not the
  // whole 96 MB backlog (twice) as when it was read at once.
  const long replay_hwm = proc_status_kib(pid, "VmHWM:");
  const long replay_bound_kib = bound_kib + static_cast<long>(2 * 256 * kOrderBytes / 1024);
  WARN("replay of " << refs.size() << " big orders: broker VmHWM now " << replay_hwm << " KiB, bound "
                    << replay_bound_kib << " KiB");
  CHECK(replay_hwm <= replay_bound_kib);
}
