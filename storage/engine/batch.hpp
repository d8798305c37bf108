// The order engine's writer, written once for both backends: a group-commit
// batch of write requests becomes one transaction of a handful of set-based
// operations, whatever the batch's size.
//
//   1. load: the rows every request of the batch names (sessions, (sender,
//      ref) pairs, orders — locked where writers share the database), in one
//      call to the backend.
//   2. decide: each request's rule (rules.hpp) runs, in queue order, on
//      BatchRows, an in-memory view of those rows with the batch's own
//      changes on top. Nothing reaches the database yet, so a refused
//      request leaves nothing behind without a savepoint, and a later
//      request sees what an earlier one of the same batch did.
//   3. write: everything the batch decided, in one call (Changes: new
//      orders, delivery moves, history rows, session writes).
//   4. commit, then the callbacks in queue order.
//
// The retry policy is here too (run_batch): another writer got there first
// or a deadlock: the batch runs again; the connection broke before COMMIT:
// once more on a fresh one; during COMMIT: the outcome is unknown and said
// so; a request whose rows the database refuses (a trigger, a constraint):
// the batch runs again without it, or request by request when the write
// cannot tell which one it was. Writer thread only.
#pragma once

#include <atomic>
#include <cstdio>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "storage/engine/jobs.hpp"
#include "storage/engine/rules.hpp"
#include "storage/store.hpp"

namespace possync::storage::engine {

// A sender's ref: what makes a send idempotent.
struct RefKey {
  std::string sender;
  std::string ref;
  bool operator==(const RefKey&) const = default;
};
struct RefKeyHash {
  std::size_t operator()(const RefKey& key) const noexcept {
    return std::hash<std::string>{}(key.sender) * 31 ^ std::hash<std::string>{}(key.ref);
  }
};

// The rows a batch's requests name, asked of the backend at once.
struct Wants {
  std::vector<std::string> sessions;
  std::vector<RefKey> refs;
  std::vector<std::int64_t> orders;
  std::size_t sends = 0;  // order ids to reserve
};

// What the backend found of them; what it did not find does not exist.
// Orders come with every receiver, in `to` order.
struct Found {
  std::vector<SessionEntry> sessions;
  std::vector<std::pair<RefKey, std::int64_t>> refs;
  std::vector<OrderRecord> orders;
};

// ---- what a batch decided ----------------------------------------------------

// A history row, in the order the batch made the changes.
struct HistoryRow {
  std::int64_t order_id = 0;
  std::string receiver;
  std::optional<Status> from;  // nullopt: the creation entry
  Status to = Status::sent;
  std::string by;
  std::optional<std::string> reason;
  std::string at;
};

// A stored delivery's change: from the status it has in the database to the
// last one the batch gave it (one row update, however many steps).
struct DeliveryMove {
  std::int64_t order_id = 0;
  std::string receiver;
  Status from = Status::sent;
  Status to = Status::sent;
  std::string at;
};

struct SessionWrite {
  enum class Kind { insert, update, token, remove };
  Kind kind = Kind::update;
  SessionEntry entry;      // insert, update; only entry.session otherwise
  std::string token_hash;  // insert, token
  std::string at;
};

// Applied in this order: sessions (in decision order), orders with their
// deliveries (status and updated_at as the batch left them), moves of
// stored deliveries, history rows, then stored orders' updated_at.
struct Changes {
  std::vector<SessionWrite> sessions;
  std::vector<OrderRecord> orders;  // with order_id, receivers and updated_at set
  std::vector<DeliveryMove> moves;
  std::vector<HistoryRow> history;
  std::vector<std::pair<std::int64_t, std::string>> touched;  // stored order, newest change
  bool empty() const { return sessions.empty() && orders.empty() && moves.empty() && history.empty(); }
};

// ---- a backend ---------------------------------------------------------------

// How a failure concerns the batch.
enum class Failure {
  request,     // these rows: a constraint, a trigger; other requests may pass
  batch,       // the store cannot write now (locked, disk full, I/O): the batch is unavailable
  retry,       // another writer got in the way (serialization failure, deadlock, Overtaken)
  connection,  // the connection to the database broke
};

// Thrown by a backend's write() when the database holds what load() said
// it did not (another node inserted the same ref or session, or removed
// one): the batch runs again and its load sees it.
struct Overtaken : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class WriteBackend {
 public:
  virtual ~WriteBackend() = default;

  // The backend's own refusals, checked by the rules before anything else.
  virtual std::optional<Error> refuse_send(const SendRequest&) { return std::nullopt; }
  virtual std::optional<Error> refuse_reason(const std::optional<std::string>&) { return std::nullopt; }
  virtual std::optional<Error> refuse_session_update(const SessionUpdate&) { return std::nullopt; }

  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;

  virtual void load(const Wants& wants, Found& found) = 0;
  // `count` order ids no order has, for this transaction's new orders.
  virtual std::vector<std::int64_t> new_order_ids(std::size_t count) = 0;
  virtual void write(const Changes& changes) = 0;

  // Call only inside a catch block: what the exception being handled means
  // for the batch (Overtaken is classified by the engine).
  virtual Failure classify_current() const noexcept = 0;
  // The connection broke: drop it (and say why, for stats and /readyz).
  virtual void connection_lost(const std::string& reason) { (void)reason; }
  // A fresh connection; false when there is none (or the backend has none).
  virtual bool reconnect() { return false; }
};

// ---- the requests ------------------------------------------------------------

class WriteJob {
 public:
  virtual ~WriteJob() = default;
  // Names the rows the request will read.
  virtual void want(Wants& wants) const = 0;
  // Runs the rule; its result is kept for complete().
  virtual void decide(RowOps& rows) = 0;
  // The request failed on its own (its rows were refused); complete()
  // answers `error` and the batch goes on without it.
  void settle(Error error) {
    settled_ = true;
    set_error(std::move(error));
  }
  bool settled() const { return settled_; }
  virtual void complete() noexcept = 0;
  virtual void fail(Error error) noexcept = 0;

 protected:
  virtual void set_error(Error error) = 0;

 private:
  bool settled_ = false;
};
using WriteJobPtr = std::unique_ptr<WriteJob>;

// A queued request: Request is a value with
//   using Value = T;  void want(Wants&) const;  Result<T> decide(RowOps&);
template <class Request>
class RuleJob final : public WriteJob {
 public:
  using T = typename Request::Value;
  RuleJob(Request request, Callback<T> cb) : request_(std::move(request)), cb_(std::move(cb)) {}

  void want(Wants& wants) const override { request_.want(wants); }
  void decide(RowOps& rows) override { result_.emplace(request_.decide(rows)); }
  void complete() noexcept override {
    if (result_) {
      answer(cb_, std::move(*result_));
    } else {
      answer<T>(cb_, Error{ErrorCode::internal, "store error: request completed without running"});
    }
  }
  void fail(Error error) noexcept override { answer<T>(cb_, std::move(error)); }

 protected:
  void set_error(Error error) override { result_.emplace(std::move(error)); }

 private:
  Request request_;
  Callback<T> cb_;
  std::optional<Result<T>> result_;
};

// ---- the in-memory rows of one batch ----------------------------------------

// The rows the rules read and write during decide: what load() found, a
// backend read for anything the batch did not name in advance, and every
// change so far, recorded for write().
class BatchRows final : public RowOps {
 public:
  BatchRows(WriteBackend& backend, const Wants& wants, Found found);

  std::optional<Error> refuse_send(const SendRequest& request) override { return backend_.refuse_send(request); }
  std::optional<Error> refuse_reason(const std::optional<std::string>& reason) override {
    return backend_.refuse_reason(reason);
  }
  std::optional<Error> refuse_session_update(const SessionUpdate& update) override {
    return backend_.refuse_session_update(update);
  }

  std::unordered_map<std::string, SessionEntry> sessions(const std::vector<std::string>& ids) override;
  std::optional<SessionEntry> session(const std::string& id) override;
  std::optional<std::int64_t> order_by_ref(const std::string& sender, const std::string& ref) override;
  const OrderRecord* order(std::int64_t order_id) override;
  std::optional<std::int64_t> insert_order(const OrderRecord& order) override;
  void insert_deliveries(std::int64_t order_id, const std::vector<std::string>& to, const std::string& by,
                         const std::string& at) override;
  void move_delivery(std::int64_t order_id, const std::string& receiver, Status from, Status to,
                     const std::string& by, const std::optional<std::string>& reason, const std::string& at) override;
  void touch_order(std::int64_t order_id, const std::string& at) override;
  bool insert_session(const SessionEntry& entry, const std::string& token_hash, const std::string& at) override;
  void update_session(const SessionEntry& entry, const std::string& at) override;
  bool update_token(const std::string& session, const std::string& token_hash, const std::string& at) override;
  bool delete_session(const std::string& session) override;

  // Everything decided, in the shape write() takes, moved out: the rows
  // are spent afterwards.
  Changes take_changes();

 private:
  void remember(const Wants& wants, Found found);
  void fetch(const Wants& missing);
  OrderRecord* cached_order(std::int64_t order_id);
  bool taken_ = false;

  WriteBackend& backend_;
  std::unordered_map<std::string, std::optional<SessionEntry>> sessions_;
  std::unordered_map<RefKey, std::optional<std::int64_t>, RefKeyHash> refs_;
  std::unordered_map<std::int64_t, std::optional<OrderRecord>> orders_;
  std::vector<std::int64_t> free_ids_;  // reserved, not used yet (last one first)

  std::vector<SessionWrite> session_writes_;
  std::vector<std::int64_t> new_orders_;                                // in decision order
  std::unordered_set<std::int64_t> new_ids_;
  std::map<std::pair<std::int64_t, std::string>, DeliveryMove> moves_;  // stored deliveries
  std::vector<HistoryRow> history_;
  std::map<std::int64_t, std::string> touched_;  // stored orders
};

// ---- the writer ----------------------------------------------------------------

// The writer's counters, read by stats() from any thread.
struct WriterStats {
  std::atomic<std::uint64_t> batches_committed{0};
  std::atomic<std::uint64_t> writes_committed{0};
  std::atomic<std::uint64_t> batches_failed{0};
  std::atomic<bool> last_batch_failed{false};
};

struct BatchPolicy {
  int max_attempts = 5;  // runs of a batch that other writers get in the way of
};

// Runs the batch as described at the top, and answers every request of it.
void run_batch(WriteBackend& backend, std::vector<WriteJobPtr>& batch, WriterStats& stats, const BatchPolicy& policy);

}  // namespace possync::storage::engine
