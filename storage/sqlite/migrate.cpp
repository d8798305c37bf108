#include <stdexcept>
#include <string>

#include "protocol/types.hpp"
#include "storage/sqlite/db.hpp"
#include "storage/sqlite/migrations.hpp"

namespace possync::storage::sqlite {

namespace {

// Rolls back an open transaction unless dismissed (commit happened).
class RollbackGuard {
 public:
  explicit RollbackGuard(Db& db) : db_(db) {}
  ~RollbackGuard() {
    if (armed_ && db_.in_transaction()) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  RollbackGuard(const RollbackGuard&) = delete;
  RollbackGuard& operator=(const RollbackGuard&) = delete;
  void dismiss() noexcept { armed_ = false; }

 private:
  Db& db_;
  bool armed_ = true;
};

}  // namespace

void migrate(Db& db, std::span<const Migration> migrations) {
  db.exec(
      "CREATE TABLE IF NOT EXISTS schema_version ("
      " version INTEGER PRIMARY KEY NOT NULL,"
      " name TEXT NOT NULL,"
      " applied_at TEXT NOT NULL)");

  const int newest_known = migrations.empty() ? 0 : migrations.back().version;
  {
    Query q = db.query("SELECT COALESCE(MAX(version), 0) FROM schema_version");
    q.step();
    const std::int64_t applied = q.int64(0);
    if (applied > newest_known) {
      throw std::runtime_error("the database has schema version " + std::to_string(applied) +
                               ", newer than this build knows (" + std::to_string(newest_known) + ")");
    }
  }

  for (const Migration& migration : migrations) {
    RollbackGuard guard(db);
    db.exec("BEGIN IMMEDIATE");
    bool applied = false;
    {
      Query q = db.query("SELECT 1 FROM schema_version WHERE version = ?1");
      q.bind(1, migration.version);
      applied = q.step();
    }
    if (!applied) {
      try {
        db.exec(std::string(migration.sql).c_str());
      } catch (const SqliteError& e) {
        throw SqliteError(e.code(), "migration " + std::string(migration.name) + " failed: " + e.what());
      }
      db.query("INSERT INTO schema_version (version, name, applied_at) VALUES (?1, ?2, ?3)")
          .bind_all(migration.version, migration.name, protocol::format_time_ms(protocol::now_unix_ms()))
          .run();
    }
    db.exec("COMMIT");
    guard.dismiss();
  }
}

}  // namespace possync::storage::sqlite
