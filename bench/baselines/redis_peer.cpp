// peer-load's Redis driver: Redis Streams through hiredis, the durable peer
// of issue #14. compare.sh runs Redis with --appendonly yes --appendfsync
// always, so every reply comes after the command's effect is in the AOF and
// fsynced (Redis fsyncs once per event-loop turn, before it replies).
//
//   pairs   publisher i XADDs to the stream possync-bench:pairs:i, which has
//           one consumer group; its receiver reads it (XREADGROUP … BLOCK)
//           and XACKs what it got.
//   fanout  one publisher XADDs to one stream, possync-bench:fanout, that has
//           K consumer groups, one per receiver: each publish is stored once
//           and gets a pending entry per receiver, which that receiver acks.
//           That is possync's fan-out: one order row, one delivery per
//           receiver, each receiver acks its own. (K streams would store the
//           message K times and make the publisher wait for K replies.)
//   idle    N connections, one PING each, held: Redis's RSS per connection.
//
// "Acked" for a publisher is the XADD reply (the new entry's ID). Each io
// thread (--threads) multiplexes its connections with ppoll: blocking hiredis
// contexts, pipelined through redisAppendCommandArgv / redisBufferWrite, and
// read through redisBufferRead / redisGetReplyFromReader only when ppoll says
// a socket is readable. A publisher keeps at most --window XADDs
// unanswered; with --rate R, publish i of the run is due at start + i/R and
// goes to publisher i mod S, and a publisher whose window is full sends it
// later with its scheduled time (as possync-load does: stalls show in the
// latency). The broker's CPU includes the children Redis reaped in the
// window (an automatic AOF rewrite forks one).
#include <hiredis/hiredis.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <sstream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/baselines/peer_run.hpp"

namespace possync::bench::peer {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kField = "o";      // the entry's one field: the payload
constexpr std::string_view kReadCount = "256";  // entries per XREADGROUP at most
constexpr std::int64_t kIdlePollNs = 10'000'000;
constexpr std::int64_t kMaxPaceSleepNs = 5'000'000;

struct Shared {
  explicit Shared(const Args& a) : args(a) {}
  const Args& args;
  std::size_t payload_bytes = 0;
  int publishers = 0;
  std::atomic<bool> publishing{false}, measuring{false}, stop{false};
  std::atomic<std::int64_t> start_ns{0};
  std::atomic<std::int64_t> failures{0}, acked_total{0}, received_total{0}, in_flight{0};
  std::vector<ThreadStats> per_thread;
  std::mutex failure_mutex;
  std::string first_failure;

  void fail(const std::string& why) {
    {
      std::lock_guard lock(failure_mutex);
      if (first_failure.empty()) first_failure = why;
    }
    ++failures;
  }
};

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

Context connect(std::uint16_t port, std::string& error) {
  Context c(redisConnect("127.0.0.1", port));
  if (!c) error = "redisConnect: out of memory";
  else if (c->err) error = std::string("connect: ") + c->errstr;
  return c;
}

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

std::string_view text(const redisReply* r) {
  return r != nullptr && r->str != nullptr ? std::string_view(r->str, r->len) : std::string_view();
}

// One connection: a publisher or a receiver.
struct Conn {
  enum class Role { publisher, receiver };
  Role role = Role::publisher;
  int index = 0;      // publisher or receiver number
  int publisher = 0;  // whose messages (a receiver's publisher; a publisher's own index)
  int thread = 0;
  std::string stream, group, consumer;
  std::string name;  // for failures
  Context ctx;
  bool dead = false, dirty = false;
  // Publisher: XADDs sent and not answered (seq, t0), scheduled times owed
  // (--rate), what Redis acknowledged.
  std::deque<std::pair<std::int64_t, std::int64_t>> in_flight;
  std::deque<std::int64_t> backlog;
  std::int64_t next_seq = 0;
  std::vector<std::uint8_t> acked;
  // Receiver: what each unanswered command was (true: XREADGROUP, false: XACK),
  // and the sequence numbers received.
  std::deque<bool> expect_read;
  std::vector<std::uint8_t> seen;

  bool has_acked(std::int64_t seq) const {
    return seq < static_cast<std::int64_t>(acked.size()) && acked[static_cast<std::size_t>(seq)];
  }
  bool has_seen(std::int64_t seq) const {
    return seq < static_cast<std::int64_t>(seen.size()) && seen[static_cast<std::size_t>(seq)];
  }
};

void append(Conn& c, const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (auto arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  redisAppendCommandArgv(c.ctx.get(), static_cast<int>(argv.size()), argv.data(), lengths.data());
  c.dirty = true;
}

void mark(std::vector<std::uint8_t>& bits, std::int64_t seq) {
  if (bits.size() <= static_cast<std::size_t>(seq)) bits.resize(static_cast<std::size_t>(seq) + 1);
  bits[static_cast<std::size_t>(seq)] = 1;
}

class Worker {
 public:
  Worker(Shared& shared, int thread, std::vector<Conn*> conns)
      : shared_(shared), thread_(thread), conns_(std::move(conns)),
        pub_of_(static_cast<std::size_t>(shared.publishers), nullptr) {
    for (auto* c : conns_) {
      if (c->role == Conn::Role::publisher) pub_of_[static_cast<std::size_t>(c->index)] = c;
    }
  }

  void run() {
    const Args& a = shared_.args;
    std::vector<pollfd> fds(conns_.size());
    for (std::size_t i = 0; i < conns_.size(); ++i) fds[i] = {conns_[i]->ctx->fd, POLLIN, 0};
    for (auto* c : conns_) {
      if (c->role == Conn::Role::receiver) read_more(*c);
    }
    bool started = false;
    std::int64_t issued = 0;  // --rate: publishes of the run scheduled so far (all publishers)
    const double ns_per_publish = a.rate > 0 ? 1e9 / a.rate : 0;
    while (!shared_.stop.load(std::memory_order_relaxed)) {
      std::int64_t wait_ns = kIdlePollNs;
      if (shared_.publishing.load(std::memory_order_relaxed)) {
        if (a.rate <= 0 && !started) {
          for (auto* c : conns_) {
            if (c->role == Conn::Role::publisher) fill_window(*c);
          }
        }
        started = true;
        if (a.rate > 0) {
          const std::int64_t start = shared_.start_ns.load();
          const std::int64_t due = static_cast<std::int64_t>(static_cast<double>(now_ns() - start) / ns_per_publish) + 1;
          for (; issued < due; ++issued) {
            Conn* c = pub_of_[static_cast<std::size_t>(issued % shared_.publishers)];
            if (c == nullptr || c->dead) continue;  // another thread's publisher
            c->backlog.push_back(start + static_cast<std::int64_t>(static_cast<double>(issued) * ns_per_publish));
            fill_window(*c);
          }
          const auto next_due = start + static_cast<std::int64_t>(static_cast<double>(issued) * ns_per_publish);
          wait_ns = std::clamp<std::int64_t>(next_due - now_ns(), 0, kMaxPaceSleepNs);
        }
      }
      flush();
      timespec timeout{static_cast<time_t>(wait_ns / 1'000'000'000), static_cast<long>(wait_ns % 1'000'000'000)};
      const int ready = ::ppoll(fds.data(), fds.size(), &timeout, nullptr);
      if (ready <= 0) continue;
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        Conn& c = *conns_[i];
        receive(c);
        if (c.dead) fds[i].fd = -1;
      }
    }
  }

 private:
  void failed(Conn& c, const std::string& why) {
    if (c.dead) return;
    c.dead = true;
    shared_.fail(c.name + ": " + why);
  }

  void flush() {
    for (auto* c : conns_) {
      if (!c->dirty || c->dead) continue;
      c->dirty = false;
      int done = 0;
      while (!done) {
        if (redisBufferWrite(c->ctx.get(), &done) != REDIS_OK) {
          failed(*c, std::string("write: ") + c->ctx->errstr);
          break;
        }
      }
    }
  }

  void fill_window(Conn& c) {
    const Args& a = shared_.args;
    while (!c.dead && shared_.publishing.load(std::memory_order_relaxed) &&
           c.in_flight.size() < static_cast<std::size_t>(a.window)) {
      std::int64_t t0 = 0;
      if (a.rate > 0) {
        if (c.backlog.empty()) return;
        t0 = c.backlog.front();
        c.backlog.pop_front();
      } else {
        t0 = now_ns();
      }
      const std::int64_t seq = c.next_seq++;
      const std::string payload = make_payload(shared_.payload_bytes, t0, c.index, seq);
      append(c, {"XADD", c.stream, "*", kField, payload});
      c.in_flight.emplace_back(seq, t0);
      ++shared_.in_flight;
    }
  }

  void read_more(Conn& c) {
    append(c, {"XREADGROUP", "GROUP", c.group, c.consumer, "COUNT", kReadCount, "BLOCK", "0", "STREAMS", c.stream,
               ">"});
    c.expect_read.push_back(true);
  }

  void receive(Conn& c) {
    if (redisBufferRead(c.ctx.get()) != REDIS_OK) return failed(c, std::string("read: ") + c.ctx->errstr);
    for (;;) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(c.ctx.get(), &raw) != REDIS_OK) {
        return failed(c, std::string("reply: ") + c.ctx->errstr);
      }
      if (raw == nullptr) return;
      const Reply reply(static_cast<redisReply*>(raw));
      if (reply->type == REDIS_REPLY_ERROR) return failed(c, "Redis: " + std::string(text(reply.get())));
      if (c.role == Conn::Role::publisher) {
        published(c, *reply);
      } else {
        if (c.expect_read.empty()) return failed(c, "a reply to nothing");
        const bool was_read = c.expect_read.front();
        c.expect_read.pop_front();
        if (was_read) delivered(c, *reply);
      }
      if (c.dead) return;
    }
  }

  // An XADD's reply: the entry's ID, after Redis fsynced the AOF.
  void published(Conn& c, const redisReply& reply) {
    if (reply.type != REDIS_REPLY_STRING) return failed(c, "XADD: not an ID");
    if (c.in_flight.empty()) return failed(c, "an XADD reply for nothing in flight");
    const auto [seq, t0] = c.in_flight.front();
    c.in_flight.pop_front();
    --shared_.in_flight;
    ++shared_.acked_total;
    mark(c.acked, seq);
    if (shared_.measuring.load(std::memory_order_relaxed)) {
      auto& stats = shared_.per_thread[static_cast<std::size_t>(thread_)];
      stats.to_ack.record(now_ns() - t0);
      ++stats.acked;
    }
    fill_window(c);
  }

  // An XREADGROUP's reply: [[stream, [[id, [field, value, …]], …]]], or nil
  // when BLOCK timed out. Every entry is XACKed in one command, pipelined
  // with the next XREADGROUP.
  void delivered(Conn& c, const redisReply& reply) {
    const std::int64_t t1 = now_ns();
    auto& stats = shared_.per_thread[static_cast<std::size_t>(thread_)];
    std::vector<std::string_view> ack{"XACK", c.stream, c.group};
    if (reply.type == REDIS_REPLY_ARRAY) {
      for (std::size_t s = 0; s < reply.elements; ++s) {
        const redisReply* stream = reply.element[s];
        if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2) return failed(c, "XREADGROUP: bad reply");
        const redisReply* entries = stream->element[1];
        for (std::size_t e = 0; entries->type == REDIS_REPLY_ARRAY && e < entries->elements; ++e) {
          const redisReply* entry = entries->element[e];
          if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) return failed(c, "XREADGROUP: bad entry");
          ack.push_back(text(entry->element[0]));
          const redisReply* fields = entry->element[1];
          std::string_view payload;
          for (std::size_t f = 0; fields->type == REDIS_REPLY_ARRAY && f + 1 < fields->elements; f += 2) {
            if (text(fields->element[f]) == kField) payload = text(fields->element[f + 1]);
          }
          record(c, stats, payload, t1);
        }
      }
    } else if (reply.type != REDIS_REPLY_NIL) {
      return failed(c, "XREADGROUP: unexpected reply type " + std::to_string(reply.type));
    }
    if (ack.size() > 3) {
      append(c, ack);
      c.expect_read.push_back(false);
    }
    read_more(c);
  }

  void record(Conn& c, ThreadStats& stats, std::string_view payload, std::int64_t t1) {
    const Stamp stamp = read_payload(payload);
    if (stamp.t0 < 0 || stamp.seq < 0 || stamp.publisher != c.publisher) {
      ++stats.foreign;
      return;
    }
    if (c.has_seen(stamp.seq)) {
      ++stats.duplicates;
      return;
    }
    mark(c.seen, stamp.seq);
    ++shared_.received_total;
    if (shared_.measuring.load(std::memory_order_relaxed)) {
      stats.to_receive.record(t1 - stamp.t0);
      ++stats.received;
    }
  }

  Shared& shared_;
  const int thread_;
  std::vector<Conn*> conns_;
  std::vector<Conn*> pub_of_;  // by publisher number; null when another thread's
};

// The CPU of the children Redis has reaped (fields 16 and 17 of
// /proc/PID/stat): the forks of an automatic AOF rewrite, which a durable
// Redis pays for its log and which the server's own utime and stime miss.
// possync compacts (checkpoints) in its own process, so counting these keeps
// the two alike. 0 when unreadable.
double reaped_children_cpu_s(int pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::ostringstream text;
  text << in.rdbuf();
  const std::string stat = text.str();
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  unsigned long long ticks = 0;
  for (int n = 3; n <= 17 && fields >> field; ++n) {
    if (n == 16 || n == 17) ticks += std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A command on a blocking context, its reply checked: "" or what went wrong.
std::string command(redisContext* c, const std::vector<std::string_view>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (auto arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  const Reply reply(
      static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data())));
  if (!reply) return std::string(args[0]) + ": " + c->errstr;
  if (reply->type == REDIS_REPLY_ERROR) return std::string(args[0]) + ": " + std::string(text(reply.get()));
  return "";
}

int run_idle(const Args& a) {
  IdleResult r;
  std::vector<Context> held;
  held.reserve(static_cast<std::size_t>(a.connections));
  r.before = load::sample_process(a.broker_pid);
  const auto t0 = Clock::now();
  for (int n = 0; n < a.connections; ++n) {
    std::string error;
    Context c = connect(a.port, error);
    if (error.empty()) error = command(c.get(), {"PING"});
    if (!error.empty()) {
      r.failures = 1;
      r.first_failure = "idle-" + std::to_string(n) + ": " + error;
      break;
    }
    held.push_back(std::move(c));
  }
  r.up = static_cast<std::int64_t>(held.size());
  r.connect_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::this_thread::sleep_for(std::chrono::duration<double>(a.hold));
  r.after = load::sample_process(a.broker_pid);
  return report_idle(a, "redis", r);
}

}  // namespace

int run_redis(const Args& a, std::size_t payload_bytes) {
  if (a.scenario == "idle") return run_idle(a);
  const bool pairs = a.scenario == "pairs";
  Shared shared(a);
  shared.payload_bytes = payload_bytes;
  shared.publishers = pairs ? a.publishers : 1;
  const int receivers = pairs ? a.publishers : a.subscribers;
  const int fan = pairs ? 1 : a.subscribers;  // deliveries per publish
  shared.per_thread.resize(static_cast<std::size_t>(a.threads));

  const auto stream_of = [&](int publisher) {
    return pairs ? "possync-bench:pairs:" + std::to_string(publisher) : std::string("possync-bench:fanout");
  };
  // Pairs: one group per stream; fanout: one group per receiver on the one stream.
  const auto group_of = [&](int receiver) { return pairs ? std::string("g") : "g" + std::to_string(receiver); };

  std::vector<std::unique_ptr<Conn>> conns;
  std::string error;
  {
    // The streams and groups, created before any publish ("$": from now on),
    // so a receiver sees every entry whenever its first XREADGROUP arrives.
    Context setup = connect(a.port, error);
    for (int p = 0; p < shared.publishers && error.empty(); ++p) error = command(setup.get(), {"DEL", stream_of(p)});
    for (int r = 0; r < receivers && error.empty(); ++r) {
      error = command(setup.get(), {"XGROUP", "CREATE", stream_of(pairs ? r : 0), group_of(r), "$", "MKSTREAM"});
    }
  }
  for (int r = 0; r < receivers && error.empty(); ++r) {
    auto c = std::make_unique<Conn>();
    c->role = Conn::Role::receiver;
    c->index = r;
    c->publisher = pairs ? r : 0;
    c->thread = r % a.threads;
    c->stream = stream_of(c->publisher);
    c->group = group_of(r);
    c->consumer = "c" + std::to_string(r);
    c->name = "sub-" + std::to_string(r);
    c->ctx = connect(a.port, error);
    conns.push_back(std::move(c));
  }
  for (int p = 0; p < shared.publishers && error.empty(); ++p) {
    auto c = std::make_unique<Conn>();
    c->role = Conn::Role::publisher;
    c->index = c->publisher = p;
    c->thread = p % a.threads;
    c->stream = stream_of(p);
    c->name = "pub-" + std::to_string(p);
    c->ctx = connect(a.port, error);
    conns.push_back(std::move(c));
  }
  if (!error.empty()) {
    std::fprintf(stderr, "peer-load: redis set-up failed: %s\n", error.c_str());
    return 1;
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < a.threads; ++t) {
    std::vector<Conn*> mine;
    for (auto& c : conns) {
      if (c->thread == t) mine.push_back(c.get());
    }
    workers.push_back(std::make_unique<Worker>(shared, t, std::move(mine)));
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  shared.start_ns = now_ns();
  shared.publishing = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(a.warmup));

  TrafficResult r;
  r.publishers = shared.publishers;
  r.subscribers = receivers;
  r.payload_bytes = payload_bytes;
  r.broker0 = load::sample_process(a.broker_pid);
  r.broker0.cpu_s += reaped_children_cpu_s(a.broker_pid);
  r.self0 = load::sample_self();
  const auto t0 = Clock::now();
  shared.measuring = true;
  wait_for([&] { return shared.failures > 0; }, a.seconds);
  shared.measuring = false;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.broker1 = load::sample_process(a.broker_pid);
  r.broker1.cpu_s += reaped_children_cpu_s(a.broker_pid);
  r.self1 = load::sample_self();
  shared.publishing = false;

  r.drained = wait_for(
      [&] { return shared.in_flight == 0 && shared.received_total >= shared.acked_total * fan; }, 10);
  shared.stop = true;
  for (auto& t : threads) t.join();  // from here on the connections' state is ours

  for (const auto& t : shared.per_thread) r.total.merge(t);
  for (const auto& c : conns) {
    if (c->role != Conn::Role::receiver) continue;
    const Conn& from = *conns[static_cast<std::size_t>(receivers + c->publisher)];
    for (std::int64_t seq = 0; seq < from.next_seq; ++seq) {
      if (!from.has_acked(seq)) continue;
      ++r.expected;
      if (!c->has_seen(seq)) ++r.lost;
    }
  }
  r.failures = shared.failures;
  r.first_failure = shared.first_failure;
  return report_traffic(a, "redis", r);
}

}  // namespace possync::bench::peer
