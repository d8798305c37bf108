#include <stdexcept>
#include <string>

#include "protocol/types.hpp"
#include "storage/postgres/migrations.hpp"

namespace possync::storage::postgres {

namespace {

// Serializes migrations per schema, across every node of the database.
// hashtext() of a constant prefix and the schema name: no value of ours in
// the text.
constexpr const char* kLock =
    "SELECT pg_advisory_xact_lock(hashtext('possync.migrate.' || coalesce(current_schema(), '')))";

constexpr const char* kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL)";

}  // namespace

void migrate(pqxx::connection_base& conn, std::span<const Migration> migrations) {
  {
    pqxx::nontransaction check(conn);
    if (check.exec1("SELECT current_schema() IS NULL")[0].as<bool>()) {
      throw std::runtime_error("no schema to create tables in (does the search_path name an existing schema?)");
    }
  }
  const int newest_known = migrations.empty() ? 0 : migrations.back().version;
  {
    pqxx::work tx(conn);
    tx.exec(kLock);
    tx.exec(kCreateVersionTable);
    const auto applied = tx.exec1("SELECT COALESCE(MAX(version), 0) FROM schema_version")[0].as<std::int64_t>();
    tx.commit();
    if (applied > newest_known) {
      throw std::runtime_error("the database has schema version " + std::to_string(applied) +
                               ", newer than this build knows (" + std::to_string(newest_known) + ")");
    }
  }

  for (const Migration& migration : migrations) {
    pqxx::work tx(conn);  // rolled back by its destructor unless committed
    tx.exec(kLock);
    const bool applied =
        !tx.exec_params("SELECT 1 FROM schema_version WHERE version = $1", migration.version).empty();
    if (!applied) {
      try {
        tx.exec(std::string(migration.sql));
      } catch (const pqxx::sql_error& e) {
        throw std::runtime_error("migration " + std::string(migration.name) + " failed: " + e.what());
      }
      tx.exec_params("INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)", migration.version,
                     std::string(migration.name), protocol::format_time_ms(protocol::now_unix_ms()));
    }
    tx.commit();
  }
}

}  // namespace possync::storage::postgres
