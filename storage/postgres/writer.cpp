// The writer thread of PgStore: group commit through the order engine
// (storage/engine/batch.hpp) on its own connection, with reconnection.
#include <algorithm>
#include <chrono>

#include "storage/postgres/connection.hpp"
#include "storage/postgres/pg_store.hpp"
#include "storage/postgres/statements.hpp"
#include "storage/postgres/writes.hpp"
#include "storage/engine/thread_name.hpp"

namespace possync::storage::postgres {

namespace {

// How often an idle writer checks that its connection still works.
constexpr std::chrono::seconds kProbeInterval{1};

Error unavailable(std::string message) { return {ErrorCode::unavailable, std::move(message)}; }

}  // namespace

void PgStore::writer_loop() {
  engine::name_this_thread("store-writer");
  const std::size_t max_batch = std::max<std::size_t>(options_.max_batch, 1);
  std::vector<engine::WriteJobPtr> batch;
  Backoff backoff;
  for (;;) {
    if (!writer_conn_) {
      if (!reconnect_writer()) {
        // Nothing waits for a server that is gone: refuse what is queued.
        fail_queued_writes();
        if (write_queue_.closed()) {
          fail_queued_writes();
          return;
        }
        write_queue_.closed_within(backoff.next());
        continue;
      }
      backoff.reset();
    }

    // Group commit: everything queued behind the previous batch goes in this one.
    const auto taken = write_queue_.take(batch, max_batch, kProbeInterval);
    if (taken == engine::Taken::finished) return;  // closed and drained
    if (taken == engine::Taken::timed_out) {
      probe_writer();
      continue;
    }
    engine::run_batch(batch_rows_, batch, writer_stats_, engine::BatchPolicy{kMaxBatchAttempts});
    batch.clear();
  }
}

bool PgStore::reconnect_writer() {
  try {
    writer_conn_ = connect(url_);
    PgBatch::set_up(*writer_conn_);
    writer_up_ = true;
    writer_stats_.last_batch_failed = false;
    return true;
  } catch (...) {
    writer_conn_.reset();
    writer_up_ = false;
    set_connection_error(current_reason());
    return false;
  }
}

void PgStore::probe_writer() noexcept {
  if (writer_stats_.last_batch_failed) ++write_probes_;
  try {
    pqxx::nontransaction tx(*writer_conn_);
    tx.exec_prepared(stmt::kPing);
    writer_stats_.last_batch_failed = false;
  } catch (...) {
    if (classify_current() == Failure::connection) {
      set_connection_error(current_reason());
      writer_conn_.reset();
      writer_up_ = false;
    }
  }
}

void PgStore::fail_queued_writes() {
  auto jobs = write_queue_.take_all();
  if (jobs.empty()) return;
  const Error error = unavailable("store unavailable: " + connection_error());
  for (auto& job : jobs) job->fail(error);
}

}  // namespace possync::storage::postgres
