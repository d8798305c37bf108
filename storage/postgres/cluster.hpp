// The cluster feed of the PostgreSQL backend: one thread with its own
// connection that LISTENs on the store's channel, turns other nodes'
// commits into ClusterEvents, keeps this node's presence rows and heartbeat,
// and reaps nodes that stopped heartbeating.
//
// What reaches the handler (on this thread, one event at a time):
//  * history rows other nodes committed (their ids travel in the NOTIFY of
//    the writing transaction, feed.hpp; the rows are fetched by id, one
//    query per wake-up): a creation row (NULL → sent) becomes one `order`
//    event per order (receivers all `sent`), transition rows become
//    `changes` events, in commit order;
//  * presence records of other nodes (and 0 for every session of a node
//    that was reaped or left);
//  * sessions other nodes revoked (revoke_session()).
//
// Nothing is lost across a gap. When the connection breaks, the thread
// reconnects with backoff, LISTENs again and then re-reads (a) every history
// row other nodes logged since its last confirmed round trip minus
// kRecoveryMarginMs (server clock: history.logged_at), skipping the ids it
// already emitted, (b) the revocations other nodes logged since then
// (cluster_revocations, kept an hour), skipping the ones it already
// emitted: a session revoked while this node was deaf is still closed
// here, and (c) the presence table, emitting the differences from what it
// knew.
//
// What can repeat (the broker de-duplicates by order_id and by
// (order_id, session, status), store.hpp): an order or change re-read after
// a gap whose id has already left the bounded set of recently emitted ids
// (kRecentIds), or emitted by a previous process; a presence record (every
// received one is emitted, changed or not). What cannot be lost: a history
// row committed while the listener was away is re-read unless its
// transaction ran longer than the margin, or the listener stays away past
// history retention (none: history is never deleted). A node's sessions go
// offline on every other node within node_timeout_ms + heartbeat_ms of its
// last heartbeat, and at once when it leaves cleanly (close()).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "storage/postgres/feed.hpp"
#include "storage/store.hpp"

namespace possync::storage::postgres {

// A bounded set of ids: remembers the newest `capacity` inserted.
class RecentIds {
 public:
  explicit RecentIds(std::size_t capacity) : capacity_(capacity) {}
  bool contains(std::int64_t id) const { return set_.count(id) != 0; }
  void insert(std::int64_t id);

 private:
  std::size_t capacity_;
  std::unordered_set<std::int64_t> set_;
  std::deque<std::int64_t> order_;
};

class Cluster {
 public:
  static constexpr std::int64_t kRecoveryMarginMs = 30000;
  static constexpr std::size_t kRecentIds = 200000;
  static constexpr int kFirstJoinWaitMs = 10000;

  // Starts the thread and waits (at most kFirstJoinWaitMs) for its first
  // attempt to connect and LISTEN, so that a node that serves right after
  // hears every commit from then on. When that attempt fails, the thread
  // keeps trying with backoff, and its first join re-reads history from the
  // moment of this call (minus the margin): nothing is lost meanwhile.
  Cluster(std::string url, std::string channel, ClusterOptions options,
          std::function<void(const ClusterEvent&)> handler);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Any thread, never blocks: the thread writes it (and notifies) soon.
  void set_presence(std::string session, std::string shop, int connections);
  // Any thread, never blocks: the other nodes are told soon (a NOTIFY of its
  // own; a node whose listener is away at that moment does not hear it).
  void revoke_session(std::string session, int close_code);
  // Leaves the cluster (this node's presence rows and heartbeat deleted,
  // other nodes notified) and joins the thread. Idempotent; no event is
  // emitted once it returns.
  void stop();

 private:
  class Receiver;
  struct HistoryRow;

  void run();
  bool connect_and_join();
  void drop_connection();
  void wait_for_work(int timeout_ms);
  bool process_notifications();  // true when there were some
  void handle_records(const std::vector<feed::Record>& records);
  void emit_history(pqxx::transaction_base& tx, const std::vector<HistoryRow>& rows);
  void emit_revocation(const feed::Record& record);
  void apply_presence(const NodePresence& presence);
  void recover();
  void sync_presence();
  void send_revocations();
  void heartbeat();
  void reap();
  void leave() noexcept;
  void emit(const ClusterEvent& event) noexcept;
  void notify(pqxx::transaction_base& tx, const std::vector<feed::Record>& records);

  const std::string url_;
  const std::string channel_;
  const ClusterOptions options_;
  const std::function<void(const ClusterEvent&)> handler_;

  // Shared with set_presence()/stop(), under mutex_.
  std::mutex mutex_;
  std::map<std::string, NodePresence> desired_;  // this node's sessions with connections
  std::map<std::string, NodePresence> dirty_;    // rows to write (0: delete), the latest per session
  std::vector<std::pair<std::string, int>> revocations_;  // to announce
  bool stopping_ = false;
  int wake_fd_ = -1;  // eventfd: wakes the thread's poll()

  // The thread's own.
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<Receiver> receiver_;
  std::vector<std::string> payloads_;  // received, not yet handled
  std::string watermark_;              // server time of the last round trip known live ("" before the first)
  bool joined_once_ = false;
  bool first_attempt_failed_ = false;
  const std::int64_t started_unix_ms_;     // when start_cluster was called (this node's clock)
  std::promise<void> first_attempt_done_;  // set after the first connect attempt
  std::map<std::pair<std::string, std::string>, NodePresence> remote_;  // (node, session) → other nodes' presence
  RecentIds emitted_history_{kRecentIds};
  RecentIds emitted_orders_{kRecentIds};
  RecentIds emitted_revocations_{kRecentIds};

  std::thread thread_;
};

}  // namespace possync::storage::postgres
