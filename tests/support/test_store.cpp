#include "tests/support/test_store.hpp"

#include <sqlite3.h>
#include <stdlib.h>  // mkdtemp
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include <pqxx/pqxx>

namespace possync::test {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// The test's own SQLite connection (not the store's).
class SqliteConn {
 public:
  explicit SqliteConn(const fs::path& file) {
    if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw std::runtime_error("test: cannot open " + file.string() + ": " + message);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~SqliteConn() { sqlite3_close(db_); }
  SqliteConn(const SqliteConn&) = delete;
  SqliteConn& operator=(const SqliteConn&) = delete;

  // The first column of the first row as text; nullopt for NULL or no row.
  std::optional<std::string> first(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error("test: " + sql + ": " + sqlite3_errmsg(db_));
    }
    std::optional<std::string> out;
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw std::runtime_error("test: " + sql + ": " + sqlite3_errmsg(db_));
    return out;
  }
  void exec(const std::string& sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string text = message ? message : "failed";
      sqlite3_free(message);
      throw std::runtime_error("test: " + sql + ": " + text);
    }
  }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace

StoreBackend test_backend() {
  const std::string name = env("POSSYNC_TEST_STORE");
  if (name.empty() || name == "sqlite") return StoreBackend::sqlite;
  if (name == "postgres" || name == "postgresql") {
    pg_base_url();  // fails now, not later, when the server is not given
    return StoreBackend::postgres;
  }
  throw std::runtime_error("POSSYNC_TEST_STORE='" + name + "': expected sqlite or postgres");
}

std::string_view to_string(StoreBackend backend) {
  return backend == StoreBackend::postgres ? "postgres" : "sqlite";
}

std::string pg_base_url() {
  std::string url = env("POSSYNC_TEST_PG_URL");
  if (url.empty()) {
    throw std::runtime_error(
        "POSSYNC_TEST_PG_URL is not set: the PostgreSQL tests need a server "
        "(eval \"$(scripts/pg-server.sh start)\")");
  }
  return url;
}

std::string pg_url_for_schema(const std::string& base, const std::string& schema) {
  return base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema;
}

TestStore::TestStore(StoreBackend backend, std::string pg_base) : backend_(backend), pg_base_(std::move(pg_base)) {
  static std::atomic<int> counter{0};
  if (backend_ == StoreBackend::sqlite) {
    std::string pattern = (fs::temp_directory_path() / "possync-store-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("test: mkdtemp failed");
    dir_ = pattern;
    file_ = dir_ / "store.db";
    url_ = "sqlite:" + file_.string();
    return;
  }
  if (pg_base_.empty()) pg_base_ = pg_base_url();
  const std::string& base = pg_base_;
  schema_ = "t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  pqxx::connection conn(base);
  pqxx::nontransaction tx(conn);
  // A schema left by an earlier run that crashed goes first.
  tx.exec("DROP SCHEMA IF EXISTS " + tx.quote_name(schema_) + " CASCADE");
  tx.exec("CREATE SCHEMA " + tx.quote_name(schema_));
  url_ = pg_url_for_schema(base, schema_);
}

TestStore::~TestStore() {
  if (backend_ == StoreBackend::sqlite) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    return;
  }
  try {
    pqxx::connection conn(pg_base_);
    pqxx::nontransaction tx(conn);
    tx.exec("DROP SCHEMA IF EXISTS " + tx.quote_name(schema_) + " CASCADE");
  } catch (...) {
    // The server may be gone (an outage test that failed); the schema then
    // goes with the throwaway server.
  }
}

void TestStore::exec(const std::string& sql) const {
  if (backend_ == StoreBackend::sqlite) {
    SqliteConn(file_).exec(sql);
    return;
  }
  pqxx::connection conn(url_);
  pqxx::nontransaction tx(conn);
  tx.exec(sql);
}

std::string TestStore::text(const std::string& sql) const {
  if (backend_ == StoreBackend::sqlite) return SqliteConn(file_).first(sql).value_or("");
  pqxx::connection conn(url_);
  pqxx::nontransaction tx(conn);
  const pqxx::result r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

std::int64_t TestStore::scalar(const std::string& sql) const {
  const std::string value = text(sql);
  if (value.empty()) throw std::runtime_error("test: no number from " + sql);
  return std::stoll(value);
}

}  // namespace possync::test
