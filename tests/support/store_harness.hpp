// What the store tests share (tests/unit/store*_test.cpp): a Harness that
// opens a Store on a fresh TestStore location of the backend the environment
// names (test_store.hpp), waits on callbacks, and reads the database through
// a separate connection; a Gate that holds a store thread; a few fixtures.
// Concurrency is forced with gates, never with sleeps.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/store.hpp"
#include "tests/support/test_store.hpp"

namespace possync::test {

using namespace possync::storage;

// A JSON `order` with the things "verbatim" must keep: a 2^64+ integer, a
// decimal beyond double precision, an escaped NUL and non-ASCII text.
inline const std::string kOrderJson =
    R"({"name":"Order 1","lines":[{"product_id":18446744073709551617,"name":"Água \u0000 com gás",)"
    R"("qty":2,"price_unit":9.500000000000000000001}],"table":"T4"})";

inline bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// "2026-11-27T04:16:43.123Z": digits where the template has 'd'.
inline bool is_rfc3339_ms(const std::string& s) {
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (s.size() != shape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool ok = shape[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == shape[i];
    if (!ok) return false;
  }
  return true;
}

// Issues one request and waits for its callback.
template <class T, class Issue>
Result<T> await(Issue&& issue) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  issue([promise](Result<T> result) { promise->set_value(std::move(result)); });
  return future.get();
}

// Polls `condition` every 10 ms until it holds or `timeout` passes (for
// state only observable by asking). Never used to measure time.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Sends from counter-1 without waiting; the futures answer in issue order.
struct Sends {
  explicit Sends(Store& s) : store(s) {}
  void issue(std::string ref, std::vector<std::string> to) {
    auto promise = std::make_shared<std::promise<Result<SendOutcome>>>();
    futures.push_back(promise->get_future());
    store.send({"counter-1", std::move(ref), std::move(to), Mode::copy, "{}", 0},
               [promise](Result<SendOutcome> r) { promise->set_value(std::move(r)); });
  }
  Store& store;
  std::vector<std::future<Result<SendOutcome>>> futures;
};

// Holds a store thread inside one callback until open() is called, so that
// everything issued meanwhile queues up behind it. The writer gate uses a
// write (a put_session of a throw-away session), the reader gate a read.
class Gate {
 public:
  static std::unique_ptr<Gate> writer(Store& store) {
    static std::atomic<int> counter{0};
    auto gate = std::make_unique<Gate>();
    SessionUpdate update;
    update.session = "gate-" + std::to_string(counter++);
    store.put_session(std::move(update), [state = gate->state_](Result<PutSessionOutcome>) { state->hold(); });
    gate->state_->entered.wait();
    return gate;
  }
  static std::unique_ptr<Gate> reader(Store& store) {
    auto gate = std::make_unique<Gate>();
    store.list_sessions(std::nullopt,
                        [state = gate->state_](Result<std::vector<SessionEntry>>) { state->hold(); });
    gate->state_->entered.wait();
    return gate;
  }
  Gate() = default;
  ~Gate() { open(); }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  void open() {
    if (!opened_) state_->released.count_down();
    opened_ = true;
  }

 private:
  struct State {
    std::latch entered{1};
    std::latch released{1};
    void hold() {
      entered.count_down();
      released.wait();
    }
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
  bool opened_ = false;
};

class Harness {
 public:
  // A store on a fresh location of the environment's backend, or on
  // `location` (a second store instance on the same database: another node).
  explicit Harness(StoreOptions options = {}, TestStorePtr location = nullptr)
      : location_(location ? std::move(location) : std::make_shared<TestStore>()), options_(options) {
    reopen();
  }
  ~Harness() {
    if (store_) store_->close();
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  Store& store() { return *store_; }
  const TestStorePtr& location() const { return location_; }
  const std::string& url() const { return location_->url(); }
  bool postgres() const { return location_->postgres(); }

  void reopen() {
    store_.reset();
    std::string error;
    store_ = open_store(url(), options_, error);
    INFO(error);
    REQUIRE(store_ != nullptr);
  }
  void close() { store_->close(); }

  Result<PutSessionOutcome> put(SessionUpdate update) {
    return await<PutSessionOutcome>([&](auto cb) { store_->put_session(std::move(update), cb); });
  }
  // Creates a session with a display name "Name of ID"; returns its token.
  std::string create(const std::string& id, bool sender, bool receiver, const std::string& shop = "main") {
    SessionUpdate update;
    update.session = id;
    update.name = "Name of " + id;
    update.shop = shop;
    update.sender = sender;
    update.receiver = receiver;
    auto result = put(update);
    INFO((result.ok() ? "" : result.error().message));
    REQUIRE(result.ok());
    REQUIRE(result.value().created);
    REQUIRE(result.value().token.has_value());
    return *result.value().token;
  }

  Result<SendOutcome> send(const std::string& sender, const std::string& ref, std::vector<std::string> to,
                           Mode mode = Mode::copy, const std::string& json = kOrderJson) {
    SendRequest request{sender, ref, std::move(to), mode, json, 1};
    return await<SendOutcome>([&](auto cb) { store_->send(std::move(request), cb); });
  }
  std::int64_t sent(const std::string& sender, const std::string& ref, std::vector<std::string> to,
                    Mode mode = Mode::copy) {
    auto result = send(sender, ref, std::move(to), mode);
    INFO((result.ok() ? "" : result.error().message));
    REQUIRE(result.ok());
    return result.value().order.order_id;
  }
  Result<TransitionOutcome> ack(const std::string& receiver, std::int64_t id) {
    return await<TransitionOutcome>([&](auto cb) { store_->ack(receiver, id, cb); });
  }
  Result<TransitionOutcome> deliver(const std::string& receiver, std::int64_t id) {
    return await<TransitionOutcome>([&](auto cb) { store_->deliver(receiver, id, cb); });
  }
  Result<TransitionOutcome> reject(const std::string& receiver, std::int64_t id,
                                   std::optional<std::string> reason) {
    return await<TransitionOutcome>([&](auto cb) { store_->reject(receiver, id, reason, cb); });
  }
  Result<TransitionOutcome> cancel(const std::string& sender, std::int64_t id) {
    return await<TransitionOutcome>([&](auto cb) { store_->cancel(sender, id, cb); });
  }
  Result<SessionEntry> authenticate(const std::string& session, const std::string& token) {
    return await<SessionEntry>([&](auto cb) { store_->authenticate(session, token, cb); });
  }
  Result<OrderDetail> get(std::int64_t id) {
    return await<OrderDetail>([&](auto cb) { store_->get_order(id, cb); });
  }
  Result<std::vector<OrderRecord>> pending(const std::string& receiver, std::int64_t after_id = 0,
                                           int limit = 1000000) {
    return await<std::vector<OrderRecord>>([&](auto cb) { store_->pending(receiver, after_id, limit, cb); });
  }
  Result<std::vector<OrderRecord>> list(ListQuery query) {
    return await<std::vector<OrderRecord>>([&](auto cb) { store_->list(std::move(query), cb); });
  }
  Result<OrderPage> orders(OrderFilter filter) {
    return await<OrderPage>([&](auto cb) { store_->list_orders(std::move(filter), cb); });
  }

  // A number from the database itself, through a separate connection.
  std::int64_t count(const std::string& sql) const { return location_->scalar(sql); }
  std::int64_t rows() const {
    return count("SELECT (SELECT COUNT(*) FROM sync_orders) + (SELECT COUNT(*) FROM deliveries)"
                 " + (SELECT COUNT(*) FROM history)");
  }

 private:
  TestStorePtr location_;  // declared first: outlives the store
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

inline std::vector<std::int64_t> ids_of(const std::vector<OrderRecord>& orders) {
  std::vector<std::int64_t> ids;
  for (const auto& order : orders) ids.push_back(order.order_id);
  return ids;
}

inline std::vector<std::string> receivers_of(const OrderRecord& order) {
  std::vector<std::string> names;
  for (const auto& r : order.receivers) names.push_back(r.session + "=" + std::string(protocol::to_string(r.status)));
  return names;
}

// A shop with a sender, two receivers, a session that is both, one without
// roles, and a receiver in another shop.
inline void populate(Harness& h) {
  h.create("counter-1", true, false);
  h.create("kitchen-1", false, true);
  h.create("bar-1", true, true);
  h.create("idle-1", false, false);
  h.create("kitchen-9", false, true, "other-shop");
}

}  // namespace possync::test
