// The SQLite backend of Store: one database file in WAL mode, one writer
// thread with its own connection committing queued write requests in groups
// (one transaction, one fsync per batch), and a pool of reader threads, each
// with its own read-only connection. See store.hpp for the contract.
//
// stats().writable is false once closing, and after a batch failed until a
// later batch, or the writer's own probe (once a second while idle: room for
// 1 MiB more beside the database, and a commit that writes), succeeds.
//
// Beyond store.hpp: close() called from one of the store's own callbacks only
// stops intake (a thread cannot join itself); the owner's close() or the
// destructor then finishes the job. The destructor must not run on a store
// thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/engine/batch.hpp"
#include "storage/engine/jobs.hpp"
#include "storage/engine/rule_store.hpp"
#include "storage/engine/work_queue.hpp"
#include "storage/sqlite/writes.hpp"
#include "storage/store.hpp"

struct sqlite3;

namespace possync::storage::sqlite {

// The writer's page cache. SQLite's default, 2 MiB, holds a fraction of the
// index pages a batch of orders from many senders touches: the writer read
// them back from the file every batch (pread was a tenth of the broker's
// CPU samples in a 100-pair run, bench/results/2026-12-08-order-engine.md).
// Filled only as pages are used; part of the broker's memory bound.
inline constexpr long kWriterCacheBytes = 16L << 20;

class SqliteStore final : public engine::RuleStore<SqliteStore> {
 public:
  // Opens (creating if needed) the database at PATH, applies pending
  // migrations and starts the threads. On failure: nullptr and `error` set to
  // one line, "cannot open store sqlite:PATH: <reason>".
  static std::unique_ptr<SqliteStore> open(const std::string& path, const StoreOptions& options,
                                           std::string& error);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void authenticate(std::string session, std::string token, Callback<SessionEntry> cb) override;
  void directory(std::string shop, Callback<std::vector<SessionEntry>> cb) override;
  void list_sessions(std::optional<std::string> shop, Callback<std::vector<SessionEntry>> cb) override;
  void pending(std::string receiver, std::int64_t after_id, int limit, Callback<std::vector<OrderRecord>> cb) override;
  void list(ListQuery query, Callback<std::vector<OrderRecord>> cb) override;
  void list_orders(OrderFilter filter, Callback<OrderPage> cb) override;
  void get_order(std::int64_t order_id, Callback<OrderDetail> cb) override;

  // send … delete_session: engine::RuleStore (the rules of storage/engine/rules.hpp).

  StoreStats stats() const override;
  void close() override;
  // Checkpoints the checkpointer thread has run (for tests and benchmarks).
  std::uint64_t background_checkpoints() const { return checkpoints_.load(); }

 private:
  friend class engine::RuleStore<SqliteStore>;
  using Job = engine::Job<Db>;
  using JobPtr = std::unique_ptr<Job>;

  SqliteStore(std::string path, std::unique_ptr<Db> writer, std::vector<std::unique_ptr<Db>> readers,
              std::unique_ptr<Db> checkpointer, const StoreOptions& options);

  void enqueue_write(engine::WriteJobPtr job);
  template <class T, class Body>
  void enqueue_read(Body body, Callback<T> cb);

  void writer_loop();
  void reader_loop(Db& db);
  void probe_writable() noexcept;
  bool on_store_thread() const;
  // Called by SQLite on the writer thread after each commit with the WAL's
  // size in pages: wakes the checkpointer, or checkpoints itself past
  // wal_max_pages.
  static int after_commit(void* self, sqlite3* db, const char* schema, int wal_pages);
  void checkpointer_loop();

  const StoreOptions options_;
  const std::string path_;  // the database file
  std::unique_ptr<Db> writer_db_;
  std::vector<std::unique_ptr<Db>> reader_dbs_;
  std::unique_ptr<Db> checkpoint_db_;

  SqliteBatch batch_rows_;  // the writer's engine backend, on writer_db_
  engine::WorkQueue<engine::WriteJob> write_queue_;
  engine::WorkQueue<Job> read_queue_;

  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_cv_;
  std::atomic<bool> checkpoint_wanted_{false};
  bool checkpoints_closed_ = false;          // under checkpoint_mutex_
  std::atomic<int> checkpointed_pages_{0};  // WAL pages in the database file after the last checkpoint
  std::atomic<std::uint64_t> checkpoints_{0};

  engine::WriterStats writer_stats_;
  std::atomic<std::uint64_t> write_probes_{0};

  std::mutex join_mutex_;  // serializes concurrent close() calls
  std::thread writer_;
  std::vector<std::thread> readers_;
  std::thread checkpointer_;
  std::vector<std::thread::id> thread_ids_;  // set once in the constructor
};

}  // namespace possync::storage::sqlite
