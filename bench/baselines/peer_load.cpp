// peer-load: drives Mosquitto (MQTT 3.1.1, QoS 1) or NATS over WebSockets,
// or Redis Streams (redis_peer.cpp), in the scenarios possync-load runs
// against possync, so that bench/compare.sh can put the broker beside its
// peers (issue #6, "Peers"; issue #14, a durable peer).
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
//   peer-load --peer mqtt|nats|redis --port P --scenario pairs|fanout|idle
//             [--publishers S] [--subscribers K] [--connections N] [--window W]
//             [--rate R (redis)] [--seconds T] [--warmup T] [--lines L] [--threads N]
//             [--broker-pid PID] [--json FILE]
#include <atomic>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/baselines/peer_protocol.hpp"
#include "bench/baselines/peer_run.hpp"
#include "bench/baselines/ws_link.hpp"
#include "bench/common/sample_order.hpp"
#include "bench/load/histogram.hpp"
#include "bench/load/proc.hpp"

namespace {

using namespace possync;
using namespace possync::bench;
using namespace possync::bench::peer;
using Clock = std::chrono::steady_clock;

// The options and what to do with them.
bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--peer") {
      if (value != "mqtt" && value != "nats" && value != "redis") return false;
      a.peer = value;
      a.kind = value == "nats" ? PeerKind::nats : PeerKind::mqtt;
    } else if (key == "--port") a.port = static_cast<std::uint16_t>(std::stoi(value));
    else if (key == "--scenario") a.scenario = value;
    else if (key == "--publishers") a.publishers = std::stoi(value);
    else if (key == "--subscribers") a.subscribers = std::stoi(value);
    else if (key == "--connections") a.connections = std::stoi(value);
    else if (key == "--window") a.window = std::stoi(value);
    else if (key == "--rate") a.rate = std::stod(value);
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
  // --rate is paced by the Redis driver only; the WebSocket peers run flat out.
  const bool rate_ok = a.rate == 0 || (a.rate > 0 && a.peer == "redis");
  return argc % 2 == 1 && known && a.port != 0 && a.publishers > 0 && a.subscribers > 0 && a.connections > 0 &&
         a.window > 0 && a.window < 60000 && a.seconds > 0 && a.lines > 0 && a.threads > 0 && rate_ok;
}

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
        publisher_(publisher), proto_(PeerProtocol::create(shared.args.kind)) {}

  void start(IoPool& pool) {
    WsOptions options;
    options.port = shared_.args.port;
    options.subprotocol = subprotocol_of(shared_.args.kind);
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
    const Stamp stamp = read_payload(payload);
    const std::int64_t t0 = stamp.t0, from = stamp.publisher, seq = stamp.seq;
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
  IdleResult r;
  r.up = shared.ready;
  r.failures = shared.failures;
  r.connect_s = connect_s;
  r.before = before;
  r.after = after;
  r.first_failure = shared.first_failure;
  pool.stop();
  return report_idle(a, peer, r);
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

  TrafficResult r;
  r.publishers = publishers;
  r.subscribers = subscribers;
  r.payload_bytes = shared.payload_bytes;
  r.seconds = seconds;
  r.broker0 = broker0;
  r.broker1 = broker1;
  r.self0 = self0;
  r.self1 = self1;
  for (const auto& t : shared.per_thread) r.total.merge(t);
  for (const auto& c : clients) {
    if (c->role() != Client::Role::subscriber) continue;
    const Client& from = *pubs[static_cast<std::size_t>(c->publisher())];
    for (std::int64_t seq = 0; seq < from.published(); ++seq) {
      if (!from.acked(seq)) continue;
      ++r.expected;
      if (!c->seen(seq)) ++r.lost;
    }
  }
  r.drained = drained;
  r.failures = shared.failures;
  r.first_failure = shared.first_failure;
  return report_traffic(a, peer, r);
}

}  // namespace

int main(int argc, char** argv) {
  Shared shared;
  try {
    if (!parse(argc, argv, shared.args)) throw std::invalid_argument("usage");
  } catch (const std::exception&) {
    std::fprintf(stderr,
                 "usage: peer-load --peer mqtt|nats|redis --port P --scenario pairs|fanout|idle [--publishers S]\n"
                 "                 [--subscribers K] [--connections N] [--window W] [--rate R (redis only)]\n"
                 "                 [--seconds T] [--warmup T]\n"
                 "                 [--hold T] [--lines L] [--threads N] [--broker-pid PID] [--json FILE]\n");
    return 2;
  }
  const Args& a = shared.args;
  load::raise_fd_limit();
  shared.payload_bytes = bench::sample_order_json(a.lines, now_ns()).size();
  if (a.peer == "redis") return run_redis(a, shared.payload_bytes);
  shared.per_thread.resize(static_cast<std::size_t>(a.threads));
  const char* peer = a.kind == PeerKind::mqtt ? "mosquitto" : "nats";

  // The pool outlives the clients: their links' pending operations hold
  // the links, never the clients, and die with the io_contexts.
  IoPool pool(a.threads);
  std::vector<std::unique_ptr<Client>> clients;
  if (a.scenario == "idle") return run_idle(shared, pool, clients, peer);
  return run_traffic(shared, pool, clients, peer);
}
