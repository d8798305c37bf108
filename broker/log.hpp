// One-line structured logs on stderr: `text` (key=value) or `json` for log
// shippers. Thread-safe; each call writes one whole line.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace possync::broker {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

class Log {
 public:
  using Field = std::pair<std::string_view, std::string_view>;
  void configure(std::string_view format, std::string_view level);
  bool enabled(LogLevel level) const noexcept { return level >= level_; }
  void write(LogLevel level, std::string_view event, std::initializer_list<Field> fields);

 private:
  bool json_ = false;
  LogLevel level_ = LogLevel::info;
};

Log& logger();

}  // namespace possync::broker
