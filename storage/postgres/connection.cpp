#include "storage/postgres/connection.hpp"

#include <string_view>

#include "storage/postgres/statements.hpp"

namespace possync::storage::postgres {

namespace {

Failure classify_sqlstate(std::string_view state) noexcept {
  // Class 08: connection exceptions. 57P01-57P03: the server is shutting
  // down, crashed, or not yet accepting connections. 53300: no free
  // connection slot. All pass when the server (or a slot) comes back.
  if (state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03" || state == "53300") {
    return Failure::connection;
  }
  if (state == "40001" || state == "40P01") return Failure::retry;
  if (state == "55P03") return Failure::busy;  // lock_not_available: lock_timeout passed
  return Failure::other;
}

}  // namespace

Failure classify_current() noexcept {
  try {
    throw;
  } catch (const pqxx::in_doubt_error&) {
    return Failure::connection;
  } catch (const pqxx::statement_completion_unknown&) {
    return Failure::connection;
  } catch (const pqxx::broken_connection&) {
    return Failure::connection;
  } catch (const pqxx::serialization_failure&) {
    return Failure::retry;
  } catch (const pqxx::deadlock_detected&) {
    return Failure::retry;
  } catch (const pqxx::sql_error& e) {
    return classify_sqlstate(e.sqlstate());
  } catch (...) {
    return Failure::other;
  }
}

std::string current_reason() {
  std::string text;
  try {
    throw;
  } catch (const std::exception& e) {
    text = e.what();
  } catch (...) {
    text = "unknown failure";
  }
  // libpq ends messages with a newline and adds indented hint lines: keep
  // one line, the hints joined with a space.
  std::string line;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\t' || c == '\r') {
      space = !line.empty();
      continue;
    }
    if (space) line += ' ';
    space = false;
    line += c;
  }
  return line.empty() ? "unknown failure" : line;
}

std::string redact_url(const std::string& url) {
  // scheme://user:password@host… → scheme://user:***@host…
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const auto authority = scheme_end + 3;
  const auto at = url.find('@', authority);
  const auto slash = url.find('/', authority);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return url;
  const auto colon = url.find(':', authority);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

std::string libpq_url(const std::string& url) {
  std::string out = url;
  const bool has_query = out.find('?') != std::string::npos;
  char separator = has_query ? '&' : '?';
  const auto add = [&](std::string_view key, std::string_view value) {
    if (out.find(std::string(key) + "=") != std::string::npos) return;
    out += separator;
    out += key;
    out += '=';
    out += value;
    separator = '&';
  };
  // An unreachable host must fail in seconds, not after the kernel's TCP timeout.
  add("connect_timeout", "5");
  add("application_name", "possync");
  return out;
}

std::unique_ptr<pqxx::connection> connect(const std::string& url, bool prepare) {
  auto conn = std::make_unique<pqxx::connection>(url);
  {
    pqxx::nontransaction tx(*conn);
    tx.exec("SET lock_timeout = " + std::to_string(kLockTimeoutMs));
  }
  if (prepare) declare_statements(*conn);
  return conn;
}

}  // namespace possync::storage::postgres
