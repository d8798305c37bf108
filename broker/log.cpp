#include "broker/log.hpp"

#include <cstdio>
#include <mutex>

#include "protocol/types.hpp"

namespace possync::broker {
namespace {

std::mutex g_mu;

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

constexpr std::string_view kLevelNames[] = {"debug", "info", "warn", "error"};

}  // namespace

void Log::configure(std::string_view format, std::string_view level) {
  json_ = format == "json";
  for (int i = 0; i < 4; ++i) {
    if (kLevelNames[i] == level) level_ = static_cast<LogLevel>(i);
  }
}

void Log::write(LogLevel level, std::string_view event, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string line;
  std::string ts = protocol::format_time_ms(protocol::now_unix_ms());
  auto lvl = kLevelNames[static_cast<int>(level)];
  if (json_) {
    line = "{\"ts\":\"" + ts + "\",\"level\":\"" + std::string(lvl) + "\",\"event\":";
    append_json_string(line, event);
    for (const auto& [k, v] : fields) {
      line += ',';
      append_json_string(line, k);
      line += ':';
      append_json_string(line, v);
    }
    line += "}\n";
  } else {
    line = ts + " " + std::string(lvl) + " " + std::string(event);
    for (const auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      bool quote = v.empty() || v.find_first_of(" \"=") != std::string_view::npos;
      if (quote) append_json_string(line, v);
      else line += v;
    }
    line += '\n';
  }
  std::lock_guard lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

Log& logger() {
  static Log log;
  return log;
}

}  // namespace possync::broker
