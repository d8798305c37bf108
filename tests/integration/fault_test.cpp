// Faults with the real broker binary on a real SQLite file (issue #7):
// kill -9 in the middle of a load run, a slow consumer flooded with big
// orders while another pair keeps its round trips and the broker its memory,
// and SQLite on a full disk. Every wait is bounded in time and count and
// ends on an observable event, never on a sleep.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include <fcntl.h>

#include <rapidjson/document.h>

#include "tests/integration/broker_process.hpp"
#include "tests/integration/harness.hpp"
#include "tests/integration/stalled_client.hpp"

using namespace possync::test;
using possync::client::Client;

namespace {

const std::string& kAdmin = kProcessAdmin;
using Clock = std::chrono::steady_clock;

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

possync::client::Runtime& load_runtime() {
  static possync::client::Runtime rt(2);
  return rt;
}

// A client of the load runtime with a generous request timeout (replies of a
// busy broker under ASan may take a while; a dead broker fails them at once).
std::shared_ptr<Client> make_client(std::uint16_t port, const std::string& session, const std::string& token) {
  possync::client::Options o;
  o.port = port;
  o.session = session;
  o.token = token;
  o.request_timeout = std::chrono::seconds(30);
  return Client::create(load_runtime(), o);
}

// A /proc/PID/status figure in KiB ("VmRSS:", "VmHWM:"); -1 if absent.
long proc_status_kib(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size()));
  }
  return -1;
}

struct StoredOrder {
  std::int64_t order_id = 0;
  std::string ref;
  std::string from;
  std::map<std::string, std::string> receivers;  // session -> delivery status
};

// Every order of GET /api/orders?QUERY, all pages, newest first.
std::vector<StoredOrder> list_all_orders(std::uint16_t port, const std::string& query = "") {
  std::vector<StoredOrder> out;
  std::optional<std::int64_t> before;
  for (int page = 0; page < 1000; ++page) {
    std::string target = "/api/orders?limit=500" + (query.empty() ? "" : "&" + query);
    if (before) target += "&before=" + std::to_string(*before);
    auto res = possync::client::http_request("127.0.0.1", port, "GET", target, kAdmin);
    REQUIRE(res.status == 200);
    rapidjson::Document d;
    d.Parse(res.body.c_str());
    REQUIRE(d.IsObject());
    for (const auto& o : d["orders"].GetArray()) {
      StoredOrder s;
      s.order_id = o["order_id"].GetInt64();
      s.ref = o["ref"].GetString();
      s.from = o["from"].GetString();
      for (const auto& r : o["receivers"].GetArray()) s.receivers[r["session"].GetString()] = r["status"].GetString();
      out.push_back(std::move(s));
    }
    if (!d["next_before"].IsInt64()) return out;
    before = d["next_before"].GetInt64();
  }
  FAIL("GET /api/orders did not reach its last page");
  return out;
}

// Sends every request (pipelined) and waits for all replies, in request order.
std::vector<possync::client::Reply> pipeline(Client& c, const std::vector<std::string>& requests,
                                             std::chrono::seconds bound = std::chrono::seconds(60)) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<possync::client::Reply> replies;
    std::size_t done = 0;
  };
  auto sh = std::make_shared<Shared>();
  sh->replies.resize(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    c.request(requests[i], [sh, i](possync::client::Reply r) {
      std::lock_guard lock(sh->mu);
      sh->replies[i] = std::move(r);
      ++sh->done;
      sh->cv.notify_all();
    });
  }
  std::unique_lock lock(sh->mu);
  REQUIRE(sh->cv.wait_for(lock, bound, [&] { return sh->done == requests.size(); }));
  return sh->replies;
}

// ---- a sender that keeps `window` sends in flight --------------------------

struct SenderState {
  std::string prefix;
  std::vector<std::string> to;
  std::string order;
  int max = 0;
  int window = 0;
  std::shared_ptr<std::atomic<int>> ok_total;

  std::mutex mu;
  int next = 0;
  int outstanding = 0;
  bool stopped = false;  // a transport failure: the broker went away
  std::vector<std::string> attempted;
  std::map<std::string, std::int64_t> acked;   // ref -> order_id of its `sent` reply
  std::map<std::string, std::string> errors;  // ref -> error code
  std::atomic<bool> closed{false};

  bool idle() {
    std::lock_guard lock(mu);
    return outstanding == 0 && (stopped || next == max);
  }
};

void pump(const std::shared_ptr<SenderState>& st, const std::weak_ptr<Client>& weak) {
  auto c = weak.lock();
  if (!c) return;
  std::vector<std::string> refs;
  {
    std::lock_guard lock(st->mu);
    while (!st->stopped && st->outstanding < st->window && st->next < st->max) {
      refs.push_back(st->prefix + std::to_string(st->next++));
      st->attempted.push_back(refs.back());
      ++st->outstanding;
    }
  }
  for (const auto& ref : refs) {
    c->request(send_json(ref, st->to, "copy", st->order), [st, weak, ref](possync::client::Reply r) {
      {
        std::lock_guard lock(st->mu);
        --st->outstanding;
        if (r.ok()) {
          st->acked[ref] = r.message->int_field("order_id");
          ++*st->ok_total;
        } else if (r.message) {
          st->errors[ref] = r.message->error_code();
        } else {
          st->stopped = true;
        }
      }
      pump(st, weak);
    });
  }
}

struct PipelinedSender {
  std::shared_ptr<SenderState> st = std::make_shared<SenderState>();
  std::shared_ptr<Client> client;

  PipelinedSender(std::uint16_t port, const std::string& session, const std::string& token) {
    client = make_client(port, session, token);
    client->on_close([st = st](int, std::string) { st->closed = true; });
  }
  ~PipelinedSender() { client->close(); }
  void start() { pump(st, client); }
};

// ---- a receiver that acks or delivers some orders as they arrive -----------

enum class Act { none, ack, deliver };

struct ReceiverState {
  std::string session;
  int offset = 0;  // which third of the pushes it acks, delivers or leaves
  std::shared_ptr<std::atomic<int>> delivered_total;

  std::mutex mu;
  std::vector<std::int64_t> pushed;
  std::map<std::int64_t, Act> acts;
  std::set<std::int64_t> delivered;  // a `delivered` reply came back
  std::vector<std::string> errors;
  std::atomic<bool> closed{false};
};

struct ActingReceiver {
  std::shared_ptr<ReceiverState> st = std::make_shared<ReceiverState>();
  std::shared_ptr<Client> client;

  ActingReceiver(std::uint16_t port, const std::string& session, const std::string& token, int offset,
                 std::shared_ptr<std::atomic<int>> delivered_total) {
    st->session = session;
    st->offset = offset;
    st->delivered_total = std::move(delivered_total);
    client = make_client(port, session, token);
    std::weak_ptr<Client> weak = client;
    client->on_push([st = st, weak](possync::client::MessagePtr m) {
      if (m->type() != "order") return;
      const auto id = m->int_field("order_id");
      Act act;
      {
        std::lock_guard lock(st->mu);
        st->pushed.push_back(id);
        if (st->acts.count(id)) return;  // at-least-once: act on the first push only
        act = static_cast<Act>((st->pushed.size() + static_cast<std::size_t>(st->offset)) % 3);
        st->acts[id] = act;
      }
      auto c = weak.lock();
      if (!c) return;
      if (act == Act::ack) c->send_text(order_op("ack", id));
      if (act == Act::deliver) {
        c->request(order_op("deliver", id), [st, id](possync::client::Reply r) {
          std::lock_guard lock(st->mu);
          if (r.ok()) {
            st->delivered.insert(id);
            ++*st->delivered_total;
          } else if (r.message) {
            st->errors.push_back(r.message->error_code());
          }
        });
      }
    });
    client->on_close([st = st](int, std::string) { st->closed = true; });
  }
  ~ActingReceiver() { client->close(); }
};

bool connect_hello(Client& c) { return c.connect_sync().empty() && c.hello_sync().ok(); }

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

TEST_CASE("fault: kill -9 in the middle of a load run - 4 pairs and a fan-out pipelining, receivers acking and "
          "delivering - loses no acknowledged order and replays each pending one once in order",
          "[process][fault]") {
  TempDir dir;
  const auto db = "sqlite:" + (dir.path / "load.db").string();
  const std::vector<std::string> flags = {"--rate-limit", "1000000"};
  struct Spec {
    std::string sender;
    std::vector<std::string> to;
  };
  const std::vector<Spec> specs = {{"pos-1", {"kds-1"}},
                                   {"pos-2", {"kds-2"}},
                                   {"pos-3", {"kds-3"}},
                                   {"pos-4", {"kds-4"}},
                                   {"pos-5", {"kds-5", "kds-6"}}};
  const std::vector<std::string> receiver_ids = {"kds-1", "kds-2", "kds-3", "kds-4", "kds-5", "kds-6"};
  constexpr int kPerSender = 20000;  // more than can be sent before the kill
  constexpr int kWindow = 32;
  constexpr int kKillAfterOk = 3000;  // `sent` replies before the kill
  std::map<std::string, std::string> tokens;
  auto ok_total = std::make_shared<std::atomic<int>>(0);
  auto delivered_total = std::make_shared<std::atomic<int>>(0);
  std::vector<std::unique_ptr<PipelinedSender>> senders;
  std::vector<std::unique_ptr<ActingReceiver>> receivers;
  int ok_at_kill = 0;
  {
    BrokerProcess broker(db, flags);
    for (const auto& s : specs) tokens[s.sender] = broker.add_session(s.sender, true, false);
    for (const auto& r : receiver_ids) tokens[r] = broker.add_session(r, false, true);
    for (std::size_t i = 0; i < receiver_ids.size(); ++i) {
      receivers.push_back(std::make_unique<ActingReceiver>(broker.port, receiver_ids[i], tokens[receiver_ids[i]],
                                                           static_cast<int>(i), delivered_total));
      REQUIRE(connect_hello(*receivers.back()->client));
    }
    for (const auto& s : specs) {
      senders.push_back(std::make_unique<PipelinedSender>(broker.port, s.sender, tokens[s.sender]));
      auto& st = *senders.back()->st;
      st.prefix = s.sender + "-ref-";
      st.to = s.to;
      st.order = sample_order(3);
      st.max = kPerSender;
      st.window = kWindow;
      st.ok_total = ok_total;
      REQUIRE(connect_hello(*senders.back()->client));
    }
    const auto t0 = Clock::now();
    for (auto& s : senders) s->start();
    // Trigger on replies, not on time: the kill lands while every sender has
    // a window of sends in flight and the receivers are acting.
    REQUIRE(eventually([&] { return *ok_total >= kKillAfterOk && *delivered_total >= 150; }, std::chrono::seconds(60)));
    broker.proc->signal(SIGKILL);
    ok_at_kill = *ok_total;
    CHECK(broker.proc->wait(std::chrono::seconds(10)) == 128 + SIGKILL);
    WARN("load ran " << std::chrono::duration<double>(Clock::now() - t0).count() << " s before the kill, "
                     << ok_at_kill << " `sent` replies when SIGKILL was sent");
    // Every client sees the connection drop; every pending request fails.
    REQUIRE(eventually(
        [&] {
          for (auto& s : senders)
            if (!s->st->closed || !s->st->idle()) return false;
          for (auto& r : receivers)
            if (!r->st->closed) return false;
          return true;
        },
        std::chrono::seconds(30)));
  }

  // What the clients know: acknowledged sends, refs without a reply, and
  // what each receiver did with each order.
  std::map<std::string, std::int64_t> acked;  // ref -> order_id
  std::set<std::string> attempted;
  std::map<std::string, std::string> ref_sender;
  int unanswered = 0;
  for (std::size_t i = 0; i < senders.size(); ++i) {
    auto& st = *senders[i]->st;
    std::lock_guard lock(st.mu);
    CHECK(st.errors.empty());  // no error reply under load (rate limit off, store healthy)
    CHECK(st.next < st.max);   // the kill came while it still had orders to send
    for (const auto& r : st.attempted) {
      attempted.insert(r);
      ref_sender[r] = specs[i].sender;
    }
    acked.insert(st.acked.begin(), st.acked.end());
    unanswered += static_cast<int>(st.attempted.size() - st.acked.size() - st.errors.size());
  }
  std::map<std::string, std::map<std::int64_t, Act>> acts;       // receiver -> order -> act
  std::map<std::string, std::set<std::int64_t>> delivered;       // receiver -> confirmed deliver
  int pushes_before = 0;
  for (auto& r : receivers) {
    std::lock_guard lock(r->st->mu);
    CHECK(r->st->errors.empty());
    acts[r->st->session] = r->st->acts;
    delivered[r->st->session] = r->st->delivered;
    pushes_before += static_cast<int>(r->st->pushed.size());
  }
  WARN("before the kill: " << acked.size() << " sends acknowledged, " << unanswered
                           << " sent without a reply, " << pushes_before << " pushes received, " << *delivered_total
                           << " deliveries confirmed");
  CHECK(unanswered > 0);  // the kill really hit requests in flight
  REQUIRE(acked.size() >= static_cast<std::size_t>(kKillAfterOk));

  BrokerProcess broker(db, flags);
  auto stored = list_all_orders(broker.port);
  std::map<std::string, int> count;
  std::map<std::string, const StoredOrder*> by_ref;
  for (const auto& o : stored) {
    ++count[o.ref];
    by_ref[o.ref] = &o;
  }
  // Every acknowledged send is stored exactly once, under the id it was given.
  for (const auto& [ref, id] : acked) {
    INFO(ref);
    REQUIRE(count[ref] == 1);
    CHECK(by_ref[ref]->order_id == id);
  }
  int stored_unanswered = 0;
  for (const auto& [ref, n] : count) {
    INFO(ref);
    CHECK(n == 1);
    CHECK(attempted.count(ref) == 1);  // nothing the clients never sent
    if (!acked.count(ref)) ++stored_unanswered;
  }
  // Each delivery's status agrees with what its receiver did before the crash.
  std::map<std::string, std::vector<std::int64_t>> expected_replay;
  for (auto it = stored.rbegin(); it != stored.rend(); ++it) {  // oldest first
    for (const auto& [session, status] : it->receivers) {
      INFO(it->ref << " to " << session << " is " << status);
      auto a = acts[session].find(it->order_id);
      const Act act = a == acts[session].end() ? Act::none : a->second;
      if (delivered[session].count(it->order_id)) {
        CHECK(status == "delivered");
      } else if (act == Act::none) {
        CHECK(status == "sent");
      } else if (act == Act::ack) {
        CHECK((status == "sent" || status == "received"));
      } else {
        CHECK((status == "sent" || status == "delivered"));
      }
      if (status == "sent") expected_replay[session].push_back(it->order_id);
    }
  }

  // Each receiver gets exactly its `sent` deliveries replayed, each once, in
  // order_id order; nothing delivered or acknowledged before the crash.
  std::map<std::string, std::unique_ptr<TestClient>> back;
  int replayed_total = 0;
  for (const auto& r : receiver_ids) {
    back[r] = std::make_unique<TestClient>(broker.port, r, tokens[r]);
    REQUIRE(back[r]->connect_and_hello().ok());
    std::vector<std::int64_t> got;
    while (got.size() < expected_replay[r].size()) {
      auto m = back[r]->wait_type("order", std::chrono::seconds(10));
      if (!m) break;
      CHECK(m->string_field("status") == "sent");
      got.push_back(m->int_field("order_id"));
    }
    REQUIRE(back[r]->sync());
    while (auto m = back[r]->next_push(std::chrono::milliseconds(0))) {
      if (m->type() == "order") got.push_back(m->int_field("order_id"));
    }
    INFO("receiver " << r);
    CHECK(got == expected_replay[r]);
    for (auto id : delivered[r]) CHECK(std::find(got.begin(), got.end(), id) == got.end());
    replayed_total += static_cast<int>(got.size());
  }
  WARN("after the restart: " << stored.size() << " orders stored (" << stored_unanswered
                             << " of them sent without a reply), " << replayed_total << " deliveries replayed");

  // Resending every ref: `duplicate` with the same id for everything stored,
  // a new order for what the crash lost; afterwards one order per ref.
  std::map<std::string, std::vector<std::string>> refs_of;
  for (const auto& ref : attempted) refs_of[ref_sender[ref]].push_back(ref);
  std::map<std::string, std::set<std::int64_t>> new_for;  // receiver -> new order ids
  int duplicates = 0, fresh = 0;
  for (const auto& s : specs) {
    auto c = make_client(broker.port, s.sender, tokens[s.sender]);
    REQUIRE(connect_hello(*c));
    std::vector<std::string> requests;
    for (const auto& ref : refs_of[s.sender]) requests.push_back(send_json(ref, s.to, "copy", sample_order(3)));
    auto replies = pipeline(*c, requests);
    for (std::size_t i = 0; i < replies.size(); ++i) {
      const auto& ref = refs_of[s.sender][i];
      INFO(ref);
      REQUIRE(replies[i].ok());
      const auto& doc = replies[i].message->doc;
      const bool dup = doc["duplicate"].GetBool();
      const auto id = doc["order_id"].GetInt64();
      if (count[ref]) {
        CHECK(dup);
        CHECK(id == by_ref[ref]->order_id);
        ++duplicates;
      } else {
        CHECK_FALSE(dup);
        for (const auto& r : s.to) new_for[r].insert(id);
        ++fresh;
      }
    }
    c->close();
  }
  std::map<std::string, int> after;
  for (const auto& o : list_all_orders(broker.port)) ++after[o.ref];
  CHECK(after.size() == attempted.size());
  for (const auto& [ref, n] : after) {
    INFO(ref);
    CHECK(n == 1);
  }
  // The orders the crash lost reach their receivers once, when resent.
  for (const auto& r : receiver_ids) {
    std::set<std::int64_t> got;
    while (got.size() < new_for[r].size()) {
      auto m = back[r]->wait_type("order", std::chrono::seconds(10));
      if (!m) break;
      CHECK(got.insert(m->int_field("order_id")).second);
    }
    INFO("receiver " << r);
    CHECK(got == new_for[r]);
  }
  WARN("resent " << attempted.size() << " refs: " << duplicates << " duplicate, " << fresh << " stored anew");
}

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
  // and a fixed margin for the allocator, SQLite's caches and thread stacks.
  // ASan keeps freed memory in quarantine (256 MiB by default) and shadow.
  const long bound_kib = baseline + (4 * kQueuedBytes + 4 * kInflight * kMaxMessage) / 1024 + 32 * 1024 +
                         (kAsan ? 512 * 1024 : 0);
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

namespace {

// A tmpfs mounted for the test, unmounted (lazily, so a leftover open file
// cannot keep it) when the test ends, whether it passed or not.
struct TmpfsMount {
  std::filesystem::path dir;
  std::string error;
  bool mounted = false;
  TmpfsMount(std::filesystem::path d, const std::string& options) : dir(std::move(d)) {
    std::filesystem::create_directories(dir);
    if (::geteuid() != 0) {
      error = "not running as root (euid " + std::to_string(::geteuid()) + ")";
    } else if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      error = std::string("mount -t tmpfs -o ") + options + " failed: " + std::strerror(errno);
    } else {
      mounted = true;
    }
  }
  ~TmpfsMount() {
    if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
};

// Writes `path` until the file system is full; its size.
std::size_t fill_disk(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  std::string chunk(65536, 'f');
  std::size_t total = 0;
  for (std::size_t size : {std::size_t{65536}, std::size_t{4096}, std::size_t{512}}) {
    for (int i = 0; i < 100000; ++i) {
      auto n = ::write(fd, chunk.data(), size);
      if (n <= 0) break;
      total += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  return total;
}

std::string integrity_check(const std::string& path) {
  sqlite3* db = nullptr;
  std::string answer;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    answer = std::string("cannot open: ") + sqlite3_errmsg(db);
  } else {
    sqlite3_exec(
        db, "PRAGMA integrity_check",
        [](void* out, int, char** values, char**) {
          auto& s = *static_cast<std::string*>(out);
          if (!s.empty()) s += "\n";
          s += values[0] ? values[0] : "(null)";
          return 0;
        },
        &answer, nullptr);
  }
  sqlite3_close_v2(db);
  return answer;
}

}  // namespace

TEST_CASE("fault: SQLite on a full disk - send answers unavailable and stores nothing, the broker keeps serving, "
          "sends work again once there is room, the file stays intact and keeps every acknowledged order",
          "[process][fault]") {
  TempDir dir;
  TmpfsMount disk(dir.path / "disk", "size=8m,mode=0700");
  if (!disk.mounted) FAIL("this test needs root to mount a small tmpfs: " << disk.error);
  const auto file = (disk.dir / "full.db").string();
  std::set<std::string> acked_refs;
  std::map<std::string, std::int64_t> acked;
  std::string failed_ref;
  int attempts = 0;
  {
    BrokerProcess broker("sqlite:" + file, {"--rate-limit", "1000000"});
    auto counter_token = broker.add_session("counter-1", true, false);
    auto kitchen_token = broker.add_session("kitchen-1", false, true);
    TestClient c(broker.port, "counter-1", counter_token);
    TestClient k(broker.port, "kitchen-1", kitchen_token);
    REQUIRE(c.connect_and_hello().ok());
    REQUIRE(k.connect_and_hello().ok());
    const std::string order = sample_order(40);  // ~3 kB
    auto send = [&](const std::string& ref) { return c.call(send_json(ref, {"kitchen-1"}, "copy", order)); };
    for (int i = 0; i < 30; ++i) {
      const std::string ref = "F-" + std::to_string(attempts++);
      auto r = send(ref);
      REQUIRE(r.ok());
      acked[ref] = r.message->int_field("order_id");
    }
    const auto filler = disk.dir / "filler";
    const auto filled = fill_disk(filler);
    // Send until the store says `unavailable` (bounded: 8 MB hold fewer than 3000 of these).
    while (attempts < 3000) {
      const std::string ref = "F-" + std::to_string(attempts++);
      auto r = send(ref);
      REQUIRE(r.message);  // a reply, not a dropped connection
      if (r.ok()) {
        acked[ref] = r.message->int_field("order_id");
        continue;
      }
      REQUIRE(r.message->error_code() == "unavailable");
      failed_ref = ref;
      break;
    }
    WARN("full disk: filler of " << filled / 1024 << " KiB; " << acked.size() << " sends acknowledged, "
                                 << failed_ref << " got `unavailable`");
    REQUIRE_FALSE(failed_ref.empty());
    REQUIRE_FALSE(broker.proc->wait(std::chrono::milliseconds(0)));  // still running

    // The broker keeps serving: ping, /healthz, /readyz answers, reads work,
    // the failed order is not stored, and a retry while full fails the same way.
    CHECK(c.call(R"({"type":"ping"})").ok());
    CHECK(k.call(R"({"type":"ping"})").ok());
    auto health = possync::client::http_request("127.0.0.1", broker.port, "GET", "/healthz");
    CHECK(health.status == 200);
    auto ready = possync::client::http_request("127.0.0.1", broker.port, "GET", "/readyz");
    CHECK((ready.status == 200 || ready.status == 503));
    WARN("on the full disk /readyz answered " << ready.status << " " << ready.body);
    CHECK(list_all_orders(broker.port, "ref=" + failed_ref).empty());
    for (int i = 0; i < 3; ++i) {
      auto again = send(failed_ref);
      REQUIRE(again.message);
      CHECK(again.message->error_code() == "unavailable");
    }
    {
      auto stored = list_all_orders(broker.port);
      std::map<std::string, int> n;
      for (const auto& o : stored) ++n[o.ref];
      for (const auto& [ref, id] : acked) {
        INFO(ref);
        CHECK(n[ref] == 1);
      }
      CHECK(n.count(failed_ref) == 0);
    }

    // Room again: the same ref is stored once, as a new order.
    std::filesystem::remove(filler);
    int retries = 0;
    possync::client::Reply r;
    for (; retries < 20; ++retries) {
      r = send(failed_ref);
      REQUIRE(r.message);
      if (r.ok() || r.message->error_code() != "unavailable") break;
    }
    INFO("retries after the filler went: " << retries);
    REQUIRE(r.ok());
    CHECK(r.message->doc["duplicate"].GetBool() == false);
    acked[failed_ref] = r.message->int_field("order_id");
    auto dup = send(failed_ref);
    REQUIRE(dup.ok());
    CHECK(dup.message->doc["duplicate"].GetBool() == true);
    CHECK(dup.message->int_field("order_id") == acked[failed_ref]);
    for (int i = 0; i < 20; ++i) {
      const std::string ref = "F-" + std::to_string(attempts++);
      auto more = send(ref);
      REQUIRE(more.ok());
      acked[ref] = more.message->int_field("order_id");
    }
    REQUIRE(eventually(
        [&] {
          return possync::client::http_request("127.0.0.1", broker.port, "GET", "/readyz").status == 200;
        },
        std::chrono::seconds(10)));
    // The kitchen got every acknowledged order once, and nothing else.
    std::map<std::string, int> pushed;
    while (pushed.size() < acked.size()) {
      auto m = k.wait_type("order", std::chrono::seconds(10));
      if (!m) break;
      ++pushed[m->string_field("ref")];
    }
    REQUIRE(k.sync());
    while (auto m = k.next_push(std::chrono::milliseconds(0))) {
      if (m->type() == "order") ++pushed[m->string_field("ref")];
    }
    CHECK(pushed.size() == acked.size());
    for (const auto& [ref, n] : pushed) {
      INFO(ref);
      CHECK(acked.count(ref) == 1);
      CHECK(n == 1);
    }

    broker.proc->signal(SIGKILL);
    CHECK(broker.proc->wait(std::chrono::seconds(10)) == 128 + SIGKILL);
  }
  CHECK(integrity_check(file) == "ok");

  BrokerProcess broker("sqlite:" + file);
  std::map<std::string, std::vector<std::int64_t>> stored;
  for (const auto& o : list_all_orders(broker.port)) stored[o.ref].push_back(o.order_id);
  CHECK(stored.size() == acked.size());
  for (const auto& [ref, id] : acked) {
    INFO(ref);
    CHECK(stored[ref] == std::vector<std::int64_t>{id});
  }
}
