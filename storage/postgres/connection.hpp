// Connections of the PostgreSQL backend and the boundary where libpqxx
// exceptions become storage errors.
//
// Contract: a connection belongs to exactly one store thread. It is never
// reused after it broke: the thread drops it and opens a new one (libpqxx
// 6's silent reactivation is switched off), so prepared statements and
// LISTEN are always set up by connect(). Every SQL text with values lives
// in statements.cpp as a named prepared statement; the only texts executed
// directly are the fixed transaction-control ones (SAVEPOINT …).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <pqxx/pqxx>

#include "protocol/types.hpp"

namespace possync::storage::postgres {

// What a failure means for the thread that met it.
enum class Failure {
  connection,  // the server is gone, shutting down or unreachable: reconnect; `unavailable`
  retry,       // serialization failure or deadlock: the transaction may simply be run again
  busy,        // waited past lock_timeout for a lock another connection holds: `unavailable`
  other,       // anything else (a bug, a constraint we did not expect): `internal`
};

// Classifies the exception being handled. Call only inside a catch block.
Failure classify_current() noexcept;
// The exception being handled as one line of text (libpq's multi-line
// messages folded). Call only inside a catch block.
std::string current_reason();

// "postgresql://user:***@host:port/db…": the URL with its password hidden,
// for messages and logs.
std::string redact_url(const std::string& url);

// The URL as libpq gets it: unchanged, plus connect_timeout and
// application_name unless the URL sets them.
std::string libpq_url(const std::string& url);

// How long a statement waits for a lock another connection holds before it
// fails (Failure::busy): the counterpart of SQLite's busy timeout.
inline constexpr int kLockTimeoutMs = 5000;

// Opens a connection with lock_timeout set and every prepared statement of
// the backend prepared (statements.cpp; unless `prepare` is false: before
// the migrations, the tables they name may not exist yet). Throws
// (pqxx::broken_connection when the server cannot be reached).
std::unique_ptr<pqxx::connection> connect(const std::string& libpq_url, bool prepare = true);

// Exponential backoff for reconnecting: 100 ms, 200 ms, … capped at 2 s.
class Backoff {
 public:
  std::chrono::milliseconds next() noexcept {
    const auto delay = delay_;
    delay_ = std::min(delay_ * 2, kMax);
    return delay;
  }
  void reset() noexcept { delay_ = kFirst; }

 private:
  static constexpr std::chrono::milliseconds kFirst{100};
  static constexpr std::chrono::milliseconds kMax{2000};
  std::chrono::milliseconds delay_ = kFirst;
};

}  // namespace possync::storage::postgres
