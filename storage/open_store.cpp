// open_store: the one place that maps a store URL to a backend. A new backend
// (postgresql://…, coming from its own issue) adds one branch here.
#include <string_view>

#include "storage/sqlite/sqlite_store.hpp"
#include "storage/store.hpp"

namespace possync::storage {

std::unique_ptr<Store> open_store(const std::string& url, const StoreOptions& options, std::string& error) {
  constexpr std::string_view kSqlitePrefix = "sqlite:";
  if (url.starts_with(kSqlitePrefix)) {
    const std::string path = url.substr(kSqlitePrefix.size());
    if (path.empty()) {
      error = "unsupported store URL '" + url + "' (expected sqlite:PATH)";
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
  error = "unsupported store URL '" + url + "' (expected sqlite:PATH)";
  return nullptr;
}

}  // namespace possync::storage
