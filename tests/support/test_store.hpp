// One test source, two stores: a fresh store location for the backend the
// environment names, so the same tests run against SQLite and PostgreSQL.
//
//   POSSYNC_TEST_STORE=sqlite    (default) a file in a new temporary directory
//   POSSYNC_TEST_STORE=postgres  a new schema t_<pid>_<n> in the database at
//                                POSSYNC_TEST_PG_URL, selected by the store URL
//                                (options=-csearch_path%3D<schema>)
//
// A PostgreSQL run without POSSYNC_TEST_PG_URL fails (throws), it does not
// skip: a green [pg] run must mean the tests ran against a server.
// scripts/pg-server.sh starts a throwaway server and prints the variables.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace possync::test {

enum class StoreBackend { sqlite, postgres };

// The backend named by POSSYNC_TEST_STORE; throws std::runtime_error for an
// unknown name, or for postgres without POSSYNC_TEST_PG_URL.
StoreBackend test_backend();
std::string_view to_string(StoreBackend backend);

// POSSYNC_TEST_PG_URL; throws when unset.
std::string pg_base_url();
// The base URL with options=-csearch_path%3D<schema> added.
std::string pg_url_for_schema(const std::string& base, const std::string& schema);

// A fresh, empty store location, removed (directory deleted, schema
// dropped) by the destructor. Close every store using it first.
class TestStore {
 public:
  // `pg_base`: the database to create the schema in (default
  // POSSYNC_TEST_PG_URL).
  explicit TestStore(StoreBackend backend = test_backend(), std::string pg_base = "");
  ~TestStore();
  TestStore(const TestStore&) = delete;
  TestStore& operator=(const TestStore&) = delete;

  StoreBackend backend() const noexcept { return backend_; }
  bool postgres() const noexcept { return backend_ == StoreBackend::postgres; }
  // The URL for storage::open_store (and possync-broker --store).
  const std::string& url() const noexcept { return url_; }
  // SQLite: the database file and its directory (empty for PostgreSQL).
  const std::filesystem::path& sqlite_file() const noexcept { return file_; }
  const std::filesystem::path& dir() const noexcept { return dir_; }
  // PostgreSQL: the schema (empty for SQLite).
  const std::string& schema() const noexcept { return schema_; }

  // Runs SQL on a separate connection to the same database (and schema).
  // Test code only: the SQL is a literal of the test.
  void exec(const std::string& sql) const;
  // The first column of the first row, as an integer / as text ("" when NULL
  // or no row).
  std::int64_t scalar(const std::string& sql) const;
  std::string text(const std::string& sql) const;

 private:
  StoreBackend backend_;
  std::string url_;
  std::filesystem::path dir_;
  std::filesystem::path file_;
  std::string schema_;
  std::string pg_base_;
};

using TestStorePtr = std::shared_ptr<TestStore>;

}  // namespace possync::test
