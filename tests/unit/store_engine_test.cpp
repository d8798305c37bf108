// The order engine (storage/engine/batch.hpp): the requests of one batch
// are decided in memory, one after the other, and written together. A
// request must see what an earlier one of its batch did, as if each had
// committed alone. Both backends; the writer is held by a Gate so that
// everything issued meanwhile goes into one batch.
#include "tests/support/store_harness.hpp"

#include <future>
#include <memory>
#include <string>
#include <vector>

using namespace possync;
using namespace possync::storage;
using namespace possync::test;

namespace {

// Issues a request now and hands back its future answer.
template <class T, class Issue>
std::future<Result<T>> issue(Issue&& call) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  call([promise](Result<T> r) { promise->set_value(std::move(r)); });
  return future;
}

std::vector<std::string> history_of(Harness& h, std::int64_t id) {
  auto detail = h.get(id);
  REQUIRE(detail.ok());
  std::vector<std::string> out;
  for (const auto& e : detail.value().history) {
    out.push_back(e.session + ":" + (e.from ? std::string(protocol::to_string(*e.from)) : "-") + ">" +
                  std::string(protocol::to_string(e.to)) + " by " + e.by);
  }
  return out;
}

}  // namespace

TEST_CASE("engine: the requests of one batch see each other's changes", "[store][engine]") {
  Harness h;
  populate(h);
  Store& store = h.store();
  // The next order's id: one after the last (SQLite), the sequence's next
  // (PostgreSQL). Checked below before anything relies on it.
  const std::int64_t next = h.sent("counter-1", "before", {"kitchen-1"}) + 1;

  std::future<Result<SendOutcome>> sent;
  std::future<Result<TransitionOutcome>> acked, delivered, delivered_again, rejected, cancelled;
  std::future<Result<SendOutcome>> repeated;
  {
    auto gate = Gate::writer(store);
    sent = issue<SendOutcome>([&](auto cb) {
      store.send({"counter-1", "batch", {"kitchen-1", "bar-1"}, Mode::copy, kOrderJson, 1}, cb);
    });
    acked = issue<TransitionOutcome>([&](auto cb) { store.ack("kitchen-1", next, cb); });
    delivered = issue<TransitionOutcome>([&](auto cb) { store.deliver("kitchen-1", next, cb); });
    delivered_again = issue<TransitionOutcome>([&](auto cb) { store.deliver("kitchen-1", next, cb); });
    repeated = issue<SendOutcome>([&](auto cb) {
      store.send({"counter-1", "batch", {"kitchen-1", "bar-1"}, Mode::copy, kOrderJson, 1}, cb);
    });
    rejected = issue<TransitionOutcome>([&](auto cb) { store.reject("bar-1", next, std::string("sold out"), cb); });
    cancelled = issue<TransitionOutcome>([&](auto cb) { store.cancel("counter-1", next, cb); });
  }
  auto send = sent.get();
  REQUIRE(send.ok());
  REQUIRE(send.value().order.order_id == next);
  CHECK_FALSE(send.value().duplicate);

  auto ack = acked.get();
  REQUIRE(ack.ok());
  REQUIRE(ack.value().changes.size() == 1);
  CHECK(ack.value().changes[0].status == Status::received);

  auto deliver = delivered.get();
  REQUIRE(deliver.ok());
  CHECK_FALSE(deliver.value().duplicate);
  CHECK(deliver.value().order_json == kOrderJson);
  auto again = delivered_again.get();
  REQUIRE(again.ok());
  CHECK(again.value().duplicate);  // the first deliver of the same batch counts

  auto repeat = repeated.get();
  REQUIRE(repeat.ok());
  CHECK(repeat.value().duplicate);
  CHECK(repeat.value().order.order_id == next);

  auto reject = rejected.get();
  REQUIRE(reject.ok());
  REQUIRE(reject.value().changes.size() == 1);
  CHECK(reject.value().changes[0].reason == "sold out");

  auto cancel = cancelled.get();
  REQUIRE_FALSE(cancel.ok());
  CHECK(cancel.error().code == ErrorCode::conflict);  // every delivery was final by then

  // Stored as if each had committed alone: one row per delivery, with its
  // last status, and every step in the history, in order.
  auto detail = h.get(next);
  REQUIRE(detail.ok());
  CHECK(receivers_of(detail.value().order) == std::vector<std::string>{"kitchen-1=delivered", "bar-1=rejected"});
  CHECK(history_of(h, next) == std::vector<std::string>{"kitchen-1:->sent by counter-1", "bar-1:->sent by counter-1",
                                                        "kitchen-1:sent>received by kitchen-1",
                                                        "kitchen-1:received>delivered by kitchen-1",
                                                        "bar-1:sent>rejected by bar-1"});
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders WHERE ref = 'batch'") == 1);
  CHECK(h.count("SELECT COUNT(*) FROM deliveries WHERE order_id = " + std::to_string(next)) == 2);
}

TEST_CASE("engine: two delivers of a claim order in one batch: the first takes it", "[store][engine]") {
  Harness h;
  populate(h);
  Store& store = h.store();
  const std::int64_t id = h.sent("counter-1", "claim", {"kitchen-1", "bar-1"}, Mode::claim);
  std::future<Result<TransitionOutcome>> first, second;
  {
    auto gate = Gate::writer(store);
    first = issue<TransitionOutcome>([&](auto cb) { store.deliver("bar-1", id, cb); });
    second = issue<TransitionOutcome>([&](auto cb) { store.deliver("kitchen-1", id, cb); });
  }
  auto won = first.get();
  REQUIRE(won.ok());
  REQUIRE(won.value().changes.size() == 2);
  CHECK(won.value().changes[1].session == "kitchen-1");
  CHECK(won.value().changes[1].status == Status::taken);
  auto lost = second.get();
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().code == ErrorCode::conflict);
  CHECK(lost.error().message == "order " + std::to_string(id) + " is taken");

  auto detail = h.get(id);
  REQUIRE(detail.ok());
  CHECK(receivers_of(detail.value().order) == std::vector<std::string>{"kitchen-1=taken", "bar-1=delivered"});
  CHECK(history_of(h, id) == std::vector<std::string>{"kitchen-1:->sent by counter-1", "bar-1:->sent by counter-1",
                                                      "bar-1:sent>delivered by bar-1",
                                                      "kitchen-1:sent>taken by bar-1"});
}

TEST_CASE("engine: sessions written in a batch are what its later requests see", "[store][engine]") {
  Harness h;
  populate(h);
  Store& store = h.store();
  std::future<Result<PutSessionOutcome>> created, granted;
  std::future<Result<SendOutcome>> refused, accepted;
  std::future<Result<Done>> deleted;
  std::future<Result<std::string>> rotated;
  {
    auto gate = Gate::writer(store);
    created = issue<PutSessionOutcome>([&](auto cb) {
      SessionUpdate update;
      update.session = "pass-1";
      update.receiver = false;
      store.put_session(update, cb);
    });
    // Not a receiver yet: refused.
    refused = issue<SendOutcome>(
        [&](auto cb) { store.send({"counter-1", "early", {"pass-1"}, Mode::copy, kOrderJson, 1}, cb); });
    granted = issue<PutSessionOutcome>([&](auto cb) {
      SessionUpdate update;
      update.session = "pass-1";
      update.receiver = true;
      store.put_session(update, cb);
    });
    accepted = issue<SendOutcome>(
        [&](auto cb) { store.send({"counter-1", "late", {"pass-1"}, Mode::copy, kOrderJson, 1}, cb); });
    deleted = issue<Done>([&](auto cb) { store.delete_session("idle-1", cb); });
    rotated = issue<std::string>([&](auto cb) { store.rotate_token("idle-1", cb); });
  }
  auto create = created.get();
  REQUIRE(create.ok());
  CHECK(create.value().created);
  auto early = refused.get();
  REQUIRE_FALSE(early.ok());
  CHECK(early.error().code == ErrorCode::not_found);
  auto grant = granted.get();
  REQUIRE(grant.ok());
  CHECK_FALSE(grant.value().created);
  CHECK(grant.value().session.receiver);
  auto late = accepted.get();
  REQUIRE(late.ok());
  auto del = deleted.get();
  CHECK(del.ok());
  auto rotate = rotated.get();
  REQUIRE_FALSE(rotate.ok());
  CHECK(rotate.error().code == ErrorCode::not_found);  // deleted earlier in the batch

  CHECK(h.count("SELECT COUNT(*) FROM sessions WHERE id = 'pass-1'") == 1);
  CHECK(h.count("SELECT COUNT(*) FROM sessions WHERE id = 'idle-1'") == 0);
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders WHERE ref = 'early'") == 0);
  CHECK(h.count("SELECT COUNT(*) FROM deliveries WHERE receiver = 'pass-1'") == 1);
}
