// The PostgreSQL backend of Store (libpqxx 6.4). See store.hpp for the
// contract; this backend keeps the SQLite backend's semantics (error codes
// and messages, duplicates, claim, history, group commit, bounded queues,
// draining close, StoreStats) and adds what a shared database needs:
//
//  * One writer thread with its own connection commits queued writes in
//    groups through the order engine (storage/engine/batch.hpp, PgBatch in
//    writes.hpp): one transaction and a handful of set-based statements per
//    batch, pg_notify of the history rows the batch wrote in the same
//    transaction, the callbacks after COMMIT in queue order. A
//    serialization failure or deadlock (two nodes touching the same
//    orders), or another node storing the same ref first, reruns the batch,
//    up to kMaxBatchAttempts times; then each request gets `unavailable`.
//  * Reader threads, each with its own connection; every read is one
//    REPEATABLE READ, READ ONLY transaction.
//  * Outage: a connection that breaks is dropped and reopened by its own
//    thread with exponential backoff (100 ms … 2 s). While the writer has no
//    connection, writes are answered `unavailable` at once on the calling
//    thread (nothing is queued for a server that is gone) and
//    stats().writable is false; likewise reads while no reader is
//    connected. An idle writer checks its connection once a second, so
//    /readyz notices an outage without a client having to write. When a
//    connection breaks before COMMIT was sent, the batch is retried once on
//    a fresh connection; when it breaks during COMMIT the outcome is
//    unknown: the batch is answered `unavailable` and a retry of the same
//    request is answered as a duplicate if the commit did happen.
//  * Cluster (clustered() is true): start_cluster() starts cluster.hpp's
//    listener thread and waits (10 s at most) until it LISTENs; history rows
//    carry this node's id from then on. close() leaves the cluster.
//
// Beyond store.hpp: close() called from one of the store's own callbacks only
// stops intake; the owner's close() or the destructor finishes the job. The
// destructor must not run on a store thread, and close() must not be called
// from the cluster event handler.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "storage/engine/jobs.hpp"
#include "storage/engine/rule_store.hpp"
#include "storage/engine/work_queue.hpp"
#include "storage/postgres/writes.hpp"
#include "storage/store.hpp"

namespace possync::storage::postgres {

class Cluster;

class PgStore final : public engine::RuleStore<PgStore> {
 public:
  static constexpr int kMaxBatchAttempts = 5;

  // Connects (URL as libpq takes it: postgresql://… or postgres://…, query
  // parameters passed through), applies pending migrations and starts the
  // threads. On failure: nullptr and `error` set to one line,
  // "cannot open store <url with the password hidden>: <reason>".
  static std::unique_ptr<PgStore> open(const std::string& url, const StoreOptions& options, std::string& error);
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  void authenticate(std::string session, std::string token, Callback<SessionEntry> cb) override;
  void directory(std::string shop, Callback<std::vector<SessionEntry>> cb) override;
  void list_sessions(std::optional<std::string> shop, Callback<std::vector<SessionEntry>> cb) override;
  void pending(std::string receiver, std::int64_t after_id, int limit, Callback<std::vector<OrderRecord>> cb) override;
  void list(ListQuery query, Callback<std::vector<OrderRecord>> cb) override;
  void list_orders(OrderFilter filter, Callback<OrderPage> cb) override;
  void get_order(std::int64_t order_id, Callback<OrderDetail> cb) override;

  // send … delete_session: engine::RuleStore (the rules of storage/engine/rules.hpp).

  void start_cluster(ClusterOptions options, std::function<void(const ClusterEvent&)> handler) override;
  void set_presence(std::string session, std::string shop, int connections) override;
  void revoke_session(std::string session, int close_code) override;
  void remote_presence(Callback<std::vector<NodePresence>> cb) override;
  bool clustered() const override { return true; }

  StoreStats stats() const override;
  void close() override;

  // The NOTIFY channel of this database and schema (tests listen on it).
  const std::string& channel() const noexcept { return channel_; }

 private:
  friend class engine::RuleStore<PgStore>;
  using ReadJob = engine::Job<pqxx::transaction_base>;
  using ReadJobPtr = std::unique_ptr<ReadJob>;
  using Connection = std::unique_ptr<pqxx::connection>;

  PgStore(std::string url, std::string channel, Connection writer, std::vector<Connection> readers,
          const StoreOptions& options);

  void enqueue_write(engine::WriteJobPtr job);
  template <class T, class Body>
  void enqueue_read(Body body, Callback<T> cb);

  void writer_loop();
  bool reconnect_writer();
  void probe_writer() noexcept;
  void fail_queued_writes();

  void reader_loop(std::size_t index);
  void run_read(Connection& conn, ReadJob& job);
  void reader_lost();
  void fail_queued_reads(const std::string& reason);

  std::optional<std::string> node_id() const;
  std::string connection_error() const;
  void set_connection_error(std::string reason);
  bool on_store_thread() const;

  const std::string url_;  // as libpq gets it (libpq_url)
  const std::string channel_;
  const StoreOptions options_;

  Connection writer_conn_;              // writer thread only (after construction)
  std::vector<Connection> reader_conns_;  // reader i: element i, that thread only

  PgBatch batch_rows_;  // the writer's engine backend, on writer_conn_
  engine::WorkQueue<engine::WriteJob> write_queue_;
  engine::WorkQueue<ReadJob> read_queue_;

  std::atomic<bool> writer_up_{true};
  std::atomic<int> readers_up_{0};
  engine::WriterStats writer_stats_;
  std::atomic<std::uint64_t> write_probes_{0};  // probes while the last batch failed

  mutable std::mutex state_mutex_;  // guards the fields below
  std::string connection_error_;    // why the last connection attempt failed
  std::optional<ClusterOptions> cluster_options_;
  std::unique_ptr<Cluster> cluster_;

  std::mutex join_mutex_;  // serializes concurrent close() calls
  std::thread writer_;
  std::vector<std::thread> readers_;
  std::vector<std::thread::id> thread_ids_;  // set once in the constructor
};

}  // namespace possync::storage::postgres
