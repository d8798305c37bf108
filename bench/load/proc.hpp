// Readings of this machine and of processes on it: a local broker's CPU and
// memory from /proc/PID/stat and /proc/PID/status, the harness's own CPU
// from getrusage, the load average, and the descriptor limit.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace possync::load {

struct ProcessSample {
  bool ok = false;
  double cpu_s = 0;          // user + system
  std::int64_t rss_kib = 0;  // VmRSS
  std::int64_t hwm_kib = 0;  // VmHWM, the peak RSS
  int threads = 0;
  std::int64_t write_bytes = 0;  // /proc/PID/io: bytes this process caused to be written to storage
};

// pid 0: nothing (ok = false).
ProcessSample sample_process(int pid);
// Several processes (the nodes of a cluster) as one: every figure summed
// (peak RSS too: the sum of each one's peak). ok only when each was read.
ProcessSample sample_processes(const std::vector<int>& pids);
// This process: CPU from getrusage(RUSAGE_SELF), memory from /proc/self.
ProcessSample sample_self();

std::array<double, 3> load_average();
int cpu_count();
std::string cpu_model();

// Raises RLIMIT_NOFILE's soft limit to the hard one; returns the new soft limit.
std::int64_t raise_fd_limit();

}  // namespace possync::load
