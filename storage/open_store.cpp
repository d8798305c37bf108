// open_store: the one place that maps a store URL to a backend.
#include <string_view>

#include "storage/postgres/connection.hpp"
#include "storage/postgres/pg_store.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "storage/store.hpp"

namespace possync::storage {

namespace {

constexpr std::string_view kExpected = "(expected sqlite:PATH or postgresql://…)";

}  // namespace

std::unique_ptr<Store> open_store(const std::string& url, const StoreOptions& options, std::string& error) {
  constexpr std::string_view kSqlitePrefix = "sqlite:";
  if (url.starts_with(kSqlitePrefix)) {
    const std::string path = url.substr(kSqlitePrefix.size());
    if (path.empty()) {
      error = "unsupported store URL '" + url + "' " + std::string(kExpected);
      return nullptr;
    }
    if (path == ":memory:" || path.starts_with("file:")) {
      // Each connection would see its own private database (or a URI we do
      // not parse): the writer and the readers must share one file.
      error = "cannot open store " + url + ": only a file path is supported";
      return nullptr;
    }
    return sqlite::SqliteStore::open(path, options, error);
  }
  // libpq's own URI forms; their query parameters (options=-csearch_path%3D…,
  // sslmode=…) pass through to libpq unchanged.
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    return postgres::PgStore::open(url, options, error);
  }
  error = "unsupported store URL '" + redact_store_url(url) + "' " + std::string(kExpected);
  return nullptr;
}

std::string redact_store_url(const std::string& url) { return postgres::redact_url(url); }

}  // namespace possync::storage
