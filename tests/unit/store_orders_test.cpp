// The Store, part 2: send and the delivery transitions (ack, deliver,
// reject, cancel, claim) with their history. Both backends.
#include "tests/support/store_harness.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/fault_store.hpp"
#include "storage/tokens.hpp"

using namespace possync;
using namespace possync::storage;
using namespace possync::test;
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// send

TEST_CASE("store: send stores the order verbatim with one sent delivery and one creation entry per receiver",
          "[store]") {
  Harness h;
  populate(h);
  auto result = h.send("counter-1", "Order 00012-003-0004", {"kitchen-1", "bar-1"}, Mode::claim);
  REQUIRE(result.ok());
  const SendOutcome& outcome = result.value();
  CHECK_FALSE(outcome.duplicate);
  const OrderRecord& order = outcome.order;
  CHECK(order.order_id > 0);
  CHECK(order.ref == "Order 00012-003-0004");
  CHECK(order.shop == "main");
  CHECK(order.from == "counter-1");
  CHECK(order.from_name == "Name of counter-1");
  CHECK(order.mode == Mode::claim);
  CHECK(is_rfc3339_ms(order.created_at));
  CHECK(order.updated_at == order.created_at);
  CHECK(order.order_json == kOrderJson);
  CHECK(order.line_count == 1);
  CHECK(receivers_of(order) == std::vector<std::string>{"kitchen-1=sent", "bar-1=sent"});
  CHECK(order.receivers[0].updated_at == order.created_at);

  CHECK(h.count("SELECT COUNT(*) FROM sync_orders") == 1);
  CHECK(h.count("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'") == 2);
  CHECK(h.count("SELECT COUNT(*) FROM history WHERE from_status IS NULL AND to_status = 'sent'"
                " AND by_session = 'counter-1'") == 2);

  auto detail = h.get(order.order_id);
  REQUIRE(detail.ok());
  CHECK(detail.value().order.order_json == kOrderJson);
  CHECK(detail.value().order.from_name == "Name of counter-1");
  REQUIRE(detail.value().history.size() == 2);
  for (const auto& entry : detail.value().history) {
    CHECK_FALSE(entry.from.has_value());
    CHECK(entry.to == Status::sent);
    CHECK(entry.by == "counter-1");
    CHECK(entry.at == order.created_at);
  }
  CHECK(detail.value().history[0].session == "kitchen-1");
  CHECK(detail.value().history[1].session == "bar-1");
}

TEST_CASE("store: send with the same (sender, ref) returns the original and writes nothing", "[store]") {
  Harness h;
  populate(h);
  auto first = h.send("counter-1", "ref-1", {"kitchen-1"});
  REQUIRE(first.ok());
  const auto rows = h.rows();

  auto again = h.send("counter-1", "ref-1", {"bar-1", "kitchen-1"}, Mode::claim, R"({"other":true})");
  REQUIRE(again.ok());
  CHECK(again.value().duplicate);
  CHECK(again.value().order.order_id == first.value().order.order_id);
  CHECK(again.value().order.order_json == kOrderJson);
  CHECK(again.value().order.mode == Mode::copy);
  CHECK(again.value().order.created_at == first.value().order.created_at);
  CHECK(receivers_of(again.value().order) == std::vector<std::string>{"kitchen-1=sent"});
  CHECK(h.rows() == rows);

  // The same ref from another sender is another order.
  auto other_sender = h.send("bar-1", "ref-1", {"kitchen-1"});
  REQUIRE(other_sender.ok());
  CHECK_FALSE(other_sender.value().duplicate);
  CHECK(other_sender.value().order.order_id != first.value().order.order_id);

  // A duplicate reports the deliveries' current status.
  REQUIRE(h.ack("kitchen-1", first.value().order.order_id).ok());
  auto later = h.send("counter-1", "ref-1", {"kitchen-1"});
  REQUIRE(later.ok());
  CHECK(receivers_of(later.value().order) == std::vector<std::string>{"kitchen-1=received"});
}

TEST_CASE("store: order ids strictly increase", "[store]") {
  Harness h;
  populate(h);
  std::int64_t previous = 0;
  for (int i = 0; i < 25; ++i) {
    const auto id = h.sent("counter-1", "ref-" + std::to_string(i), {"kitchen-1"});
    CHECK(id > previous);
    previous = id;
  }
  // A refused send in between consumes nothing visible and breaks no order.
  CHECK_FALSE(h.send("counter-1", "refused", {"ghost"}).ok());
  CHECK(h.sent("counter-1", "after", {"kitchen-1"}) > previous);
}

TEST_CASE("store: send refuses senders without the role and bad receivers, and writes nothing", "[store]") {
  Harness h;
  populate(h);
  struct Case {
    std::string sender;
    std::vector<std::string> to;
    ErrorCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"kitchen-1", {"bar-1"}, ErrorCode::forbidden, "session kitchen-1 lacks the sender role"},
      {"ghost", {"bar-1"}, ErrorCode::forbidden, "session ghost lacks the sender role"},
      {"counter-1", {"kitchen-1", "ghost"}, ErrorCode::not_found, "to[1]: unknown receiver session ghost"},
      {"counter-1", {"idle-1"}, ErrorCode::not_found, "to[0]: unknown receiver session idle-1"},
      {"counter-1", {"kitchen-9"}, ErrorCode::not_found, "to[0]: unknown receiver session kitchen-9"},
      {"counter-1", {"counter-1"}, ErrorCode::bad_request, "to[0]: cannot send to yourself"},
      {"bar-1", {"kitchen-1", "bar-1"}, ErrorCode::bad_request, "to[1]: cannot send to yourself"},
      {"bar-1", {"kitchen-1", "kitchen-1"}, ErrorCode::bad_request, "to[1]: duplicate receiver kitchen-1"},
  };
  for (const auto& c : cases) {
    auto result = h.send(c.sender, "ref-x", c.to);
    CAPTURE(c.message);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == c.code);
    CHECK(result.error().message == c.message);
  }
  CHECK(h.rows() == 0);
  // And the ref is still free: a refused send reserved nothing.
  auto ok = h.send("counter-1", "ref-x", {"kitchen-1"});
  REQUIRE(ok.ok());
  CHECK_FALSE(ok.value().duplicate);
}

TEST_CASE("store: send uses the sender's current shop", "[store]") {
  Harness h;
  populate(h);
  SessionUpdate move;
  move.session = "counter-1";
  move.shop = "other-shop";
  REQUIRE(h.put(move).ok());
  auto refused = h.send("counter-1", "r", {"kitchen-1"});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::not_found);
  auto accepted = h.send("counter-1", "r", {"kitchen-9"});
  REQUIRE(accepted.ok());
  CHECK(accepted.value().order.shop == "other-shop");
}

// ---------------------------------------------------------------------------
// ack / deliver / reject / cancel

TEST_CASE("store: ack moves sent to received once, later acks are no-ops", "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "r", {"kitchen-1", "bar-1"});
  auto first = h.ack("kitchen-1", id);
  REQUIRE(first.ok());
  CHECK(first.value().order_id == id);
  REQUIRE(first.value().changes.size() == 1);
  const StatusChange& change = first.value().changes[0];
  CHECK(change.order_id == id);
  CHECK(change.shop == "main");
  CHECK(change.sender == "counter-1");
  CHECK(change.session == "kitchen-1");
  CHECK(change.status == Status::received);
  CHECK(change.by == "kitchen-1");
  CHECK_FALSE(change.reason.has_value());
  CHECK(is_rfc3339_ms(change.at));

  const auto rows = h.rows();
  auto again = h.ack("kitchen-1", id);
  REQUIRE(again.ok());
  CHECK(again.value().changes.empty());
  REQUIRE(h.deliver("kitchen-1", id).ok());
  auto after_final = h.ack("kitchen-1", id);
  REQUIRE(after_final.ok());
  CHECK(after_final.value().changes.empty());
  CHECK(h.rows() == rows + 1);  // only the deliver's history row

  auto detail = h.get(id);
  REQUIRE(detail.ok());
  CHECK(receivers_of(detail.value().order) == std::vector<std::string>{"kitchen-1=delivered", "bar-1=sent"});
  CHECK(detail.value().order.updated_at == detail.value().order.receivers[0].updated_at);
}

TEST_CASE("store: ack, deliver and reject need the receiver role and a delivery to the caller", "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "r", {"kitchen-1"});
  h.create("kitchen-2", false, true);
  const auto rows = h.rows();

  using Call = std::function<Result<TransitionOutcome>(const std::string&, std::int64_t)>;
  const std::vector<std::pair<std::string, Call>> calls = {
      {"ack", [&](const std::string& s, std::int64_t o) { return h.ack(s, o); }},
      {"deliver", [&](const std::string& s, std::int64_t o) { return h.deliver(s, o); }},
      {"reject", [&](const std::string& s, std::int64_t o) { return h.reject(s, o, "no"); }},
  };
  for (const auto& [name, call] : calls) {
    CAPTURE(name);
    auto no_role = call("counter-1", id);
    REQUIRE_FALSE(no_role.ok());
    CHECK(no_role.error().code == ErrorCode::forbidden);
    CHECK(no_role.error().message == "session counter-1 lacks the receiver role");

    auto not_addressed = call("kitchen-2", id);
    REQUIRE_FALSE(not_addressed.ok());
    CHECK(not_addressed.error().code == ErrorCode::not_found);
    CHECK(not_addressed.error().message == "order " + std::to_string(id) + " not found");

    auto unknown = call("kitchen-1", id + 1000);
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().code == ErrorCode::not_found);
    CHECK(unknown.error().message == "order " + std::to_string(id + 1000) + " not found");
  }
  CHECK(h.rows() == rows);
}

TEST_CASE("store: deliver in copy mode delivers one copy, a repeat is a duplicate", "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "r", {"kitchen-1", "bar-1"});
  REQUIRE(h.ack("kitchen-1", id).ok());

  auto delivered = h.deliver("kitchen-1", id);
  REQUIRE(delivered.ok());
  CHECK_FALSE(delivered.value().duplicate);
  CHECK(delivered.value().order_json == kOrderJson);
  REQUIRE(delivered.value().changes.size() == 1);
  CHECK(delivered.value().changes[0].status == Status::delivered);
  CHECK(delivered.value().changes[0].session == "kitchen-1");

  const auto rows = h.rows();
  auto repeat = h.deliver("kitchen-1", id);
  REQUIRE(repeat.ok());
  CHECK(repeat.value().duplicate);
  CHECK(repeat.value().order_json == kOrderJson);
  CHECK(repeat.value().changes.empty());
  CHECK(h.rows() == rows);

  auto other_copy = h.deliver("bar-1", id);  // copy mode: the other receiver may deliver too
  REQUIRE(other_copy.ok());
  CHECK_FALSE(other_copy.value().duplicate);

  auto detail = h.get(id);
  REQUIRE(detail.ok());
  CHECK(receivers_of(detail.value().order) == std::vector<std::string>{"kitchen-1=delivered", "bar-1=delivered"});
  const auto& history = detail.value().history;
  REQUIRE(history.size() == 5);
  CHECK(history[2].from == Status::sent);
  CHECK(history[2].to == Status::received);
  CHECK(history[3].from == Status::received);
  CHECK(history[3].to == Status::delivered);
  CHECK(history[4].session == "bar-1");
  CHECK(history[4].from == Status::sent);
}

TEST_CASE("store: reject keeps the first reason, final deliveries refuse with a conflict naming the status",
          "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "r", {"kitchen-1", "bar-1"});
  auto rejected = h.reject("kitchen-1", id, "out of stock");
  REQUIRE(rejected.ok());
  CHECK_FALSE(rejected.value().duplicate);
  REQUIRE(rejected.value().changes.size() == 1);
  CHECK(rejected.value().changes[0].status == Status::rejected);
  CHECK(rejected.value().changes[0].reason == std::optional<std::string>("out of stock"));

  auto repeat = h.reject("kitchen-1", id, "changed my mind");
  REQUIRE(repeat.ok());
  CHECK(repeat.value().duplicate);
  CHECK(repeat.value().changes.empty());

  auto deliver_rejected = h.deliver("kitchen-1", id);
  REQUIRE_FALSE(deliver_rejected.ok());
  CHECK(deliver_rejected.error().code == ErrorCode::conflict);
  CHECK(deliver_rejected.error().message == "order " + std::to_string(id) + " is rejected");

  REQUIRE(h.deliver("bar-1", id).ok());
  auto reject_delivered = h.reject("bar-1", id, std::nullopt);
  REQUIRE_FALSE(reject_delivered.ok());
  CHECK(reject_delivered.error().code == ErrorCode::conflict);
  CHECK(reject_delivered.error().message == "order " + std::to_string(id) + " is delivered");

  auto detail = h.get(id);
  REQUIRE(detail.ok());
  std::vector<std::optional<std::string>> reasons;
  for (const auto& entry : detail.value().history) {
    if (entry.to == Status::rejected) reasons.push_back(entry.reason);
  }
  CHECK(reasons == std::vector<std::optional<std::string>>{std::string("out of stock")});
}

TEST_CASE("store: deliver in claim mode takes every other open delivery", "[store]") {
  Harness h;
  populate(h);
  h.create("kitchen-2", false, true);
  const auto id = h.sent("counter-1", "r", {"kitchen-1", "bar-1", "kitchen-2"}, Mode::claim);
  REQUIRE(h.reject("kitchen-2", id, "busy").ok());

  auto won = h.deliver("bar-1", id);
  REQUIRE(won.ok());
  CHECK(won.value().order_json == kOrderJson);
  REQUIRE(won.value().changes.size() == 2);
  CHECK(won.value().changes[0].session == "bar-1");
  CHECK(won.value().changes[0].status == Status::delivered);
  CHECK(won.value().changes[1].session == "kitchen-1");
  CHECK(won.value().changes[1].status == Status::taken);
  CHECK(won.value().changes[1].by == "bar-1");
  CHECK(won.value().changes[1].sender == "counter-1");

  for (auto result : {h.deliver("kitchen-1", id), h.reject("kitchen-1", id, std::nullopt)}) {
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::conflict);
    CHECK(result.error().message == "order " + std::to_string(id) + " is taken");
  }
  auto detail = h.get(id);
  REQUIRE(detail.ok());
  CHECK(receivers_of(detail.value().order) ==
        std::vector<std::string>{"kitchen-1=taken", "bar-1=delivered", "kitchen-2=rejected"});
}

TEST_CASE("store: a claim is won by exactly one of two concurrent delivers", "[store][concurrency]") {
  Harness h;
  populate(h);
  h.create("kitchen-2", false, true);
  const std::vector<std::string> receivers = {"kitchen-1", "kitchen-2"};

  auto check_claim = [&](std::int64_t id, const std::vector<Result<TransitionOutcome>>& results) {
    int won = 0;
    int lost = 0;
    std::string winner;
    std::string loser;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i].ok()) {
        ++won;
        winner = receivers[i];
      } else {
        ++lost;
        loser = receivers[i];
        CHECK(results[i].error().code == ErrorCode::conflict);
        CHECK(results[i].error().message == "order " + std::to_string(id) + " is taken");
      }
    }
    REQUIRE(won == 1);
    REQUIRE(lost == 1);
    auto detail = h.get(id);
    REQUIRE(detail.ok());
    for (const auto& r : detail.value().order.receivers) {
      CHECK(r.status == (r.session == winner ? Status::delivered : Status::taken));
    }
    const auto& history = detail.value().history;
    REQUIRE(history.size() == 4);
    CHECK(history[2].session == winner);
    CHECK(history[2].to == Status::delivered);
    CHECK(history[3].session == loser);
    CHECK(history[3].to == Status::taken);
    CHECK(history[3].by == winner);
  };

  SECTION("issued from two threads at once") {
    for (int round = 0; round < 10; ++round) {
      const auto id = h.sent("counter-1", "claim-" + std::to_string(round), receivers, Mode::claim);
      std::vector<std::optional<Result<TransitionOutcome>>> slots(2);
      std::latch start(2);
      std::vector<std::thread> threads;
      for (std::size_t i = 0; i < 2; ++i) {
        threads.emplace_back([&, i] {
          start.arrive_and_wait();
          slots[i].emplace(h.deliver(receivers[i], id));
        });
      }
      for (auto& t : threads) t.join();
      check_claim(id, {std::move(*slots[0]), std::move(*slots[1])});
    }
  }

  SECTION("queued into the same batch") {
    const auto id = h.sent("counter-1", "claim-batch", receivers, Mode::claim);
    const auto batches_before = h.store().stats().batches_committed;
    std::vector<std::future<Result<TransitionOutcome>>> futures;
    {
      auto gate = Gate::writer(h.store());
      for (const auto& r : receivers) {
        auto promise = std::make_shared<std::promise<Result<TransitionOutcome>>>();
        futures.push_back(promise->get_future());
        h.store().deliver(r, id, [promise](Result<TransitionOutcome> res) { promise->set_value(std::move(res)); });
      }
    }
    std::vector<Result<TransitionOutcome>> results;
    for (auto& f : futures) results.push_back(f.get());
    CHECK(results[0].ok());  // queue order decides within a batch
    CHECK(h.store().stats().batches_committed == batches_before + 2);  // the gate's, then both delivers
    check_claim(id, results);
  }
}

TEST_CASE("store: cancel by the sender cancels every open delivery", "[store]") {
  Harness h;
  populate(h);
  h.create("kitchen-2", false, true);
  const auto id = h.sent("counter-1", "r", {"kitchen-1", "bar-1", "kitchen-2"});
  REQUIRE(h.deliver("bar-1", id).ok());
  REQUIRE(h.ack("kitchen-2", id).ok());

  auto by_receiver = h.cancel("kitchen-1", id);
  REQUIRE_FALSE(by_receiver.ok());
  CHECK(by_receiver.error().code == ErrorCode::forbidden);
  auto by_stranger = h.cancel("idle-1", id);
  REQUIRE_FALSE(by_stranger.ok());
  CHECK(by_stranger.error().code == ErrorCode::not_found);
  CHECK(by_stranger.error().message == "order " + std::to_string(id) + " not found");
  auto unknown = h.cancel("counter-1", id + 1000);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == ErrorCode::not_found);

  auto cancelled = h.cancel("counter-1", id);
  REQUIRE(cancelled.ok());
  CHECK(cancelled.value().order_id == id);
  REQUIRE(cancelled.value().changes.size() == 2);
  CHECK(cancelled.value().changes[0].session == "kitchen-1");
  CHECK(cancelled.value().changes[1].session == "kitchen-2");
  for (const auto& change : cancelled.value().changes) {
    CHECK(change.status == Status::cancelled);
    CHECK(change.by == "counter-1");
    CHECK(change.sender == "counter-1");
  }
  std::vector<std::string> after;
  for (const auto& r : cancelled.value().receivers) {
    after.push_back(r.session + "=" + std::string(protocol::to_string(r.status)));
  }
  CHECK(after == std::vector<std::string>{"kitchen-1=cancelled", "bar-1=delivered", "kitchen-2=cancelled"});

  const auto rows = h.rows();
  auto again = h.cancel("counter-1", id);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == ErrorCode::conflict);
  CHECK(again.error().message == "every delivery of order " + std::to_string(id) + " is final");
  CHECK(h.rows() == rows);

  auto too_late = h.deliver("kitchen-1", id);
  REQUIRE_FALSE(too_late.ok());
  CHECK(too_late.error().message == "order " + std::to_string(id) + " is cancelled");
}

TEST_CASE("store: history records every change in order, creation first", "[store]") {
  Harness h;
  populate(h);
  const auto id = h.sent("counter-1", "r", {"kitchen-1", "bar-1"});
  REQUIRE(h.ack("bar-1", id).ok());
  REQUIRE(h.reject("bar-1", id, "no table").ok());
  REQUIRE(h.cancel("counter-1", id).ok());

  auto detail = h.get(id);
  REQUIRE(detail.ok());
  const auto& history = detail.value().history;
  REQUIRE(history.size() == 5);
  struct Expect {
    std::string session;
    std::optional<Status> from;
    Status to;
    std::string by;
    std::optional<std::string> reason;
  };
  const std::vector<Expect> expected = {
      {"kitchen-1", std::nullopt, Status::sent, "counter-1", std::nullopt},
      {"bar-1", std::nullopt, Status::sent, "counter-1", std::nullopt},
      {"bar-1", Status::sent, Status::received, "bar-1", std::nullopt},
      {"bar-1", Status::received, Status::rejected, "bar-1", std::string("no table")},
      {"kitchen-1", Status::sent, Status::cancelled, "counter-1", std::nullopt},
  };
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(history[i].session == expected[i].session);
    CHECK(history[i].from == expected[i].from);
    CHECK(history[i].to == expected[i].to);
    CHECK(history[i].by == expected[i].by);
    CHECK(history[i].reason == expected[i].reason);
    CHECK(is_rfc3339_ms(history[i].at));
    if (i > 0) CHECK(history[i].at >= history[i - 1].at);
  }
  CHECK(detail.value().order.updated_at == history.back().at);

  auto missing = h.get(id + 1);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::not_found);
}
