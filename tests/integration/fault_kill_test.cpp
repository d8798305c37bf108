// A fault with the real broker binary on a real SQLite file (issue #7):
// kill -9 in the middle of a load run, with senders pipelining and receivers
// acking and delivering; after the restart every acknowledged order is stored
// once and every pending delivery replays once, in order. Every wait is
// bounded in time and count and ends on an observable event, never on a sleep.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include <rapidjson/document.h>

#include "tests/integration/broker_process.hpp"
#include "tests/integration/fault_support.hpp"
#include "tests/integration/harness.hpp"

using namespace possync::test;
using namespace possync::test::fault;

namespace {

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
