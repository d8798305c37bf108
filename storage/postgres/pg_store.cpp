#include "storage/postgres/pg_store.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <utility>

#include "storage/postgres/cluster.hpp"
#include "storage/postgres/connection.hpp"
#include "storage/postgres/migrations.hpp"
#include "storage/postgres/reads.hpp"
#include "storage/postgres/statements.hpp"
#include "storage/tokens.hpp"
#include "storage/engine/thread_name.hpp"

namespace possync::storage::postgres {

namespace {

Error unavailable(std::string message) { return {ErrorCode::unavailable, std::move(message)}; }

// The channel every node of this database and schema LISTENs on: a digest,
// so that any database or schema name gives a plain identifier, and tests in
// different schemas of one database do not hear each other.
std::string channel_for(pqxx::connection_base& conn) {
  pqxx::nontransaction tx(conn);
  const pqxx::row row = tx.exec1("SELECT current_database(), coalesce(current_schema(), '')");
  return "possync_" + hash_token(row[0].as<std::string>() + "/" + row[1].as<std::string>()).substr(0, 24);
}

}  // namespace

// ---------------------------------------------------------------------------
// Opening and closing

std::unique_ptr<PgStore> PgStore::open(const std::string& url, const StoreOptions& options, std::string& error) {
  const std::string libpq = libpq_url(url);
  try {
    Connection writer = connect(libpq, /*prepare=*/false);
    migrate(*writer, embedded_migrations());
    declare_statements(*writer);
    PgBatch::set_up(*writer);
    std::string channel = channel_for(*writer);
    std::vector<Connection> readers;
    const int reader_count = std::max(1, options.reader_threads);
    for (int i = 0; i < reader_count; ++i) readers.push_back(connect(libpq));
    return std::unique_ptr<PgStore>(
        new PgStore(libpq, std::move(channel), std::move(writer), std::move(readers), options));
  } catch (...) {
    error = "cannot open store " + redact_url(url) + ": " + current_reason();
    return nullptr;
  }
}

PgStore::PgStore(std::string url, std::string channel, Connection writer, std::vector<Connection> readers,
                 const StoreOptions& options)
    : url_(std::move(url)),
      channel_(std::move(channel)),
      options_(options),
      writer_conn_(std::move(writer)),
      reader_conns_(std::move(readers)),
      batch_rows_(writer_conn_, channel_,
                  PgBatch::Hooks{[this] { return node_id(); },
                                 [this](const std::string& reason) {
                                   // The loop or reconnect() opens a new one.
                                   writer_conn_.reset();
                                   set_connection_error(reason);
                                 },
                                 [this] { return reconnect_writer(); }}),
      write_queue_(options.max_write_queue),
      read_queue_(options.max_read_queue) {
  readers_up_ = static_cast<int>(reader_conns_.size());
  writer_ = std::thread([this] { writer_loop(); });
  thread_ids_.push_back(writer_.get_id());
  for (std::size_t i = 0; i < reader_conns_.size(); ++i) {
    readers_.emplace_back([this, i] { reader_loop(i); });
    thread_ids_.push_back(readers_.back().get_id());
  }
}

PgStore::~PgStore() { PgStore::close(); }

bool PgStore::on_store_thread() const {
  return std::find(thread_ids_.begin(), thread_ids_.end(), std::this_thread::get_id()) != thread_ids_.end();
}

void PgStore::close() {
  write_queue_.close();
  read_queue_.close();
  if (on_store_thread()) return;  // cannot join ourselves; the owner's close() finishes

  std::lock_guard join(join_mutex_);
  // Writes first: their callbacks may still issue reads, which are refused
  // (closed) rather than lost.
  if (writer_.joinable()) writer_.join();
  for (auto& reader : readers_) {
    if (reader.joinable()) reader.join();
  }
  fail_queued_reads("store is closed");  // left only when no reader could connect
  std::unique_ptr<Cluster> cluster;
  {
    std::lock_guard lock(state_mutex_);
    cluster = std::move(cluster_);
  }
  if (cluster) cluster->stop();  // leaves the cluster: other nodes see its sessions go offline
  reader_conns_.clear();
  writer_conn_.reset();
}

StoreStats PgStore::stats() const {
  StoreStats stats;
  stats.write_queue_depth = write_queue_.size();
  stats.read_queue_depth = read_queue_.size();
  stats.writable = !write_queue_.closed() && writer_up_.load() && !writer_stats_.last_batch_failed.load();
  stats.batches_committed = writer_stats_.batches_committed.load();
  stats.writes_committed = writer_stats_.writes_committed.load();
  stats.batches_failed = writer_stats_.batches_failed.load();
  stats.write_probes = write_probes_.load();
  return stats;
}

std::optional<std::string> PgStore::node_id() const {
  std::lock_guard lock(state_mutex_);
  if (!cluster_options_) return std::nullopt;
  return cluster_options_->node_id;
}

std::string PgStore::connection_error() const {
  std::lock_guard lock(state_mutex_);
  return connection_error_.empty() ? "no connection to PostgreSQL" : connection_error_;
}

void PgStore::set_connection_error(std::string reason) {
  std::lock_guard lock(state_mutex_);
  connection_error_ = std::move(reason);
}

// ---------------------------------------------------------------------------
// Queues

void PgStore::enqueue_write(engine::WriteJobPtr job) {
  const auto intake = write_queue_.push(job, [this] { return writer_up_.load(); });
  if (intake == engine::Intake::queued) return;
  job->fail(engine::refused(intake, "write", intake == engine::Intake::down ? connection_error() : ""));
}

template <class T, class Body>
void PgStore::enqueue_read(Body body, Callback<T> cb) {
  ReadJobPtr job = std::make_unique<engine::TypedJob<T, pqxx::transaction_base>>(std::move(body), std::move(cb));
  const auto intake = read_queue_.push(job, [this] { return readers_up_.load() > 0; });
  if (intake == engine::Intake::queued) return;
  job->fail(engine::refused(intake, "read", intake == engine::Intake::down ? connection_error() : ""));
}

// ---------------------------------------------------------------------------
// Readers

void PgStore::reader_loop(std::size_t index) {
  engine::name_this_thread("store-reader");
  Connection& conn = reader_conns_[index];
  Backoff backoff;
  for (;;) {
    if (!conn) {
      try {
        conn = connect(url_);
        ++readers_up_;
        backoff.reset();
      } catch (...) {
        set_connection_error(current_reason());
        if (read_queue_.closed_within(backoff.next())) return;  // close() answers what is left
        continue;
      }
    }
    std::vector<ReadJobPtr> one;
    if (read_queue_.take(one, 1) == engine::Taken::finished) return;  // closed and drained
    run_read(conn, *one.front());
    one.front()->complete();
  }
}

void PgStore::run_read(Connection& conn, ReadJob& job) {
  // A read changes nothing: after a broken connection it runs once more on
  // a fresh one (a single backend killed, a server restarted meanwhile).
  std::string reason;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!conn) {
      try {
        conn = connect(url_);
        ++readers_up_;
      } catch (...) {
        reason = current_reason();
        set_connection_error(reason);
        break;
      }
    }
    try {
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn);
      job.execute(tx);
      tx.commit();
      return;
    } catch (...) {
      reason = current_reason();
      const Failure failure = classify_current();
      if (failure == Failure::other) {
        job.set_error({ErrorCode::internal, "store error: " + reason});
        return;
      }
      if (failure == Failure::busy) break;
      if (failure == Failure::connection) {
        conn.reset();
        set_connection_error(reason);
        reader_lost();
      }
    }
  }
  job.set_error(unavailable("store unavailable: " + reason));
}

void PgStore::reader_lost() {
  // The last connected reader gone: nothing queued would be answered until
  // one reconnects, so answer it now.
  if (--readers_up_ <= 0) fail_queued_reads("store unavailable: " + connection_error());
}

void PgStore::fail_queued_reads(const std::string& reason) {
  for (auto& job : read_queue_.take_all()) job->fail(unavailable(reason));
}

// ---------------------------------------------------------------------------
// Cluster

void PgStore::start_cluster(ClusterOptions options, std::function<void(const ClusterEvent&)> handler) {
  {
    std::lock_guard lock(state_mutex_);
    if (cluster_options_) return;  // once
    cluster_options_ = options;    // history rows carry the node id from now on
  }
  // Outside the lock: it waits for the listener's first connection.
  auto cluster = std::make_unique<Cluster>(url_, channel_, std::move(options), std::move(handler));
  std::lock_guard lock(state_mutex_);
  cluster_ = std::move(cluster);
}

void PgStore::set_presence(std::string session, std::string shop, int connections) {
  std::lock_guard lock(state_mutex_);
  if (cluster_) cluster_->set_presence(std::move(session), std::move(shop), connections);
}

void PgStore::revoke_session(std::string session, int close_code) {
  std::lock_guard lock(state_mutex_);
  if (cluster_) cluster_->revoke_session(std::move(session), close_code);
}

void PgStore::remote_presence(Callback<std::vector<NodePresence>> cb) {
  ClusterOptions options;
  {
    std::lock_guard lock(state_mutex_);
    if (cluster_options_) options = *cluster_options_;
  }
  enqueue_read<std::vector<NodePresence>>(
      [options](pqxx::transaction_base& tx) {
        return reads::remote_presence(tx, options.node_id, options.node_timeout_ms);
      },
      std::move(cb));
}

// ---------------------------------------------------------------------------
// Reads

void PgStore::authenticate(std::string session, std::string token, Callback<SessionEntry> cb) {
  enqueue_read<SessionEntry>(
      [session = std::move(session), token = std::move(token)](pqxx::transaction_base& tx) {
        return reads::authenticate(tx, session, token);
      },
      std::move(cb));
}

void PgStore::directory(std::string shop, Callback<std::vector<SessionEntry>> cb) {
  enqueue_read<std::vector<SessionEntry>>(
      [shop = std::move(shop)](pqxx::transaction_base& tx) { return reads::list_sessions(tx, shop); },
      std::move(cb));
}

void PgStore::list_sessions(std::optional<std::string> shop, Callback<std::vector<SessionEntry>> cb) {
  enqueue_read<std::vector<SessionEntry>>(
      [shop = std::move(shop)](pqxx::transaction_base& tx) { return reads::list_sessions(tx, shop); },
      std::move(cb));
}

void PgStore::pending(std::string receiver, std::int64_t after_id, int limit, Callback<std::vector<OrderRecord>> cb) {
  enqueue_read<std::vector<OrderRecord>>(
      [receiver = std::move(receiver), after_id, limit](pqxx::transaction_base& tx) {
        return reads::pending(tx, receiver, after_id, limit);
      },
      std::move(cb));
}

void PgStore::list(ListQuery query, Callback<std::vector<OrderRecord>> cb) {
  enqueue_read<std::vector<OrderRecord>>(
      [query = std::move(query)](pqxx::transaction_base& tx) { return reads::list(tx, query); }, std::move(cb));
}

void PgStore::list_orders(OrderFilter filter, Callback<OrderPage> cb) {
  enqueue_read<OrderPage>(
      [filter = std::move(filter)](pqxx::transaction_base& tx) { return reads::list_orders(tx, filter); },
      std::move(cb));
}

void PgStore::get_order(std::int64_t order_id, Callback<OrderDetail> cb) {
  enqueue_read<OrderDetail>([order_id](pqxx::transaction_base& tx) { return reads::get_order(tx, order_id); },
                            std::move(cb));
}

}  // namespace possync::storage::postgres
