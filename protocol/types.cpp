#include "protocol/types.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace possync::protocol {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::bad_json: return "bad_json";
    case ErrorCode::bad_request: return "bad_request";
    case ErrorCode::unauthorized: return "unauthorized";
    case ErrorCode::forbidden: return "forbidden";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::conflict: return "conflict";
    case ErrorCode::too_large: return "too_large";
    case ErrorCode::rate_limited: return "rate_limited";
    case ErrorCode::unavailable: return "unavailable";
    case ErrorCode::internal: return "internal";
  }
  return "internal";
}

namespace {
constexpr std::array<std::string_view, 6> kStatusNames = {"sent",      "received",  "delivered",
                                                          "rejected",  "cancelled", "taken"};
}

std::string_view to_string(Status s) noexcept { return kStatusNames[static_cast<std::size_t>(s)]; }

std::optional<Status> parse_status(std::string_view s) noexcept {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i) {
    if (kStatusNames[i] == s) return static_cast<Status>(i);
  }
  return std::nullopt;
}

bool is_final(Status s) noexcept {
  return s == Status::delivered || s == Status::rejected || s == Status::cancelled || s == Status::taken;
}

bool can_transition(Status from, Status to) noexcept {
  if (from == Status::sent && to == Status::received) return true;
  return (from == Status::sent || from == Status::received) && is_final(to);
}

std::string_view to_string(Mode m) noexcept { return m == Mode::claim ? "claim" : "copy"; }

std::optional<Mode> parse_mode(std::string_view s) noexcept {
  if (s == "copy") return Mode::copy;
  if (s == "claim") return Mode::claim;
  return std::nullopt;
}

bool valid_session_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 64) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(id[0])) return false;
  for (char c : id.substr(1)) {
    if (!alnum(c) && c != '.' && c != '_' && c != ':' && c != '-') return false;
  }
  return true;
}

std::string format_time_ms(std::int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  int ms = static_cast<int>(unix_ms % 1000);
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return std::string(buf.data());
}

std::int64_t now_unix_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace possync::protocol
