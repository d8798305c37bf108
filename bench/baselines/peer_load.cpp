// peer-load: drives Mosquitto (MQTT 3.1.1, QoS 1) or NATS over WebSockets
// in the scenarios possync-load runs against possync, so that bench/compare.sh
// can put the broker beside its peers (issue #6, "Peers").
//
//   pairs   S publishers, each to its own topic with its own subscriber
//   fanout  1 publisher to one topic with K subscribers
//   idle    N connections (CONNECT only) held: the broker's RSS per connection
//
// Each publisher keeps at most --window publishes unacknowledged (see
// peer_protocol.hpp for what "acked" means for each peer), flat out, for a
// warm-up and then --seconds of measurement. The payload is as long as the
// order JSON possync-load sends with --lines lines (bench/common). It
// reports publishes/s and deliveries/s, publish→ack and publish→receive
// latency, the broker's CPU per delivered message from /proc/PID/stat, its
// own CPU, and checks that every acknowledged publish reached every
// subscriber (lost = 0; QoS 1 may duplicate, counted apart).
//
//   peer-load --peer mqtt|nats --port P --scenario pairs|fanout|idle
//             [--publishers S] [--subscribers K] [--connections N] [--window W]
//             [--seconds T] [--warmup T] [--lines L] [--threads N]
//             [--broker-pid PID] [--json FILE]
#include <atomic>
#include <algorithm>
#include <charconv>
#include <cstdarg>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/baselines/peer_protocol.hpp"
#include "bench/baselines/ws_link.hpp"
#include "bench/common/sample_order.hpp"
#include "bench/load/histogram.hpp"
#include "bench/load/proc.hpp"

namespace {

using namespace possync;
using namespace possync::bench;
using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Args {
  PeerKind peer = PeerKind::mqtt;
  std::uint16_t port = 0;
  std::string scenario = "pairs";
  int publishers = 10;
  int subscribers = 10;
  int connections = 1000;
  int window = 4;
  double seconds = 10;
  double warmup = 1;
  double hold = 2;
  int lines = 5;
  int threads = 1;
  int broker_pid = 0;
  std::string json;
};

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--peer") {
      if (value != "mqtt" && value != "nats") return false;
      a.peer = value == "mqtt" ? PeerKind::mqtt : PeerKind::nats;
    } else if (key == "--port") a.port = static_cast<std::uint16_t>(std::stoi(value));
    else if (key == "--scenario") a.scenario = value;
    else if (key == "--publishers") a.publishers = std::stoi(value);
    else if (key == "--subscribers") a.subscribers = std::stoi(value);
    else if (key == "--connections") a.connections = std::stoi(value);
    else if (key == "--window") a.window = std::stoi(value);
    else if (key == "--seconds") a.seconds = std::stod(value);
    else if (key == "--warmup") a.warmup = std::stod(value);
    else if (key == "--hold") a.hold = std::stod(value);
    else if (key == "--lines") a.lines = std::stoi(value);
    else if (key == "--threads") a.threads = std::stoi(value);
    else if (key == "--broker-pid") a.broker_pid = std::stoi(value);
    else if (key == "--json") a.json = value;
    else return false;
  }
  const bool known = a.scenario == "pairs" || a.scenario == "fanout" || a.scenario == "idle";
  return argc % 2 == 1 && known && a.port != 0 && a.publishers > 0 && a.subscribers > 0 && a.connections > 0 &&
         a.window > 0 && a.window < 60000 && a.seconds > 0 && a.lines > 0 && a.threads > 0;
}

// The payload: fixed-width numbers up front (send time, publisher, sequence),
// padded to the length of possync's order JSON. Fixed widths let the
// receiver read them without parsing.
constexpr std::size_t kT0At = 6, kT0Width = 19, kPubAt = 31, kPubWidth = 6, kSeqAt = 43, kSeqWidth = 12;

std::string make_payload(std::size_t size, std::int64_t t0, int publisher, std::int64_t seq) {
  char head[80];
  const int n = std::snprintf(head, sizeof head, R"({"t0":%019lld,"p":%06d,"s":%012lld,"pad":")",
                              static_cast<long long>(t0), publisher, static_cast<long long>(seq));
  std::string out(head, static_cast<std::size_t>(n));
  if (out.size() + 2 < size) out.append(size - out.size() - 2, 'x');
  out += "\"}";
  return out;
}

std::int64_t field(std::string_view payload, std::size_t at, std::size_t width) {
  std::int64_t value = -1;
  if (payload.size() >= at + width) std::from_chars(payload.data() + at, payload.data() + at + width, value);
  return value;
}

// What one io thread counts; read by main only after the thread quiesced.
struct ThreadStats {
  load::Histogram to_ack, to_receive;
  std::int64_t acked = 0, received = 0;  // inside the measured window
  std::int64_t duplicates = 0, foreign = 0;
};

struct Shared {
  Args args;
  std::size_t payload_bytes = 0;
  std::atomic<bool> measuring{false};
  std::atomic<bool> publishing{false};
  std::atomic<std::int64_t> ready{0}, failures{0};
  std::atomic<std::int64_t> acked_total{0}, received_total{0}, in_flight{0};
  std::vector<ThreadStats> per_thread;
  std::mutex failure_mutex;
  std::string first_failure;  // the first failure, for the report
};

struct InFlight {
  std::uint16_t id;
  std::int64_t seq, t0;
};

// One connection: a publisher or a subscriber (or an idle client).
class Client final : public PeerProtocol::Events {
 public:
  enum class Role { publisher, subscriber, idle };

  Client(Shared& shared, Role role, int index, int thread, std::string topic, int publisher)
      : shared_(shared), role_(role), index_(index), thread_(thread), topic_(std::move(topic)),
        publisher_(publisher), proto_(PeerProtocol::create(shared.args.peer)) {}

  void start(IoPool& pool) {
    WsOptions options;
    options.port = shared_.args.port;
    options.subprotocol = subprotocol_of(shared_.args.peer);
    WsLink::Handlers handlers;
    handlers.on_open = [this](const std::string& error) {
      if (!error.empty()) return failed("connect: " + error);
      link_->send(proto_->open(client_id()));
    };
    handlers.on_message = [this](std::string_view bytes) {
      std::string reply;
      proto_->receive(bytes, *this, reply);
      if (!reply.empty()) link_->send(std::move(reply));
    };
    handlers.on_close = [this](const std::string& why) { failed("connection lost: " + why); };
    link_ = WsLink::create(pool, thread_, std::move(options), std::move(handlers));
    link_->start();
  }

  // On the link's thread.
  void begin_publishing() {
    link_->post([this] { fill_window(); });
  }

  // Read by main after the run.
  Role role() const { return role_; }
  int publisher() const { return publisher_; }
  std::int64_t published() const { return next_seq_; }
  bool acked(std::int64_t seq) const { return seq < static_cast<std::int64_t>(acked_.size()) && acked_[seq]; }
  bool seen(std::int64_t seq) const { return seq < static_cast<std::int64_t>(seen_.size()) && seen_[seq]; }

  // PeerProtocol::Events, on the link's thread.
  void connected() override {
    if (role_ == Role::subscriber) return link_->send(proto_->subscribe(topic_));
    ++shared_.ready;
  }
  void subscribed() override { ++shared_.ready; }

  void acked(std::uint16_t id) override {
    // MQTT may acknowledge out of order: find the publish by its id.
    auto it = in_flight_.begin();
    if (id != 0) {
      while (it != in_flight_.end() && it->id != id) ++it;
    }
    if (it == in_flight_.end()) return failed("an ack for nothing in flight");
    const InFlight done = *it;
    in_flight_.erase(it);
    --shared_.in_flight;
    ++shared_.acked_total;
    if (acked_.size() <= static_cast<std::size_t>(done.seq)) acked_.resize(static_cast<std::size_t>(done.seq) + 1);
    acked_[static_cast<std::size_t>(done.seq)] = 1;
    if (shared_.measuring.load(std::memory_order_relaxed)) {
      auto& stats = shared_.per_thread[static_cast<std::size_t>(thread_)];
      stats.to_ack.record(now_ns() - done.t0);
      ++stats.acked;
    }
    fill_window();
  }

  void message(std::string_view payload) override {
    const std::int64_t t1 = now_ns();
    auto& stats = shared_.per_thread[static_cast<std::size_t>(thread_)];
    const std::int64_t t0 = field(payload, kT0At, kT0Width);
    const std::int64_t from = field(payload, kPubAt, kPubWidth);
    const std::int64_t seq = field(payload, kSeqAt, kSeqWidth);
    if (t0 < 0 || seq < 0 || from != publisher_) {
      ++stats.foreign;
      return;
    }
    if (seen_.size() <= static_cast<std::size_t>(seq)) seen_.resize(static_cast<std::size_t>(seq) + 1);
    if (seen_[static_cast<std::size_t>(seq)]) {
      ++stats.duplicates;
      return;
    }
    seen_[static_cast<std::size_t>(seq)] = 1;
    ++shared_.received_total;
    if (shared_.measuring.load(std::memory_order_relaxed)) {
      stats.to_receive.record(t1 - t0);
      ++stats.received;
    }
  }

  void failed(const std::string& why) override {
    {
      std::lock_guard lock(shared_.failure_mutex);
      if (shared_.first_failure.empty()) shared_.first_failure = client_id() + ": " + why;
    }
    ++shared_.failures;
    link_->close();
  }

 private:
  std::string client_id() const {
    static const char* const kRoles[] = {"pub", "sub", "idle"};
    return std::string("peer-load-") + kRoles[static_cast<int>(role_)] + "-" + std::to_string(index_);
  }

  void fill_window() {
    while (shared_.publishing.load(std::memory_order_relaxed) &&
           in_flight_.size() < static_cast<std::size_t>(shared_.args.window)) {
      const std::int64_t seq = next_seq_++;
      // Packet ids 1..65535 cycle; the window keeps the ones in flight distinct.
      const auto id = static_cast<std::uint16_t>(seq % 65535 + 1);
      const std::int64_t t0 = now_ns();
      in_flight_.push_back({id, seq, t0});
      ++shared_.in_flight;
      link_->send(proto_->publish(topic_, make_payload(shared_.payload_bytes, t0, index_, seq), id));
    }
  }

  Shared& shared_;
  const Role role_;
  const int index_, thread_;
  const std::string topic_;
  const int publisher_;  // subscribers: whose messages they expect
  std::unique_ptr<PeerProtocol> proto_;
  std::shared_ptr<WsLink> link_;
  std::deque<InFlight> in_flight_;
  std::int64_t next_seq_ = 0;
  std::vector<std::uint8_t> acked_, seen_;
};

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

std::string failure_note(const Shared& shared) {
  return shared.failures > 0 ? "; first failure: " + shared.first_failure : "";
}

bool wait_for(const std::function<bool()>& done, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
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

// Opens `count` idle clients, `kConnectBatch` at a time, and holds them.
int run_idle(Shared& shared, IoPool& pool, std::vector<std::unique_ptr<Client>>& clients, const char* peer) {
  constexpr int kConnectBatch = 500;
  const Args& a = shared.args;
  const auto before = load::sample_process(a.broker_pid);
  const auto t0 = Clock::now();
  for (int i = 0; i < a.connections; i += kConnectBatch) {
    const int end = std::min(a.connections, i + kConnectBatch);
    for (int n = i; n < end; ++n) {
      clients.push_back(std::make_unique<Client>(shared, Client::Role::idle, n, n % a.threads, "", -1));
      clients.back()->start(pool);
    }
    if (!wait_for([&] { return shared.ready >= end || shared.failures > 0; }, 30) || shared.failures > 0) break;
  }
  const double connect_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::this_thread::sleep_for(std::chrono::duration<double>(a.hold));
  const auto after = load::sample_process(a.broker_pid);
  const std::int64_t up = shared.ready;
  const double per_connection =
      up > 0 ? static_cast<double>(after.rss_kib - before.rss_kib) * 1024.0 / static_cast<double>(up) : 0;
  std::printf("peer-load %s idle: %lld of %d connections up in %.1f s; broker RSS %.1f → %.1f MiB = %.0f bytes "
              "(%.2f KiB) per connection%s\n",
              peer, static_cast<long long>(up), a.connections, connect_s, static_cast<double>(before.rss_kib) / 1024,
              static_cast<double>(after.rss_kib) / 1024, per_connection, per_connection / 1024,
              failure_note(shared).c_str());
  const bool written = write_json(
      a.json, strf("{\"tool\":\"peer-load\",\"peer\":\"%s\",\"scenario\":\"idle\",\"idle\":{\"connections\":%lld,"
                   "\"wanted\":%d,\"connect_s\":%.3f,\"broker_rss_kib_before\":%lld,\"broker_rss_kib_after\":%lld,"
                   "\"broker_bytes_per_connection\":%.1f},\"failures\":%lld}",
                   peer, static_cast<long long>(up), a.connections, connect_s,
                   static_cast<long long>(before.rss_kib), static_cast<long long>(after.rss_kib), per_connection,
                   static_cast<long long>(shared.failures.load())));
  pool.stop();
  return written && up == a.connections && shared.failures == 0 ? 0 : 1;
}

int run_traffic(Shared& shared, IoPool& pool, std::vector<std::unique_ptr<Client>>& clients, const char* peer) {
  const Args& a = shared.args;
  const bool pairs = a.scenario == "pairs";
  const int publishers = pairs ? a.publishers : 1;
  const int subscribers = pairs ? a.publishers : a.subscribers;
  const int fan = pairs ? 1 : a.subscribers;  // deliveries per publish

  for (int i = 0; i < subscribers; ++i) {
    const int from = pairs ? i : 0;
    const std::string topic = pairs ? "possync-bench.pairs." + std::to_string(i) : "possync-bench.fanout";
    clients.push_back(std::make_unique<Client>(shared, Client::Role::subscriber, i, i % a.threads, topic, from));
    clients.back()->start(pool);
  }
  if (!wait_for([&] { return shared.ready >= subscribers || shared.failures > 0; }, 30) || shared.failures > 0) {
    std::fprintf(stderr, "peer-load: subscribers not ready: %s\n", shared.first_failure.c_str());
    pool.stop();
    return 1;
  }
  std::vector<Client*> pubs;
  for (int i = 0; i < publishers; ++i) {
    const std::string topic = pairs ? "possync-bench.pairs." + std::to_string(i) : "possync-bench.fanout";
    clients.push_back(std::make_unique<Client>(shared, Client::Role::publisher, i, i % a.threads, topic, i));
    pubs.push_back(clients.back().get());
    pubs.back()->start(pool);
  }
  if (!wait_for([&] { return shared.ready >= subscribers + publishers || shared.failures > 0; }, 30) ||
      shared.failures > 0) {
    std::fprintf(stderr, "peer-load: publishers not ready: %s\n", shared.first_failure.c_str());
    pool.stop();
    return 1;
  }

  shared.publishing = true;
  for (auto* p : pubs) p->begin_publishing();
  std::this_thread::sleep_for(std::chrono::duration<double>(a.warmup));

  const auto broker0 = load::sample_process(a.broker_pid);
  const auto self0 = load::sample_self();
  const auto t0 = Clock::now();
  shared.measuring = true;
  wait_for([&] { return shared.failures > 0; }, a.seconds);
  shared.measuring = false;
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto broker1 = load::sample_process(a.broker_pid);
  const auto self1 = load::sample_self();
  shared.publishing = false;

  const bool drained = wait_for(
      [&] { return shared.in_flight == 0 && shared.received_total >= shared.acked_total * fan; }, 10);
  pool.stop();  // from here on nothing runs on the io threads: their counters are ours

  ThreadStats total;
  for (const auto& t : shared.per_thread) {
    total.to_ack.merge(t.to_ack);
    total.to_receive.merge(t.to_receive);
    total.acked += t.acked;
    total.received += t.received;
    total.duplicates += t.duplicates;
    total.foreign += t.foreign;
  }
  std::int64_t expected = 0, lost = 0;
  for (const auto& c : clients) {
    if (c->role() != Client::Role::subscriber) continue;
    const Client& from = *pubs[static_cast<std::size_t>(c->publisher())];
    for (std::int64_t seq = 0; seq < from.published(); ++seq) {
      if (!from.acked(seq)) continue;
      ++expected;
      if (!c->seen(seq)) ++lost;
    }
  }

  const double published_per_s = static_cast<double>(total.acked) / seconds;
  const double delivered_per_s = static_cast<double>(total.received) / seconds;
  const bool have_broker = broker0.ok && broker1.ok;
  const double broker_cpu = broker1.cpu_s - broker0.cpu_s, self_cpu = self1.cpu_s - self0.cpu_s;
  const auto us_per = [&](double cpu) {
    return total.received > 0 ? cpu * 1e6 / static_cast<double>(total.received) : 0.0;
  };
  const Summary ack = summarize(total.to_ack), receive = summarize(total.to_receive);
  const bool ok = lost == 0 && total.foreign == 0 && shared.failures == 0 && drained;

  std::printf("peer-load %s %s publishers=%d subscribers=%d window=%d payload=%zu B threads=%d\n", peer,
              a.scenario.c_str(), publishers, subscribers, a.window, shared.payload_bytes, a.threads);
  std::printf("  %.0f publishes/s acked, %.0f deliveries/s over %.1f s\n", published_per_s, delivered_per_s, seconds);
  std::printf("  publish→ack     p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", ack.p50, ack.p90, ack.p99,
              ack.max);
  std::printf("  publish→receive p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", receive.p50, receive.p90,
              receive.p99, receive.max);
  if (have_broker) {
    std::printf("  broker CPU %.2f s (%.0f%% of a core) = %.1f µs per delivered message; RSS %.1f MiB\n", broker_cpu,
                broker_cpu * 100 / seconds, us_per(broker_cpu), static_cast<double>(broker1.rss_kib) / 1024);
  }
  std::printf("  peer-load CPU %.2f s (%.0f%% of a core) = %.1f µs per delivered message\n", self_cpu,
              self_cpu * 100 / seconds, us_per(self_cpu));
  std::printf("  verify: %lld deliveries of acked publishes expected, lost %lld, duplicates %lld, foreign %lld%s%s\n",
              static_cast<long long>(expected), static_cast<long long>(lost), static_cast<long long>(total.duplicates),
              static_cast<long long>(total.foreign), drained ? "" : ", NOT DRAINED", failure_note(shared).c_str());
  std::printf("  %s\n", ok ? "PASS" : "FAIL");

  const std::string broker_json =
      have_broker ? strf("{\"pid\":%d,\"cpu_s\":%.3f,\"cpu_percent\":%.1f,\"cpu_us_per_delivery\":%.3f,\"rss_kib\":%lld}",
                         a.broker_pid, broker_cpu, broker_cpu * 100 / seconds, us_per(broker_cpu),
                         static_cast<long long>(broker1.rss_kib))
                  : "null";
  const bool written = write_json(
      a.json,
      strf("{\"tool\":\"peer-load\",\"peer\":\"%s\",\"scenario\":\"%s\",\"publishers\":%d,\"subscribers\":%d,"
           "\"window\":%d,\"payload_bytes\":%zu,\"threads\":%d,\"seconds\":%.3f,\"published\":%lld,"
           "\"delivered\":%lld,\"published_per_s\":%.1f,\"delivered_per_s\":%.1f,",
           peer, a.scenario.c_str(), publishers, subscribers, a.window, shared.payload_bytes, a.threads, seconds,
           static_cast<long long>(total.acked), static_cast<long long>(total.received), published_per_s,
           delivered_per_s) +
          "\"latency_ms\":{" + json_latency("publish_to_ack", ack) + "," +
          json_latency("publish_to_receive", receive) + "},\"broker\":" + broker_json +
          strf(",\"harness\":{\"cpu_s\":%.3f,\"cpu_percent\":%.1f,\"cpu_us_per_delivery\":%.3f},"
               "\"verify\":{\"ok\":%s,\"expected\":%lld,\"lost\":%lld,\"duplicates\":%lld,\"foreign\":%lld,"
               "\"drained\":%s},\"failures\":%lld}",
               self_cpu, self_cpu * 100 / seconds, us_per(self_cpu), ok ? "true" : "false",
               static_cast<long long>(expected), static_cast<long long>(lost),
               static_cast<long long>(total.duplicates), static_cast<long long>(total.foreign),
               drained ? "true" : "false", static_cast<long long>(shared.failures.load())));
  return ok && written ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Shared shared;
  try {
    if (!parse(argc, argv, shared.args)) throw std::invalid_argument("usage");
  } catch (const std::exception&) {
    std::fprintf(stderr,
                 "usage: peer-load --peer mqtt|nats --port P --scenario pairs|fanout|idle [--publishers S]\n"
                 "                 [--subscribers K] [--connections N] [--window W] [--seconds T] [--warmup T]\n"
                 "                 [--hold T] [--lines L] [--threads N] [--broker-pid PID] [--json FILE]\n");
    return 2;
  }
  const Args& a = shared.args;
  load::raise_fd_limit();
  shared.payload_bytes = bench::sample_order_json(a.lines, now_ns()).size();
  shared.per_thread.resize(static_cast<std::size_t>(a.threads));
  const char* peer = a.peer == PeerKind::mqtt ? "mosquitto" : "nats";

  // The pool outlives the clients: their links' pending operations hold
  // the links, never the clients, and die with the io_contexts.
  IoPool pool(a.threads);
  std::vector<std::unique_ptr<Client>> clients;
  if (a.scenario == "idle") return run_idle(shared, pool, clients, peer);
  return run_traffic(shared, pool, clients, peer);
}
