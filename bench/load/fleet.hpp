// The fleet: one client connection per terminal of the plan, opened with
// connect + hello at a bounded number at once, reopened when it drops while
// wanted, and closed on request. It owns the client Runtime, so that no
// callback can outlive the objects it calls into (shutdown() joins the io
// threads before anything else goes away).
//
// Threading: handlers run on the runtime's io threads, serialized per
// terminal. Public methods may be called from any thread except where noted.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench/load/histogram.hpp"
#include "bench/load/options.hpp"
#include "bench/load/plan.hpp"
#include "clients/cpp/client.hpp"

namespace possync::load {

class Fleet {
 public:
  using PushHandler = std::function<void(int terminal, const client::MessagePtr& message)>;
  using UpHandler = std::function<void(int terminal)>;

  Fleet(const Options& options, const Plan& plan);
  ~Fleet();
  Fleet(const Fleet&) = delete;
  Fleet& operator=(const Fleet&) = delete;

  // Set both before the first connect(); they run on io threads.
  void on_push(PushHandler handler) { push_handler_ = std::move(handler); }
  void on_up(UpHandler handler) { up_handler_ = std::move(handler); }  // after every welcome

  // Queues the terminals for connect + hello; at most `concurrency` attempts
  // run at once. Returns at once; a terminal stays wanted until disconnect().
  void connect(const std::vector<int>& terminals, int concurrency);
  // Closes them (code 1000) and stops wanting them.
  void disconnect(const std::vector<int>& terminals);
  // Re-opens every wanted terminal that is down. Call about once a second.
  void supervise();
  // Closes everything, then stops and joins the io threads. Idempotent.
  void shutdown();

  client::Client& client(int terminal) { return *slots_[static_cast<std::size_t>(terminal)].client; }
  bool is_up(int terminal) const;
  int up() const { return up_.load(); }
  // Attempts finished (welcome or failure) since the last connect() call.
  int settled() const { return settled_.load(); }

  std::int64_t connect_failures() const { return connect_failures_.load(); }
  std::int64_t reconnects() const { return reconnects_.load(); }
  std::map<std::string, std::int64_t> unexpected_closes() const;  // "close:CODE" → count
  std::vector<std::string> first_errors() const;                 // a few, for the report
  const AtomicHistogram& connect_latency() const { return connect_ns_; }  // connect start → welcome

 private:
  enum State : int { kDown, kQueued, kConnecting, kUp };
  struct Slot {
    std::shared_ptr<client::Client> client;
    std::atomic<int> state{kDown};
    std::atomic<bool> wanted{false};
  };

  void start(int terminal, bool chained);
  void settle(int terminal, bool ok, const std::string& error, bool chained);
  void launch_queued();
  void note_error(const std::string& error);

  const Options& options_;
  std::unique_ptr<client::Runtime> runtime_;
  std::unique_ptr<Slot[]> slots_;
  std::size_t slot_count_ = 0;
  PushHandler push_handler_;
  UpHandler up_handler_;

  std::mutex queue_mu_;
  std::deque<int> queue_;
  int active_ = 0;
  int concurrency_ = 1;

  std::atomic<bool> stopping_{false};
  std::atomic<int> up_{0};
  std::atomic<int> settled_{0};
  std::atomic<std::int64_t> connect_failures_{0};
  std::atomic<std::int64_t> reconnects_{0};
  mutable std::mutex errors_mu_;
  std::map<std::string, std::int64_t> closes_;
  std::vector<std::string> errors_;
  AtomicHistogram connect_ns_;
};

// Monotonic nanoseconds (steady clock), the time base of every measurement.
std::int64_t now_ns();

// Polls `done` every 10 ms until it holds or `timeout_s` passes; calls
// `each_second` about once a second meanwhile. Returns whether it held.
bool wait_for(const std::function<bool()>& done, double timeout_s, const std::function<void()>& each_second);

}  // namespace possync::load
