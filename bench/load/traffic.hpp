// The traffic: senders that keep a window of `send`s in flight (flat out, or
// paced to a rate), receivers that ack or race to deliver every push, and a
// ledger of every order that says at the end whether each acknowledged
// order reached each of its receivers exactly once.
//
// Per message the work is small: one ledger slot per order (a few bytes
// per receiver) found by the order's `ref` ("<prefix>-<sender>-<seq>"),
// one uncontended lock of its sender, two histogram adds. No JSON is
// built per message beyond the request text itself.
//
// Threading: handle_push/handle_up run on io threads; start/stop/verify and
// the getters on the main thread. A sender's ledger is guarded by its mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/load/fleet.hpp"
#include "bench/load/histogram.hpp"
#include "bench/load/orders.hpp"
#include "bench/load/plan.hpp"

namespace possync::load {

struct Verification {
  std::int64_t acknowledged = 0;         // orders with a `sent` reply
  std::int64_t expected_deliveries = 0;  // Σ receivers of acknowledged orders
  std::int64_t delivered = 0;            // of those, pushed at least once
  std::int64_t lost = 0;                 // expected but never pushed
  std::int64_t duplicates_removed = 0;   // extra pushes of the same order to the same receiver
  std::int64_t unexpected = 0;           // pushed to a session not addressed, or of a refused/unknown ref
  std::int64_t unconfirmed = 0;          // pushes of orders whose send outcome stayed unknown
  std::int64_t stale = 0;                // replays of orders an earlier run with these sessions left pending
  std::int64_t order_id_mismatch = 0;    // push order_id ≠ the `sent` reply's
  std::int64_t claim_no_winner = 0;      // claim: acknowledged orders no receiver delivered
  std::int64_t claim_multiple_winners = 0;
  std::vector<std::string> samples;      // a few examples of what went wrong
  bool ok() const {
    return lost == 0 && unexpected == 0 && order_id_mismatch == 0 && claim_no_winner == 0 &&
           claim_multiple_winners == 0;
  }
};

class Traffic {
 public:
  // Refs are "<session prefix>.<run id>-<sender>-<seq>": unique per run, also
  // when a later run reuses the sessions (--tokens). A push of an earlier
  // run's ref (a replay of what it left pending) counts as stale, not unexpected.
  Traffic(const Options& options, const Plan& plan, Fleet& fleet, const OrderPool& orders,
          const std::string& session_prefix, const std::string& run_id);
  ~Traffic();
  Traffic(const Traffic&) = delete;
  Traffic& operator=(const Traffic&) = delete;

  // Route the fleet's handlers here.
  void handle_push(int terminal, const client::MessagePtr& message);
  void handle_up(int terminal);

  void start();  // fills the windows, or starts the pacer for --rate
  void stop();   // no new orders from now on (retries of unknown outcomes go on)
  // Senders paused by `rate_limited` or `unavailable` go on (call about once a second).
  void resume();
  bool sending_done() const;  // every sender used up its quota (--count, storm)
  // Nothing in flight or waiting to be retried, every acknowledged order
  // pushed to all its receivers, every claim answered.
  bool settled() const;
  // Every send answered (nothing in flight or waiting to be retried).
  bool settled_sending() const { return in_flight_.load() == 0 && retry_pending_.load() == 0; }
  Verification verify() const;

  // Figures (cumulative; the progress line and reports take differences).
  std::int64_t attempted() const { return attempted_.load(); }
  std::int64_t acknowledged() const { return acknowledged_.load(); }
  std::int64_t failed() const { return failed_.load(); }
  std::int64_t unknown() const { return unknown_.load(); }
  std::int64_t duplicate_replies() const { return duplicate_replies_.load(); }
  std::int64_t in_flight() const { return in_flight_.load(); }
  std::int64_t pushes() const { return pushes_.load(); }
  std::int64_t outstanding() const { return outstanding_.load(); }
  std::int64_t retries() const { return retries_.load(); }
  std::int64_t backlog_dropped() const { return backlog_dropped_.load(); }
  std::int64_t claim_wins() const { return claim_wins_.load(); }
  std::int64_t claim_conflicts() const { return claim_conflicts_.load(); }
  std::map<std::string, std::int64_t> errors() const;
  std::int64_t started_ns() const { return started_ns_; }

  AtomicHistogram& send_to_sent() { return sent_ns_; }
  AtomicHistogram& send_to_push() { return push_ns_; }
  AtomicHistogram& push_this_second() { return push_second_ns_; }  // taken by the progress line
  // Per receiving terminal: distinct orders pushed, and when the last one arrived.
  std::int64_t unique_pushes_of(int terminal) const { return unique_by_terminal_[static_cast<std::size_t>(terminal)].load(); }
  std::int64_t last_push_ns_of(int terminal) const { return last_push_by_terminal_[static_cast<std::size_t>(terminal)].load(); }

 private:
  enum RecordState : std::uint8_t { kInFlight, kAcked, kFailed, kUnknown };
  struct Record {
    std::int64_t t_send = 0;   // ns; the scheduled time under --rate (no coordinated omission)
    std::int64_t order_id = 0;
    std::uint32_t first = 0;   // receivers: to_terminals[first, first + n)
    std::uint8_t n = 0;
    std::uint8_t state = kInFlight;
    std::uint8_t winners = 0;
    std::uint8_t attempts = 0;
  };
  struct Sender {
    std::mutex mu;
    int terminal = 0;
    std::vector<int> targets;
    std::vector<std::string> fixed_to;  // Addressing::all: the ids, built once
    std::int64_t quota = -1;
    std::vector<Record> records;
    std::vector<std::int32_t> to_terminals;
    std::vector<std::uint16_t> push_counts;  // parallel to to_terminals
    std::deque<std::int64_t> backlog;        // --rate: scheduled times waiting for the window
    std::vector<std::uint32_t> retry;        // seqs whose outcome is unknown, to resend with the same ref
    int in_flight = 0;
    bool down = false;    // its connection failed; resumes at the next welcome
    bool paused = false;  // the broker asked it to slow down; resumes at the next resume()
    std::uint64_t rng = 0;
    std::size_t round_robin = 0;
  };
  struct Outgoing {
    std::uint32_t seq = 0;
    std::vector<std::string> to;  // empty: the sender's fixed_to
  };

  bool quota_left(const Sender& s) const;
  std::uint32_t new_record(Sender& s, std::int64_t t_send);
  void fill_window(Sender& s, std::vector<Outgoing>& out);
  void take_retries(Sender& s, std::vector<Outgoing>& out);
  Outgoing outgoing(Sender& s, std::uint32_t seq);
  void dispatch(std::size_t sender, std::vector<Outgoing>& out);
  void on_reply(std::size_t sender, std::uint32_t seq, const client::Reply& reply);
  void on_deliver(std::size_t sender, std::uint32_t seq, const client::Reply& reply);
  void offer(std::size_t sender, std::int64_t scheduled);
  void pace();
  void count_error(const std::string& key);
  void note_unexpected(int terminal, std::string_view ref);

  const Options& options_;
  const Plan& plan_;
  Fleet& fleet_;
  const OrderPool& orders_;
  const std::string prefix_;        // of this run's refs
  const std::string stale_prefix_;  // of every run's refs with these sessions
  const char* mode_;
  std::vector<std::unique_ptr<Sender>> senders_;
  std::vector<int> sender_of_terminal_;  // -1 for receivers
  std::int64_t total_quota_ = -1;

  std::atomic<bool> running_{false};
  std::int64_t started_ns_ = 0;
  std::thread pacer_;

  std::atomic<std::int64_t> attempted_{0}, acknowledged_{0}, failed_{0}, unknown_{0}, duplicate_replies_{0};
  std::atomic<std::int64_t> in_flight_{0}, retry_pending_{0}, pushes_{0}, outstanding_{0}, retries_{0}, backlog_dropped_{0};
  std::atomic<std::int64_t> unexpected_{0}, stale_{0}, mismatched_{0}, claims_pending_{0}, claim_wins_{0}, claim_conflicts_{0};
  std::unique_ptr<std::atomic<std::int64_t>[]> unique_by_terminal_, last_push_by_terminal_;
  AtomicHistogram sent_ns_, push_ns_, push_second_ns_;

  mutable std::mutex errors_mu_;
  std::map<std::string, std::int64_t> errors_;
  std::vector<std::string> unexpected_samples_;
};

}  // namespace possync::load
