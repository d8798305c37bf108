#include "storage/sqlite/db.hpp"

#include <limits>

namespace possync::storage::sqlite {

bool is_transient(int code) noexcept {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
      return true;
    default:
      return false;
  }
}

protocol::Error SqliteError::to_error() const {
  if (is_transient(code_)) {
    return {protocol::ErrorCode::unavailable, std::string("store unavailable: ") + what()};
  }
  return {protocol::ErrorCode::internal, std::string("store error: ") + what()};
}

// ---------------------------------------------------------------------------

Query::Query(Db& db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {
  // A statement still mid-iteration belongs to another Query: reusing it
  // would silently reset that one. A bug, reported as such.
  if (sqlite3_stmt_busy(stmt_) != 0) {
    throw SqliteError(SQLITE_MISUSE, std::string("statement re-entered: ") + sqlite3_sql(stmt_));
  }
}

Query::~Query() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Query::check_bind(int rc, int index) const {
  if (rc != SQLITE_OK) {
    throw SqliteError(rc, "cannot bind parameter " + std::to_string(index) + " of '" + sqlite3_sql(stmt_) +
                              "': " + sqlite3_errstr(rc));
  }
}

void Query::bind_text(int index, std::string_view text) {
  check_bind(sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8), index);
}

void Query::bind_int64(int index, std::int64_t value) {
  check_bind(sqlite3_bind_int64(stmt_, index, static_cast<sqlite3_int64>(value)), index);
}

void Query::bind_null(int index) { check_bind(sqlite3_bind_null(stmt_, index), index); }

int Query::named_index(const char* name) const {
  const int index = sqlite3_bind_parameter_index(stmt_, name);
  if (index == 0) {
    throw SqliteError(SQLITE_RANGE, std::string("no parameter ") + name + " in '" + sqlite3_sql(stmt_) + "'");
  }
  return index;
}

bool Query::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_.fail(rc);
}

void Query::run() {
  while (step()) {
  }
}

std::int64_t Query::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

int Query::integer(int column) const {
  const std::int64_t value = int64(column);
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max()) {
    throw SqliteError(SQLITE_MISMATCH, "integer column out of range in '" + std::string(sqlite3_sql(stmt_)) + "'");
  }
  return static_cast<int>(value);
}

bool Query::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::string Query::text(int column) const {
  const unsigned char* data = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return {};
  return {reinterpret_cast<const char*>(data), static_cast<std::size_t>(size)};
}

std::optional<std::string> Query::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

// ---------------------------------------------------------------------------

Db::Db(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  handle_.reset(raw);
  if (rc != SQLITE_OK) {
    throw SqliteError(rc, raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
  }
  sqlite3_extended_result_codes(raw, 1);
}

Db::~Db() = default;

Query Db::query(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(handle(), sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(raw);
      std::string message = sqlite3_errmsg(handle());
      // A plain SQLITE_ERROR here is a bug in our SQL: name the statement.
      // Others ("file is not a database", …) speak for themselves.
      if ((rc & 0xff) == SQLITE_ERROR) message += " in '" + std::string(sql) + "'";
      throw SqliteError(rc, message);
    }
    it = cache_.emplace(std::string(sql), std::unique_ptr<sqlite3_stmt, Finalize>(raw)).first;
  }
  return Query(*this, it->second.get());
}

void Db::exec(const char* sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(handle(), sql, nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    throw SqliteError(rc, text);
  }
}

std::string Db::exec_text(std::string_view sql) {
  Query q = query(sql);
  std::string first;
  if (q.step()) first = q.text(0);
  q.run();
  return first;
}

std::int64_t Db::last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(handle()); }
int Db::changes() const noexcept { return sqlite3_changes(handle()); }
bool Db::in_transaction() const noexcept { return sqlite3_get_autocommit(handle()) == 0; }
bool Db::read_only() const noexcept { return sqlite3_db_readonly(handle(), "main") == 1; }

void Db::fail(int rc) const { throw SqliteError(rc, sqlite3_errmsg(handle())); }

}  // namespace possync::storage::sqlite
