// Child processes for tests that need the real binaries: the broker killed
// with SIGKILL and restarted, the CLI driven from a test. Every process is
// stopped by its PID when the test ends, also when the test fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace possync::test {

class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();  // SIGKILL if still running, then reap
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next line of its stdout, or nullopt on EOF or after the timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  // Reads stdout lines until one starts with `prefix`; returns it.
  std::optional<std::string> wait_line(const std::string& prefix, std::chrono::milliseconds timeout);
  void signal(int sig);
  // Exit code (128+signal when killed), or nullopt if still running after the timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
  std::optional<int> status_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs a command to completion with `input` on stdin; killed after `timeout`.
CommandResult run_command(const std::vector<std::string>& argv, const std::string& input = "",
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));

}  // namespace possync::test
