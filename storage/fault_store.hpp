// FaultStore: a forwarding Store for tests (leveldb's fault-injection env in
// spirit). It wraps a real store; while told to fail, it answers write
// requests with the chosen error *without forwarding them*, so nothing of
// them is stored, exactly like a batch whose commit failed. Reads, the
// cluster calls, stats and close are forwarded (stats().writable is false
// while writes fail).
//
// Threading: the switches may be flipped from any thread at any time. An
// injected failure is answered at once on the calling thread, as a full
// queue is (store.hpp allows both).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "storage/store.hpp"

namespace possync::storage {

class FaultStore final : public Store {
 public:
  explicit FaultStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}
  ~FaultStore() override = default;
  FaultStore(const FaultStore&) = delete;
  FaultStore& operator=(const FaultStore&) = delete;

  // Every write fails with `code` (unavailable or internal) until turned off.
  void fail_writes(bool on, ErrorCode code = ErrorCode::unavailable) {
    std::lock_guard lock(mutex_);
    fail_all_ = on;
    code_ = code;
  }
  // The next `count` writes fail with `code`; later ones pass again.
  void fail_next_writes(std::size_t count, ErrorCode code = ErrorCode::unavailable) {
    std::lock_guard lock(mutex_);
    fail_next_ = count;
    code_ = code;
  }
  // How many writes were refused so far.
  std::uint64_t injected_failures() const {
    std::lock_guard lock(mutex_);
    return injected_;
  }
  Store& inner() noexcept { return *inner_; }

  // ---- reads: forwarded ----------------------------------------------------
  void authenticate(std::string session, std::string token, Callback<SessionEntry> cb) override {
    inner_->authenticate(std::move(session), std::move(token), std::move(cb));
  }
  void directory(std::string shop, Callback<std::vector<SessionEntry>> cb) override {
    inner_->directory(std::move(shop), std::move(cb));
  }
  void list_sessions(std::optional<std::string> shop, Callback<std::vector<SessionEntry>> cb) override {
    inner_->list_sessions(std::move(shop), std::move(cb));
  }
  void pending(std::string receiver, std::int64_t after_id, int limit, Callback<std::vector<OrderRecord>> cb) override {
    inner_->pending(std::move(receiver), after_id, limit, std::move(cb));
  }
  void list(ListQuery query, Callback<std::vector<OrderRecord>> cb) override {
    inner_->list(std::move(query), std::move(cb));
  }
  void list_orders(OrderFilter filter, Callback<OrderPage> cb) override {
    inner_->list_orders(std::move(filter), std::move(cb));
  }
  void get_order(std::int64_t order_id, Callback<OrderDetail> cb) override {
    inner_->get_order(order_id, std::move(cb));
  }

  // ---- writes: refused while failing, forwarded otherwise --------------------
  void send(SendRequest request, Callback<SendOutcome> cb) override {
    if (refuse(cb)) return;
    inner_->send(std::move(request), std::move(cb));
  }
  void ack(std::string receiver, std::int64_t order_id, Callback<TransitionOutcome> cb) override {
    if (refuse(cb)) return;
    inner_->ack(std::move(receiver), order_id, std::move(cb));
  }
  void deliver(std::string receiver, std::int64_t order_id, Callback<TransitionOutcome> cb) override {
    if (refuse(cb)) return;
    inner_->deliver(std::move(receiver), order_id, std::move(cb));
  }
  void reject(std::string receiver, std::int64_t order_id, std::optional<std::string> reason,
              Callback<TransitionOutcome> cb) override {
    if (refuse(cb)) return;
    inner_->reject(std::move(receiver), order_id, std::move(reason), std::move(cb));
  }
  void cancel(std::string sender, std::int64_t order_id, Callback<TransitionOutcome> cb) override {
    if (refuse(cb)) return;
    inner_->cancel(std::move(sender), order_id, std::move(cb));
  }
  void put_session(SessionUpdate update, Callback<PutSessionOutcome> cb) override {
    if (refuse(cb)) return;
    inner_->put_session(std::move(update), std::move(cb));
  }
  void rotate_token(std::string session, Callback<std::string> cb) override {
    if (refuse(cb)) return;
    inner_->rotate_token(std::move(session), std::move(cb));
  }
  void delete_session(std::string session, Callback<Done> cb) override {
    if (refuse(cb)) return;
    inner_->delete_session(std::move(session), std::move(cb));
  }

  // ---- cluster: forwarded (faults concern writes only) ------------------------
  void start_cluster(ClusterOptions options, std::function<void(const ClusterEvent&)> handler) override {
    inner_->start_cluster(std::move(options), std::move(handler));
  }
  void set_presence(std::string session, std::string shop, int connections) override {
    inner_->set_presence(std::move(session), std::move(shop), connections);
  }
  void revoke_session(std::string session, int close_code) override {
    inner_->revoke_session(std::move(session), close_code);
  }
  void remote_presence(Callback<std::vector<NodePresence>> cb) override { inner_->remote_presence(std::move(cb)); }
  bool clustered() const override { return inner_->clustered(); }

  // ---- lifecycle -------------------------------------------------------------
  StoreStats stats() const override {
    StoreStats stats = inner_->stats();
    std::lock_guard lock(mutex_);
    if (fail_all_ || fail_next_ > 0) stats.writable = false;
    return stats;
  }
  void close() override { inner_->close(); }

 private:
  // The error to inject for this write, if any (consumes one fail_next_writes).
  std::optional<Error> next_fault() {
    std::lock_guard lock(mutex_);
    if (!fail_all_ && fail_next_ == 0) return std::nullopt;
    if (!fail_all_) --fail_next_;
    ++injected_;
    if (code_ == ErrorCode::unavailable) return Error{code_, "store unavailable: injected fault"};
    return Error{code_, "store error: injected fault"};
  }

  template <class T>
  bool refuse(Callback<T>& cb) {
    std::optional<Error> fault = next_fault();
    if (!fault) return false;
    if (cb) cb(Result<T>(std::move(*fault)));
    return true;
  }

  std::unique_ptr<Store> inner_;
  mutable std::mutex mutex_;
  bool fail_all_ = false;
  std::size_t fail_next_ = 0;
  ErrorCode code_ = ErrorCode::unavailable;
  std::uint64_t injected_ = 0;
};

}  // namespace possync::storage
