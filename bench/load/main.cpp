// possync-load: the load harness. Provisions sessions in shops through the
// ops API, drives a topology (or holds connections, or storms reconnects),
// measures latency, throughput and the broker's CPU and memory, and verifies
// that every acknowledged order reached every addressed receiver exactly
// once. See bench/README.md for what each mode answers when sizing a
// deployment, and `possync-load --help` for the options.
#include <csignal>
#include <cstdio>
#include <ctime>
#include <random>

#include "bench/load/modes.hpp"
#include "bench/load/options.hpp"
#include "bench/load/plan.hpp"
#include "bench/load/proc.hpp"
#include "bench/load/report.hpp"

namespace {

using namespace possync::load;

constexpr int kUsage = 2;
constexpr int kSetupFailed = 3;
// Descriptors the harness needs besides one per connection.
constexpr std::int64_t kSpareDescriptors = 64;

std::string random_id(const char* lead) {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%s%06x", lead, static_cast<unsigned>(rd() & 0xffffff));
  return buf;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool help = false;
  if (auto error = parse_options(argc, argv, o, help)) {
    std::fprintf(stderr, "possync-load: %s (see --help)\n", error->c_str());
    return kUsage;
  }
  if (help) {
    std::fputs(usage_text(), stdout);
    return 0;
  }
  std::signal(SIGPIPE, SIG_IGN);

  const std::string prefix = o.prefix.empty() ? random_id("ld") : o.prefix;
  Plan plan = make_plan(o, prefix);
  const auto fd_limit = raise_fd_limit();
  const auto needed = static_cast<std::int64_t>(plan.terminals.size()) + kSpareDescriptors;
  if (fd_limit >= 0 && fd_limit < needed) {
    std::fprintf(stderr, "possync-load: %zu connections need %lld descriptors; the hard limit is %lld\n",
                 plan.terminals.size(), static_cast<long long>(needed), static_cast<long long>(fd_limit));
    return kSetupFailed;
  }

  Report r;
  r.options = &o;
  r.prefix = prefix;
  r.run_id = random_id("r");
  r.started_at = utc_now();
  r.sessions = static_cast<int>(plan.terminals.size());
  r.shops = plan.shops;
  r.nproc = cpu_count();
  r.cpu_model = cpu_model();
  r.load_start = load_average();

  if (o.progress) std::fprintf(stderr, "provisioning %zu sessions in %d shops (prefix %s)…\n", plan.terminals.size(), plan.shops, prefix.c_str());
  if (auto error = provision(o, plan)) {
    std::fprintf(stderr, "possync-load: %s\n", error->c_str());
    return kSetupFailed;
  }
  if (!o.tokens_out.empty()) {
    if (auto error = save_tokens(o.tokens_out, plan)) std::fprintf(stderr, "possync-load: %s\n", error->c_str());
  }

  r.exit_code = run_mode(o, plan, prefix, r);
  r.load_end = load_average();

  const bool json_on_stdout = o.json_path == "-";
  print_report(json_on_stdout ? stderr : stdout, r);
  if (!o.json_path.empty() && !write_json(o.json_path, r)) {
    std::fprintf(stderr, "possync-load: cannot write %s\n", o.json_path.c_str());
  }
  return r.exit_code;
}
