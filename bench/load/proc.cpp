#include "bench/load/proc.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace possync::load {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The number after `key` (e.g. "VmRSS:") in a /proc status text, or 0.
std::int64_t status_field(const std::string& status, const char* key) {
  const auto at = status.find(key);
  if (at == std::string::npos) return 0;
  return std::strtoll(status.c_str() + at + std::strlen(key), nullptr, 10);
}

void fill_memory(const std::string& status, ProcessSample& s) {
  s.rss_kib = status_field(status, "VmRSS:");
  s.hwm_kib = status_field(status, "VmHWM:");
  s.threads = static_cast<int>(status_field(status, "Threads:"));
}

double timeval_s(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

}  // namespace

ProcessSample sample_process(int pid) {
  ProcessSample s;
  if (pid <= 0) return s;
  const std::string dir = "/proc/" + std::to_string(pid);
  const std::string stat = read_file(dir + "/stat");
  // The command name (field 2) may hold spaces and parentheses: count the
  // fields after its last ')'. utime and stime are fields 14 and 15.
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return s;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int n = 3; n <= 15 && fields >> field; ++n) {
    if (n == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (n == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  s.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  fill_memory(read_file(dir + "/status"), s);
  s.write_bytes = status_field(read_file(dir + "/io"), "write_bytes:");
  s.ok = s.rss_kib > 0;
  return s;
}

ProcessSample sample_processes(const std::vector<int>& pids) {
  ProcessSample sum;
  for (int pid : pids) {
    const auto s = sample_process(pid);
    if (!s.ok) return {};
    sum.cpu_s += s.cpu_s;
    sum.rss_kib += s.rss_kib;
    sum.hwm_kib += s.hwm_kib;
    sum.threads += s.threads;
    sum.write_bytes += s.write_bytes;
  }
  sum.ok = !pids.empty();
  return sum;
}

ProcessSample sample_self() {
  ProcessSample s;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  s.cpu_s = timeval_s(usage.ru_utime) + timeval_s(usage.ru_stime);
  fill_memory(read_file("/proc/self/status"), s);
  s.ok = true;
  return s;
}

std::array<double, 3> load_average() {
  std::array<double, 3> out{};
  std::istringstream in(read_file("/proc/loadavg"));
  in >> out[0] >> out[1] >> out[2];
  return out;
}

int cpu_count() { return static_cast<int>(std::thread::hardware_concurrency()); }

std::string cpu_model() {
  std::istringstream in(read_file("/proc/cpuinfo"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

std::int64_t raise_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) getrlimit(RLIMIT_NOFILE, &limit);
  }
  return static_cast<std::int64_t>(limit.rlim_cur);
}

}  // namespace possync::load
