// A thin RAII layer over one SQLite connection and its prepared statements.
//
// Contract: a Db belongs to exactly one thread at a time (connections are
// opened in multi-thread mode, SQLITE_OPEN_NOMUTEX). Statements are prepared
// once per connection (SQLITE_PREPARE_PERSISTENT) and cached by their SQL
// text; values always travel as bound parameters, never inside the text.
// Failures throw SqliteError, which never leaves storage/sqlite: the store's
// threads catch it and turn it into a protocol::Error with to_error().
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>

#include "protocol/types.hpp"

namespace possync::storage::sqlite {

class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  // The primary result code (SQLITE_BUSY, SQLITE_FULL, …).
  int code() const noexcept { return code_ & 0xff; }
  // `unavailable` for conditions that may pass (BUSY, LOCKED, FULL, IOERR,
  // READONLY, CANTOPEN): nothing was stored and a retry may work. `internal`
  // for everything else. The message includes SQLite's own text.
  protocol::Error to_error() const;

 private:
  int code_;
};

// True for the result codes that to_error() maps to `unavailable`.
bool is_transient(int code) noexcept;

class Db;

// One use of a cached statement: bind, step, read columns. Resets the
// statement and clears its bindings when it goes out of scope, so the next
// user starts clean. At most one Query per statement is alive at a time.
class Query {
 public:
  Query(Db& db, sqlite3_stmt* stmt);
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  // Binds text (anything convertible to std::string_view), integers, bool
  // (0/1), std::nullopt (NULL) or a std::optional of those (NULL when empty).
  template <class T>
  Query& bind(int index, const T& value);
  // Named parameter (":name"); throws when the statement has no such name.
  template <class T>
  Query& bind(const char* name, const T& value) {
    return bind(named_index(name), value);
  }
  // Binds ?1, ?2, … in order.
  template <class... Args>
  Query& bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
    return *this;
  }

  // Steps once: true when a row is available, false when done.
  bool step();
  // Steps to completion; for statements that return no rows.
  void run();

  std::int64_t int64(int column) const;
  int integer(int column) const;
  bool boolean(int column) const { return int64(column) != 0; }
  bool is_null(int column) const;
  std::string text(int column) const;
  std::optional<std::string> optional_text(int column) const;

 private:
  void bind_text(int index, std::string_view text);
  void bind_int64(int index, std::int64_t value);
  void bind_null(int index);
  int named_index(const char* name) const;
  void check_bind(int rc, int index) const;

  Db& db_;
  sqlite3_stmt* stmt_;
};

class Db {
 public:
  // Opens PATH with the sqlite3_open_v2 flags (SQLITE_OPEN_NOMUTEX is added).
  // Throws SqliteError with SQLite's message when it cannot.
  Db(const std::string& path, int flags);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // A Query on the statement cached for this SQL text (prepared on first use).
  Query query(std::string_view sql);
  // Runs one or more statements without parameters (PRAGMAs, migration scripts).
  void exec(const char* sql);
  // The first column of the first row of a parameterless statement, e.g. the
  // answer of a PRAGMA; empty when it returns no row.
  std::string exec_text(std::string_view sql);

  std::int64_t last_insert_rowid() const noexcept;
  int changes() const noexcept;
  bool in_transaction() const noexcept;
  bool read_only() const noexcept;
  sqlite3* handle() const noexcept { return handle_.get(); }

  // Throws SqliteError for `rc` with the connection's current message.
  [[noreturn]] void fail(int rc) const;

 private:
  struct Close {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
  };
  struct Finalize {
    void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
  };
  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  std::unique_ptr<sqlite3, Close> handle_;
  // Declared after handle_, so destroyed (finalized) before the connection closes.
  std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, Finalize>, TextHash, std::equal_to<>> cache_;
};

// ---------------------------------------------------------------------------

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
}  // namespace detail

template <class T>
Query& Query::bind(int index, const T& value) {
  if constexpr (std::is_same_v<T, std::nullopt_t>) {
    bind_null(index);
  } else if constexpr (detail::is_optional<T>::value) {
    if (value) {
      bind(index, *value);
    } else {
      bind_null(index);
    }
  } else if constexpr (std::is_same_v<T, bool>) {
    bind_int64(index, value ? 1 : 0);
  } else if constexpr (std::is_integral_v<T>) {
    bind_int64(index, static_cast<std::int64_t>(value));
  } else {
    bind_text(index, std::string_view(value));
  }
  return *this;
}

}  // namespace possync::storage::sqlite
