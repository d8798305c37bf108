// The writer thread of PgStore: group commit on its own connection, with
// reconnection and the retry rules of pg_store.hpp.
#include <algorithm>
#include <chrono>

#include "storage/postgres/connection.hpp"
#include "storage/postgres/feed.hpp"
#include "storage/postgres/pg_store.hpp"
#include "storage/postgres/statements.hpp"

namespace possync::storage::postgres {

namespace {

// How often an idle writer checks that its connection still works.
constexpr std::chrono::seconds kProbeInterval{1};

Error unavailable(std::string message) { return {ErrorCode::unavailable, std::move(message)}; }

}  // namespace

void PgStore::writer_loop() {
  const std::size_t max_batch = std::clamp<std::size_t>(options_.max_batch, 1, kMaxRequestsPerTransaction);
  std::vector<WriteJobPtr> batch;
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
    run_batch(batch);
    batch.clear();
  }
}

bool PgStore::reconnect_writer() {
  try {
    writer_conn_ = connect(url_);
    writer_up_ = true;
    last_batch_failed_ = false;
    return true;
  } catch (...) {
    writer_conn_.reset();
    writer_up_ = false;
    set_connection_error(current_reason());
    return false;
  }
}

void PgStore::probe_writer() noexcept {
  if (last_batch_failed_) ++write_probes_;
  try {
    pqxx::nontransaction tx(*writer_conn_);
    tx.exec_prepared(stmt::kPing);
    last_batch_failed_ = false;
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

void PgStore::fail_batch(std::vector<WriteJobPtr>& batch, const std::string& reason) {
  ++batches_failed_;
  last_batch_failed_ = true;
  const Error error = unavailable("store unavailable: " + reason);
  for (auto& job : batch) job->fail(error);
}

void PgStore::run_batch(std::vector<WriteJobPtr>& batch) {
  std::string reason;
  bool reconnected = false;
  bool careful = false;
  for (int attempt = 1;; ++attempt) {
    switch (try_batch(batch, reason, careful)) {
      case BatchResult::careful:
        // Not a failed attempt: the same batch, request by request.
        careful = true;
        --attempt;
        continue;
      case BatchResult::committed:
        ++batches_committed_;
        writes_committed_ += batch.size();
        last_batch_failed_ = false;
        for (auto& job : batch) job->complete();
        return;
      case BatchResult::retry:
        // Another node holds rows this batch needs, or the two deadlocked:
        // PostgreSQL rolled this one back; running it again usually passes.
        if (attempt < kMaxBatchAttempts) continue;
        fail_batch(batch, reason + " (gave up after " + std::to_string(attempt) + " attempts)");
        return;
      case BatchResult::connection_lost:
        // Lost before COMMIT was sent: nothing of the batch is stored, and a
        // fresh connection may serve it at once (one backend killed).
        writer_conn_.reset();
        set_connection_error(reason);
        if (!reconnected && reconnect_writer()) {
          reconnected = true;
          continue;
        }
        writer_up_ = false;
        fail_batch(batch, reason);
        return;
      case BatchResult::in_doubt:
        writer_conn_.reset();
        writer_up_ = false;
        set_connection_error(reason);
        fail_batch(batch, "the connection broke during COMMIT; the outcome is unknown, retry (" + reason + ")");
        return;
      case BatchResult::failed:
        fail_batch(batch, reason);
        return;
    }
  }
}

// A batch runs plain first: its requests one after another in one
// transaction, nothing else between them. A savepoint per request costs a
// round trip each, and round trips are most of what a write costs here
// (bench/results/2026-11-27-pg-plain-batches.md). PostgreSQL aborts the
// whole transaction on any error, and a refused request (not_found,
// conflict, …) must leave nothing behind; so when one is refused or fails,
// the plain attempt is rolled back before anything was answered and the
// batch runs again carefully: each request in its SAVEPOINT, a refused or
// failing one rolled back alone. Running a request twice is invisible, as
// no callback has run yet.
PgStore::BatchResult PgStore::try_batch(std::vector<WriteJobPtr>& batch, std::string& reason, bool careful) {
  bool committing = false;
  try {
    pqxx::work tx(*writer_conn_);
    const std::optional<std::string> node = node_id();
    std::vector<std::int64_t> history_ids;
    // In the careful run, the statements that end one request's savepoint
    // and open the next one's go in one round trip (a multi-statement simple
    // query). After a refused request, ROLLBACK TO leaves the savepoint
    // standing for the next.
    if (careful) tx.exec("SAVEPOINT request");
    for (std::size_t i = 0; i < batch.size(); ++i) {
      auto& job = batch[i];
      WriteContext context{tx, node, {}};
      bool ok = false;
      try {
        ok = job->execute(context);
      } catch (...) {
        // Connection losses and serialization failures concern the whole
        // batch; anything else only this request.
        if (classify_current() != Failure::other) throw;
        job->set_error({ErrorCode::internal, "store error: " + current_reason()});
      }
      if (ok) history_ids.insert(history_ids.end(), context.history_ids.begin(), context.history_ids.end());
      if (!careful) {
        if (ok) continue;
        tx.abort();
        return BatchResult::careful;
      }
      const bool last = i + 1 == batch.size();
      if (ok) {
        tx.exec(last ? "RELEASE SAVEPOINT request" : "RELEASE SAVEPOINT request; SAVEPOINT request");
      } else {
        // A refused request (not_found, conflict, …) leaves nothing behind.
        tx.exec(last ? "ROLLBACK TO SAVEPOINT request; RELEASE SAVEPOINT request" : "ROLLBACK TO SAVEPOINT request");
      }
    }
    if (!history_ids.empty()) {
      // Delivered to the other nodes only if, and when, this commits.
      for (const std::string& payload : feed::encode({feed::history_record(node.value_or(""), history_ids)})) {
        tx.exec_prepared(stmt::kNotify, channel_, payload);
      }
    }
    committing = true;
    tx.commit();
    return BatchResult::committed;
  } catch (const pqxx::in_doubt_error&) {
    reason = current_reason();
    return BatchResult::in_doubt;
  } catch (...) {
    reason = current_reason();
    switch (classify_current()) {
      case Failure::connection:
        return committing ? BatchResult::in_doubt : BatchResult::connection_lost;
      case Failure::retry:
        return BatchResult::retry;
      case Failure::busy:
      case Failure::other:
        break;
    }
    return BatchResult::failed;
  }
}

}  // namespace possync::storage::postgres
