#include "storage/sqlite/sqlite_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <utility>

#include "storage/sqlite/db.hpp"
#include "storage/sqlite/migrations.hpp"
#include "storage/sqlite/reads.hpp"
#include "storage/engine/thread_name.hpp"

namespace possync::storage::sqlite {


namespace {

// How long a write waits for another connection's lock before its batch
// fails (`unavailable`), and how often an idle writer whose last batch
// failed checks whether it could write again.
constexpr int kBusyTimeoutMs = 5000;
constexpr std::chrono::seconds kProbeInterval{1};
// The room on the disk the probe asks for before it calls the store
// writable again: what a batch of 64 orders writes into the WAL.
constexpr off_t kProbeRoomBytes = 1 << 20;


// The Error for the exception being handled. Call only inside a catch block.
Error current_error() {
  try {
    throw;
  } catch (const SqliteError& e) {
    return e.to_error();
  } catch (const std::exception& e) {
    return {ErrorCode::internal, std::string("store error: ") + e.what()};
  } catch (...) {
    return {ErrorCode::internal, "store error: unknown failure"};
  }
}

void rollback_quietly(Db& db) noexcept {
  if (db.in_transaction()) sqlite3_exec(db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

}  // namespace

// ---------------------------------------------------------------------------
// Opening and closing

std::unique_ptr<SqliteStore> SqliteStore::open(const std::string& path, const StoreOptions& options,
                                               std::string& error) {
  try {
    auto writer = std::make_unique<Db>(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (writer->read_only()) throw SqliteError(SQLITE_READONLY, "attempt to write a readonly database");
    sqlite3_busy_timeout(writer->handle(), kBusyTimeoutMs);
    // The first statement that reads the file: "file is not a database" shows here.
    const std::string journal = writer->exec_text("PRAGMA journal_mode=WAL");
    if (journal != "wal") {
      throw SqliteError(SQLITE_CANTOPEN, "cannot use WAL journal mode (SQLite kept '" + journal + "')");
    }
    writer->exec("PRAGMA synchronous=FULL");
    // Each request's SAVEPOINT keeps a statement journal; past 64 KiB SQLite
    // spills it to a temporary file, written page by page at every batch
    // (bench/results/profiles-2026-11-27.md: 6 -> 31 page writes per order
    // at 160 orders per commit). It only serves a rollback inside the open
    // transaction, durability is the WAL's: keep it in memory.
    writer->exec("PRAGMA temp_store=MEMORY");
    writer->exec(("PRAGMA cache_size=-" + std::to_string(kWriterCacheBytes / 1024)).c_str());
    // Foreign keys after the migrations: a migration that rebuilds a table
    // (0003) drops the old one while other tables still name it.
    migrate(*writer, embedded_migrations());
    writer->exec("PRAGMA foreign_keys=ON");

    // Checkpoints leave the writer's commits (after_commit): the checkpointer
    // thread copies the WAL into the database on a connection of its own,
    // PASSIVE (never waiting on the writer or the readers).
    auto checkpointer = std::make_unique<Db>(path, SQLITE_OPEN_READWRITE);
    checkpointer->exec("PRAGMA synchronous=FULL");

    std::vector<std::unique_ptr<Db>> readers;
    const int reader_count = std::max(1, options.reader_threads);
    for (int i = 0; i < reader_count; ++i) {
      auto reader = std::make_unique<Db>(path, SQLITE_OPEN_READONLY);
      sqlite3_busy_timeout(reader->handle(), kBusyTimeoutMs);
      readers.push_back(std::move(reader));
    }
    return std::unique_ptr<SqliteStore>(
        new SqliteStore(path, std::move(writer), std::move(readers), std::move(checkpointer), options));
  } catch (const std::exception& e) {
    error = "cannot open store sqlite:" + path + ": " + e.what();
    return nullptr;
  }
}

SqliteStore::SqliteStore(std::string path, std::unique_ptr<Db> writer, std::vector<std::unique_ptr<Db>> readers,
                         std::unique_ptr<Db> checkpointer, const StoreOptions& options)
    : options_(options),
      path_(std::move(path)),
      writer_db_(std::move(writer)),
      reader_dbs_(std::move(readers)),
      checkpoint_db_(std::move(checkpointer)),
      batch_rows_(*writer_db_),
      write_queue_(options.max_write_queue),
      read_queue_(options.max_read_queue) {
  // Replaces SQLite's automatic checkpoint in the committing connection.
  sqlite3_wal_hook(writer_db_->handle(), &SqliteStore::after_commit, this);
  writer_ = std::thread([this] { writer_loop(); });
  thread_ids_.push_back(writer_.get_id());
  for (auto& db : reader_dbs_) {
    readers_.emplace_back([this, reader = db.get()] { reader_loop(*reader); });
    thread_ids_.push_back(readers_.back().get_id());
  }
  checkpointer_ = std::thread([this] { checkpointer_loop(); });
  thread_ids_.push_back(checkpointer_.get_id());
}

SqliteStore::~SqliteStore() { SqliteStore::close(); }

bool SqliteStore::on_store_thread() const {
  return std::find(thread_ids_.begin(), thread_ids_.end(), std::this_thread::get_id()) != thread_ids_.end();
}

void SqliteStore::close() {
  write_queue_.close();
  read_queue_.close();
  {
    std::lock_guard lock(checkpoint_mutex_);
    checkpoints_closed_ = true;
  }
  checkpoint_cv_.notify_all();
  if (on_store_thread()) return;  // cannot join ourselves; the owner's close() finishes

  std::lock_guard lock(join_mutex_);
  // Writes first: their callbacks may still issue reads, which are refused
  // (closed) rather than lost.
  if (writer_.joinable()) writer_.join();
  for (auto& reader : readers_) {
    if (reader.joinable()) reader.join();
  }
  if (checkpointer_.joinable()) checkpointer_.join();
  checkpoint_db_.reset();
  // Closing the last connection checkpoints the WAL into the main file.
  reader_dbs_.clear();
  writer_db_.reset();
}

StoreStats SqliteStore::stats() const {
  StoreStats stats;
  stats.write_queue_depth = write_queue_.size();
  stats.read_queue_depth = read_queue_.size();
  stats.writable = !write_queue_.closed() && !writer_stats_.last_batch_failed.load();
  stats.batches_committed = writer_stats_.batches_committed.load();
  stats.writes_committed = writer_stats_.writes_committed.load();
  stats.batches_failed = writer_stats_.batches_failed.load();
  stats.write_probes = write_probes_.load();
  return stats;
}

// ---------------------------------------------------------------------------
// Queues

void SqliteStore::enqueue_write(engine::WriteJobPtr job) {
  const auto intake = write_queue_.push(job);
  if (intake != engine::Intake::queued) job->fail(engine::refused(intake, "write"));
}

template <class T, class Body>
void SqliteStore::enqueue_read(Body body, Callback<T> cb) {
  JobPtr job = std::make_unique<engine::TypedJob<T, Db>>(std::move(body), std::move(cb));
  const auto intake = read_queue_.push(job);
  if (intake != engine::Intake::queued) job->fail(engine::refused(intake, "read"));
}

void SqliteStore::reader_loop(Db& db) {
  engine::name_this_thread("store-reader");
  std::vector<JobPtr> one;
  for (;;) {
    if (read_queue_.take(one, 1) == engine::Taken::finished) return;  // closed and drained
    Job& job = *one.front();
    try {
      job.execute(db);
    } catch (...) {
      job.set_error(current_error());
    }
    job.complete();
    one.clear();  // the request and its callback go now, not when the next arrives
  }
}

void SqliteStore::writer_loop() {
  engine::name_this_thread("store-writer");
  const std::size_t max_batch = std::max<std::size_t>(1, options_.max_batch);
  std::vector<engine::WriteJobPtr> batch;
  for (;;) {
    // Not writable and idle: look again now and then, so that stats() (and
    // /readyz) recover without waiting for a client to write.
    std::optional<std::chrono::milliseconds> probe_after;
    if (writer_stats_.last_batch_failed) probe_after = kProbeInterval;
    // Group commit: everything queued behind the previous batch goes in this one.
    const auto taken = write_queue_.take(batch, max_batch, probe_after);
    if (taken == engine::Taken::finished) return;  // closed and drained
    if (taken == engine::Taken::timed_out) {
      probe_writable();
      continue;
    }
    engine::run_batch(batch_rows_, batch, writer_stats_, engine::BatchPolicy{});
    batch.clear();
  }
}

// ---------------------------------------------------------------------------
// Checkpoints
//
// SQLite's default checkpoints inside the COMMIT that takes the WAL past
// 1000 pages: the committing batch then also writes those pages into the
// database file and syncs it, in every waiting request's latency
// (bench/results/2026-11-27-checkpointer.md). Here the checkpointer thread
// does that work beside the writer. A PASSIVE checkpoint does not wait for
// the writer, so under continuous writes it may never catch up with the end
// of the WAL, and SQLite restarts the WAL from its start only once all of it
// was copied: past wal_max_pages the writer checkpoints after its commit, as
// SQLite would have (only the pages the checkpointer has not copied yet).

int SqliteStore::after_commit(void* self, sqlite3* db, const char* schema, int wal_pages) {
  auto& store = *static_cast<SqliteStore*>(self);
  int copied = store.checkpointed_pages_.load(std::memory_order_relaxed);
  if (wal_pages < copied) copied = 0;  // the WAL restarted since
  if (wal_pages >= store.options_.wal_max_pages) {
    int log = 0;
    int done = 0;
    // A failure (a full disk, the checkpointer busy) leaves the WAL as it
    // is: the commit stands, the next one tries again.
    if (sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK) {
      store.checkpointed_pages_.store(done, std::memory_order_relaxed);
    }
  } else if (wal_pages - copied >= store.options_.wal_checkpoint_pages &&
             !store.checkpoint_wanted_.exchange(true)) {
    { std::lock_guard lock(store.checkpoint_mutex_); }  // the checkpointer is waiting, or sees the flag
    store.checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteStore::checkpointer_loop() {
  engine::name_this_thread("checkpointer");
  for (;;) {
    {
      std::unique_lock lock(checkpoint_mutex_);
      checkpoint_cv_.wait(lock, [this] { return checkpoint_wanted_.load() || checkpoints_closed_; });
      if (checkpoints_closed_) return;  // the last connection's close checkpoints
    }
    int log = 0;
    int done = 0;
    if (sqlite3_wal_checkpoint_v2(checkpoint_db_->handle(), "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done) ==
        SQLITE_OK) {
      checkpointed_pages_.store(done, std::memory_order_relaxed);
    }
    ++checkpoints_;
    // Cleared after the work: commits meanwhile do not queue another round
    // at once; the first one after this that finds enough new pages does.
    checkpoint_wanted_ = false;
  }
}

// A probe that only took the write lock (BEGIN IMMEDIATE; ROLLBACK) passed
// on a full disk, and so did /readyz. Two checks instead, both needed:
//  * room: a file of kProbeRoomBytes allocated beside the database
//    (posix_fallocate fails with ENOSPC where the blocks are not there),
//    then removed. A commit alone can pass on a full disk: after a
//    checkpoint SQLite writes the WAL from its start again, over blocks the
//    file already has.
//  * a commit that writes: one WAL frame (the header page, rewritten with
//    the user_version it has) and its fsync, through the writer's own
//    connection, so locks, I/O errors and a read-only file show too.
void SqliteStore::probe_writable() noexcept {
  ++write_probes_;
  const std::string probe_path = path_ + "-probe";
  const int fd = ::open(probe_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const int room = ::posix_fallocate(fd, 0, kProbeRoomBytes);
  ::close(fd);
  ::unlink(probe_path.c_str());
  if (room != 0) return;
  Db& db = *writer_db_;
  try {
    db.query("BEGIN IMMEDIATE").run();
    const std::string version = db.exec_text("PRAGMA user_version");
    db.exec(("PRAGMA user_version = " + std::to_string(std::stoll(version))).c_str());
    db.query("COMMIT").run();
    writer_stats_.last_batch_failed = false;
  } catch (...) {
    rollback_quietly(db);
  }
}

// ---------------------------------------------------------------------------
// Reads

void SqliteStore::authenticate(std::string session, std::string token, Callback<SessionEntry> cb) {
  enqueue_read<SessionEntry>(
      [session = std::move(session), token = std::move(token)](Db& db) {
        return reads::authenticate(db, session, token);
      },
      std::move(cb));
}

void SqliteStore::directory(std::string shop, Callback<std::vector<SessionEntry>> cb) {
  enqueue_read<std::vector<SessionEntry>>(
      [shop = std::move(shop)](Db& db) { return reads::list_sessions(db, shop); }, std::move(cb));
}

void SqliteStore::list_sessions(std::optional<std::string> shop, Callback<std::vector<SessionEntry>> cb) {
  enqueue_read<std::vector<SessionEntry>>(
      [shop = std::move(shop)](Db& db) { return reads::list_sessions(db, shop); }, std::move(cb));
}

void SqliteStore::pending(std::string receiver, std::int64_t after_id, int limit,
                          Callback<std::vector<OrderRecord>> cb) {
  enqueue_read<std::vector<OrderRecord>>(
      [receiver = std::move(receiver), after_id, limit](Db& db) { return reads::pending(db, receiver, after_id, limit); },
      std::move(cb));
}

void SqliteStore::list(ListQuery query, Callback<std::vector<OrderRecord>> cb) {
  enqueue_read<std::vector<OrderRecord>>([query = std::move(query)](Db& db) { return reads::list(db, query); },
                                         std::move(cb));
}

void SqliteStore::list_orders(OrderFilter filter, Callback<OrderPage> cb) {
  enqueue_read<OrderPage>([filter = std::move(filter)](Db& db) { return reads::list_orders(db, filter); },
                          std::move(cb));
}

void SqliteStore::get_order(std::int64_t order_id, Callback<OrderDetail> cb) {
  enqueue_read<OrderDetail>([order_id](Db& db) { return reads::get_order(db, order_id); }, std::move(cb));
}

}  // namespace possync::storage::sqlite
