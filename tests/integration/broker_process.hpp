// The real possync-broker binary as a child process on an ephemeral
// 127.0.0.1 port (for kill -9, SIGTERM and the CLI): its port read from the
// "WebSocket ws://HOST:PORT/ws" line it prints; killed by its PID when the
// object goes (ChildProcess). Needs POSSYNC_BROKER_BIN (the integration_tests
// target defines it).
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"
#include "tests/integration/process.hpp"

namespace possync::test {

inline const std::string kProcessAdmin = "process-test-admin-token-0123456789";

struct BrokerProcess {
  std::unique_ptr<ChildProcess> proc;
  std::uint16_t port = 0;
  std::vector<std::string> lines;

  // `store`: a --store URL (sqlite:PATH or postgresql://…).
  explicit BrokerProcess(const std::string& store, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {POSSYNC_BROKER_BIN, "--listen", "127.0.0.1:0", "--store", store,
                                     "--admin-token", kProcessAdmin, "--log-level", "warn"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<ChildProcess>(argv);
    auto ws = proc->wait_line("WebSocket ws://", std::chrono::seconds(10));
    REQUIRE(ws);
    lines.push_back(*ws);
    std::smatch m;
    REQUIRE(std::regex_search(*ws, m, std::regex(R"(ws://127\.0\.0\.1:(\d+)/ws)")));
    port = static_cast<std::uint16_t>(std::stoi(m[1]));
  }

  int connections_of(const std::string& id) const { return session_connections(port, kProcessAdmin, id); }
  std::string add_session(const std::string& id, bool sender, bool receiver, const std::string& shop = "main") const {
    return put_session(port, kProcessAdmin, id, sender, receiver, shop);
  }
};

}  // namespace possync::test
