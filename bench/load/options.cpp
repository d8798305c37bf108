#include "bench/load/options.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <string_view>

namespace possync::load {

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::load: return "load";
    case Mode::soak: return "soak";
    case Mode::idle: return "idle";
    case Mode::storm: return "storm";
  }
  return "?";
}

const char* topology_name(Topology topology) {
  switch (topology) {
    case Topology::pairs: return "pairs";
    case Topology::fanout: return "fanout";
    case Topology::mesh: return "mesh";
    case Topology::claim: return "claim";
  }
  return "?";
}

const char* usage_text() {
  return R"(possync-load: drive a possync broker with POS-like traffic and verify every delivery

usage: possync-load [--mode load|soak|idle|storm] [options]

broker
  --host H                   broker address (default 127.0.0.1)
  --port P                   broker port (default 8080)
  --receiver-port P          receive-only sessions connect to this port instead (another node of a
                             cluster: provisioning and /api/stats still go to --host/--port; not for
                             mesh or idle, whose terminals both send and receive)
  --receiver-host H          and to this host (default: --host)
  --admin-token T            provision the sessions through the ops API
  --tokens FILE              or use sessions provisioned earlier ("session token" lines)
  --save-tokens FILE         write the provisioned sessions' tokens for a later --tokens
  --prefix P                 session, shop and ref prefix (default: random per run)
  --broker-pid PID           a local broker: report its CPU and RSS from /proc; repeat it for the
                             nodes of a cluster (their CPU, disk writes and RSS are summed)

traffic (modes load and soak)
  --topology pairs|fanout|mesh|claim   (default pairs)
     pairs   S senders, each to its own receiver            --senders S (10)
     fanout  S senders, each to its own K receivers          --senders S (1) --receivers K (10)
     claim   as fanout, mode claim: the K receivers race to deliver every order
     mesh    N terminals, each sends to M random peers of its shop   --terminals N (20) --to M (2)
  --shop-size N              terminals per shop (default 10; a fanout group needs K+1)
  --window W                 sends in flight per sender (default 4)
  --rate R                   orders/s over all senders (default 0: flat out within the window)
  --duration S               seconds of sending (default 10)
  --count N                  orders in total; the run ends at whichever limit comes first
  --lines L                  lines per order (default 5)
  --no-ack                   receivers do not ack pushes (copy mode)
  --interval S               soak: report every S seconds (default 60)

other modes
  --mode idle  --connections N --hold S    open N sessions' connections, hold them, report broker RSS per connection
  --mode storm --receivers K --pending P   K receivers with P pending orders each reconnect at once; time to replay all

harness
  --threads N                client io threads (default 1)
  --connect-concurrency N    connects in progress at once (default 200; storm: all at once)
  --local-addrs N            bind clients to 127.0.0.2..N+1 (default: one per 5000 connections above 5000)
  --provision-parallel N     concurrent ops API requests while provisioning (default 8)
  --request-timeout-ms N     request and handshake timeout (default 30000)
  --drain-timeout S          after sending: wait at most S for replies and pushes (default 30)
  --json FILE                write the machine-readable report ("-": stdout, the human one goes to stderr)
  --quiet                    no progress line
  --help

exit: 0 verified; 1 something lost, unexpected or a claim without exactly one winner; 2 usage; 3 set-up failed
)";
}

namespace {

std::optional<std::string> to_int(std::string_view text, std::int64_t lo, std::int64_t hi, std::int64_t& out) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < lo || v > hi) {
    return "must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
  }
  out = v;
  return std::nullopt;
}

std::optional<std::string> to_double(std::string_view text, double lo, double& out) {
  std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v < lo) {
    return "must be a number >= " + std::to_string(lo);
  }
  out = v;
  return std::nullopt;
}

using Setter = std::function<std::optional<std::string>(std::string_view)>;

template <typename T>
Setter integer(T& field, std::int64_t lo, std::int64_t hi) {
  return [&field, lo, hi](std::string_view v) {
    std::int64_t n = 0;
    auto err = to_int(v, lo, hi, n);
    if (!err) field = static_cast<T>(n);
    return err;
  };
}

Setter append(std::vector<int>& field, int lo, int hi) {
  return [&field, lo, hi](std::string_view v) {
    std::int64_t n = 0;
    auto err = to_int(v, lo, hi, n);
    if (!err) field.push_back(static_cast<int>(n));
    return err;
  };
}

Setter number(double& field, double lo) {
  return [&field, lo](std::string_view v) { return to_double(v, lo, field); };
}

Setter text(std::string& field) {
  return [&field](std::string_view v) -> std::optional<std::string> {
    if (v.empty()) return std::string("must not be empty");
    field = std::string(v);
    return std::nullopt;
  };
}

template <typename E>
Setter choice(E& field, std::map<std::string_view, E> names) {
  return [&field, names = std::move(names)](std::string_view v) -> std::optional<std::string> {
    auto it = names.find(v);
    if (it == names.end()) return std::string("unknown value '") + std::string(v) + "'";
    field = it->second;
    return std::nullopt;
  };
}

}  // namespace

std::optional<std::string> parse_options(int argc, char** argv, Options& o, bool& help) {
  constexpr std::int64_t kBig = 1'000'000'000;
  const std::map<std::string_view, Setter> valued = {
      {"--mode", choice(o.mode, {{"load", Mode::load}, {"soak", Mode::soak}, {"idle", Mode::idle}, {"storm", Mode::storm}})},
      {"--topology", choice(o.topology, {{"pairs", Topology::pairs}, {"fanout", Topology::fanout},
                                         {"mesh", Topology::mesh}, {"claim", Topology::claim}})},
      {"--host", text(o.host)},
      {"--port", integer(o.port, 1, 65535)},
      {"--receiver-host", text(o.receiver_host)},
      {"--receiver-port", integer(o.receiver_port, 1, 65535)},
      {"--admin-token", text(o.admin_token)},
      {"--tokens", text(o.tokens_in)},
      {"--save-tokens", text(o.tokens_out)},
      {"--prefix", text(o.prefix)},
      {"--broker-pid", append(o.broker_pids, 1, 1 << 30)},
      {"--senders", integer(o.senders, 1, 100000)},
      {"--receivers", integer(o.receivers, 1, 100000)},
      {"--terminals", integer(o.terminals, 2, 100000)},
      {"--to", integer(o.to, 1, 64)},
      {"--shop-size", integer(o.shop_size, 2, 100000)},
      {"--connections", integer(o.connections, 1, 100000)},
      {"--window", integer(o.window, 1, 100000)},
      {"--rate", number(o.rate, 0)},
      {"--duration", number(o.duration_s, 0)},
      {"--count", integer(o.count, 0, kBig * 1000)},
      {"--lines", integer(o.lines, 1, 1000)},
      {"--pending", integer(o.pending, 1, 100000)},
      {"--hold", number(o.hold_s, 0)},
      {"--interval", number(o.interval_s, 1)},
      {"--threads", integer(o.threads, 1, 256)},
      {"--connect-concurrency", integer(o.connect_concurrency, 1, 1000000)},
      {"--local-addrs", integer(o.local_addrs, 0, 250)},
      {"--provision-parallel", integer(o.provision_parallel, 1, 256)},
      {"--request-timeout-ms", integer(o.request_timeout_ms, 100, 3600 * 1000)},
      {"--drain-timeout", number(o.drain_timeout_s, 0)},
      {"--json", text(o.json_path)},
  };
  help = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      return std::nullopt;
    }
    if (arg == "--no-ack") {
      o.ack = false;
      continue;
    }
    if (arg == "--quiet") {
      o.progress = false;
      continue;
    }
    std::string_view key = arg, value;
    bool inline_value = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      key = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    auto it = valued.find(key);
    if (it == valued.end()) return "unknown option " + std::string(key);
    if (!inline_value) {
      if (i + 1 >= argc) return std::string(key) + " needs a value";
      value = argv[++i];
    }
    if (auto err = it->second(value)) return std::string(key) + ": " + *err;
  }

  // Defaults that depend on the topology or mode.
  const bool groups = o.topology == Topology::fanout || o.topology == Topology::claim;
  if (o.senders == 0) o.senders = groups ? 1 : 10;
  if (o.receivers == 0) o.receivers = o.mode == Mode::storm ? 1000 : 10;
  if (o.connect_concurrency == 0) o.connect_concurrency = o.mode == Mode::storm ? 1000000 : 200;
  const bool elsewhere = !o.receiver_host.empty() || o.receiver_port != 0;
  if (o.receiver_host.empty()) o.receiver_host = o.host;
  if (o.receiver_port == 0) o.receiver_port = o.port;

  if (o.admin_token.empty() && o.tokens_in.empty()) return std::string("--admin-token or --tokens is required");
  if (o.mode == Mode::soak && o.rate <= 0) return std::string("--mode soak needs --rate");
  if ((o.mode == Mode::load || o.mode == Mode::soak) && o.duration_s <= 0 && o.count <= 0) {
    return std::string("--duration or --count must be positive");
  }
  if (o.topology == Topology::mesh && o.to > std::min(o.terminals, o.shop_size) - 1) {
    return std::string("--to must be below the mesh's shop size (min of --terminals and --shop-size)");
  }
  if (elsewhere && (o.mode == Mode::idle || (o.mode != Mode::storm && o.topology == Topology::mesh))) {
    return std::string("--receiver-host/--receiver-port: mesh and idle terminals both send and receive; use pairs, fanout, claim or storm");
  }
  if (groups && o.receivers > 64) return std::string("--receivers: at most 64 receivers per order (the protocol's limit)");
  return std::nullopt;
}

}  // namespace possync::load
