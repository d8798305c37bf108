// A PostgreSQL server of a test's own, for tests that stop and start it
// (an outage) without disturbing the tests that share the suite's server.
// Started with scripts/pg-server.sh (POSSYNC_TEST_PG_CTL) under the suite's
// server directory (POSSYNC_TEST_PG_DIR), so stopping that one also stops
// this one if the test crashes; stopped by the destructor otherwise.
#pragma once

#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <memory>
#include <string>

#include "tests/support/test_store.hpp"

namespace possync::test {

// Runs a shell command; its standard output.
inline std::string shell_output(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::array<char, 512> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) out += buffer.data();
  const int status = ::pclose(pipe);
  if (status != 0) throw std::runtime_error("command failed (" + std::to_string(status) + "): " + command);
  return out;
}

class PrivateServer {
 public:
  PrivateServer() {
    const char* ctl = std::getenv("POSSYNC_TEST_PG_CTL");
    if (ctl == nullptr || *ctl == '\0') {
      throw std::runtime_error("POSSYNC_TEST_PG_CTL is not set (scripts/pg-server.sh start prints it)");
    }
    ctl_ = ctl;
    const char* parent = std::getenv("POSSYNC_TEST_PG_DIR");
    const std::string under = parent && *parent ? " --under '" + std::string(parent) + "'" : "";
    const std::string out = shell_output("'" + ctl_ + "' start" + under);
    std::size_t start = 0;
    while (start < out.size()) {
      auto end = out.find('\n', start);
      if (end == std::string::npos) end = out.size();
      const std::string line = out.substr(start, end - start);
      start = end + 1;
      const std::string prefix = "export ";
      const auto eq = line.find('=');
      if (line.rfind(prefix, 0) != 0 || eq == std::string::npos) continue;
      vars_[line.substr(prefix.size(), eq - prefix.size())] = line.substr(eq + 1);
    }
    if (vars_["POSSYNC_TEST_PG_URL"].empty() || vars_["POSSYNC_TEST_PG_DIR"].empty()) {
      throw std::runtime_error("pg-server.sh start printed no URL: " + out);
    }
  }
  ~PrivateServer() {
    try {
      shell_output("'" + ctl_ + "' stop '" + dir() + "'");
    } catch (...) {
    }
  }
  PrivateServer(const PrivateServer&) = delete;
  PrivateServer& operator=(const PrivateServer&) = delete;

  std::string url() { return vars_["POSSYNC_TEST_PG_URL"]; }
  // A fresh schema in this server's database.
  TestStorePtr new_location() { return std::make_shared<TestStore>(StoreBackend::postgres, url()); }
  std::string dir() { return vars_["POSSYNC_TEST_PG_DIR"]; }
  void pause() { shell_output("'" + ctl_ + "' pause '" + dir() + "'"); }
  void resume() { shell_output("'" + ctl_ + "' resume '" + dir() + "'"); }

 private:
  std::string ctl_;
  std::map<std::string, std::string> vars_;
};

}  // namespace possync::test
