#include "broker/config.hpp"

#include <charconv>
#include <fstream>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

namespace possync::broker {
namespace {

std::optional<long long> parse_int(std::string_view s, long long min, long long max) {
  long long v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < min || v > max) return std::nullopt;
  return v;
}

// "HOST:PORT" (IPv6 as "[::1]:PORT").
bool parse_listen(std::string_view s, Config& c) {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  auto host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto port = parse_int(s.substr(colon + 1), 0, 65535);
  if (!port) return false;
  c.listen_host = std::string(host);
  c.listen_port = static_cast<std::uint16_t>(*port);
  return true;
}

// The first line of a file, without its line end; at least 16 characters.
bool read_token_file(std::string_view path, std::string& out) {
  std::ifstream in{std::string(path)};
  std::string line;
  if (!in || !std::getline(in, line)) return false;
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  if (line.size() < 16) return false;
  out = std::move(line);
  return true;
}

// One option: its name, its value's description for --help, and how to apply a value.
struct Option {
  const char* name;
  const char* value;  // nullptr: a flag without a value
  const char* help;
  std::function<bool(Config&, std::string_view)> apply;
};

template <class T>
std::function<bool(Config&, std::string_view)> int_into(T Config::*field, long long min, long long max) {
  return [field, min, max](Config& c, std::string_view v) {
    auto n = parse_int(v, min, max);
    if (!n) return false;
    c.*field = static_cast<T>(*n);
    return true;
  };
}

// A non-empty string (a path or URL).
std::function<bool(Config&, std::string_view)> string_into(std::string Config::*field) {
  return [field](Config& c, std::string_view v) {
    if (v.empty()) return false;
    c.*field = std::string(v);
    return true;
  };
}

template <class T>
std::function<bool(Config&, std::string_view)> limit_into(T protocol::Limits::*field, long long min,
                                                          long long max) {
  return [field, min, max](Config& c, std::string_view v) {
    auto n = parse_int(v, min, max);
    if (!n) return false;
    c.limits.*field = static_cast<T>(*n);
    return true;
  };
}

const std::vector<Option>& options() {
  constexpr long long kBig = std::numeric_limits<int>::max();
  static const std::vector<Option> opts = {
      {"--listen", "HOST:PORT", "address to serve on (default 127.0.0.1:8080; env POSSYNC_LISTEN)",
       [](Config& c, std::string_view v) { return parse_listen(v, c); }},
      {"--store", "URL",
       "sqlite:PATH or postgresql://USER[:PASS]@HOST[:PORT]/DB[?PARAMS] (default sqlite:possync.db; env "
       "POSSYNC_STORE)",
       string_into(&Config::store_url)},
      {"--admin-token", "TOKEN", "bearer token of the ops API (env POSSYNC_ADMIN_TOKEN; generated when absent)",
       [](Config& c, std::string_view v) {
         if (v.size() < 16) return false;
         c.admin_token = std::string(v);
         return true;
       }},
      {"--admin-token-file", "FILE",
       "read the admin token from FILE (its first line), so it stays out of the process list",
       [](Config& c, std::string_view v) { return read_token_file(v, c.admin_token); }},
      {"--demo", nullptr, "create the demo sessions counter-1, kitchen-1, bar-1 and print fresh tokens",
       [](Config& c, std::string_view) {
         c.demo = true;
         return true;
       }},
      {"--node-id", "ID", "this node's id in stats and logs (default HOST:PORT)",
       [](Config& c, std::string_view v) {
         if (!protocol::valid_session_id(v)) return false;
         c.node_id = std::string(v);
         return true;
       }},
      {"--node-heartbeat-ms", "N", "cluster: heartbeat period of this node (default 1000)",
       int_into(&Config::node_heartbeat_ms, 100, 60000)},
      {"--node-timeout-ms", "N", "cluster: a node silent this long is dead and its sessions go offline (default 10000)",
       int_into(&Config::node_timeout_ms, 500, 600000)},
      {"--threads", "N", "io threads (default: hardware threads)", int_into(&Config::threads, 1, 256)},
      {"--hello-timeout-ms", "N", "close with 4408 without hello in time (default 10000)",
       int_into(&Config::hello_timeout_ms, 100, 3600000)},
      {"--heartbeat-ms", "N", "WebSocket ping period; silent 2x N closes (default 15000)",
       int_into(&Config::heartbeat_ms, 100, 3600000)},
      {"--max-message-bytes", "N", "largest incoming frame, else close 1009 (default 262144)",
       int_into(&Config::max_message_bytes, 1024, 64LL * 1024 * 1024)},
      {"--max-lines", "N", "lines per order (default 1000)", limit_into(&protocol::Limits::max_lines, 1, 100000)},
      {"--max-receivers", "N", "receivers per send (default 64)",
       limit_into(&protocol::Limits::max_receivers, 1, 1024)},
      {"--max-text-chars", "N", "name/note lengths in code points (default 4096)",
       limit_into(&protocol::Limits::max_text_chars, 16, 1 << 20)},
      {"--max-queued-frames", "N", "outgoing frames queued per connection before the slow-consumer close (default 8192)",
       int_into(&Config::max_queued_frames, 16, kBig)},
      {"--max-queued-bytes", "N", "outgoing bytes queued per connection before the slow-consumer close (default 16 MiB)",
       int_into(&Config::max_queued_bytes, 65536, 1LL << 34)},
      {"--max-inflight", "N", "requests per connection awaiting the store before reading pauses (default 128)",
       int_into(&Config::max_inflight_requests, 1, 65536)},
      {"--rate-limit", "N", "requests per second per session (default 500, burst 2 s)",
       [](Config& c, std::string_view v) {
         auto n = parse_int(v, 1, 10000000);
         if (!n) return false;
         c.rate_limit_per_second = static_cast<double>(*n);
         return true;
       }},
      {"--max-errors-per-minute", "N", "protocol errors per connection per minute before close 4429 (default 100)",
       int_into(&Config::max_errors_per_minute, 1, kBig)},
      {"--max-connections", "N",
       "open connections in total, HTTP and WebSocket; beyond it a new one is closed at once (default 15000)", int_into(&Config::max_connections, 1, 1000000)},
      {"--max-connections-per-session", "N", "connections per session (default 64)",
       int_into(&Config::max_connections_per_session, 1, 100000)},
      {"--max-http-header-bytes", "N", "HTTP request headers, else 431 (default 16384)",
       int_into(&Config::max_http_header_bytes, 1024, 1 << 20)},
      {"--max-http-body-bytes", "N", "HTTP request body, else 413 (default 1048576)",
       int_into(&Config::max_http_body_bytes, 1024, 1LL << 30)},
      {"--http-timeout-ms", "N",
       "a whole HTTP request (headers and body) must arrive within N ms, else the connection closes (default 30000)",
       int_into(&Config::http_timeout_ms, 100, 3600000)},
      {"--handshake-timeout-ms", "N", "TLS handshake and WebSocket upgrade, each (default 10000)",
       int_into(&Config::handshake_timeout_ms, 100, 600000)},
      {"--drain-timeout-ms", "N", "graceful shutdown bound (default 5000)", int_into(&Config::drain_timeout_ms, 0, 600000)},
      {"--allowed-origins", "LIST", "comma-separated browser origins allowed on /ws and /api/live (default: any)",
       [](Config& c, std::string_view v) {
         c.allowed_origins.clear();
         while (!v.empty()) {
           auto comma = v.find(',');
           auto item = v.substr(0, comma);
           while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
           while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
           if (item.empty()) return false;
           c.allowed_origins.emplace_back(item);
           v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
         }
         return !c.allowed_origins.empty();
       }},
      {"--tls-cert", "FILE",
       "PEM certificate (chain) for TLS; with --tls-key every connection is TLS: https:// and wss:// on the listen "
       "port, no plain connections (default: no TLS)",
       string_into(&Config::tls_cert_file)},
      {"--tls-key", "FILE", "PEM private key of --tls-cert", string_into(&Config::tls_key_file)},
      {"--log-format", "text|json", "log line format (default text)",
       [](Config& c, std::string_view v) {
         if (v != "text" && v != "json") return false;
         c.log_format = std::string(v);
         return true;
       }},
      {"--log-level", "LEVEL", "debug|info|warn|error (default info)",
       [](Config& c, std::string_view v) {
         if (v != "debug" && v != "info" && v != "warn" && v != "error") return false;
         c.log_level = std::string(v);
         return true;
       }},
  };
  return opts;
}

}  // namespace

bool origin_allowed(const Config& config, std::string_view origin, std::string_view host) {
  if (origin.empty() || config.allowed_origins.empty()) return true;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (!host.empty() && origin.size() == scheme.size() + host.size() && origin.starts_with(scheme) &&
        origin.substr(scheme.size()) == host) {
      return true;
    }
  }
  for (const auto& o : config.allowed_origins) {
    if (o == origin) return true;
  }
  return false;
}

std::string usage_text() {
  std::string out =
      "possync-broker " POSSYNC_VERSION " - real-time order sync for POS terminals\n\n"
      "usage: possync-broker [options]\n\n";
  for (const auto& o : options()) {
    std::string left = std::string("  ") + o.name + (o.value ? std::string(" ") + o.value : "");
    if (left.size() < 34) left.resize(34, ' ');
    else left += "\n" + std::string(34, ' ');
    out += left + o.help + "\n";
  }
  out += "  --help                          this text\n  --version                       the version\n";
  return out;
}

ParsedArgs parse_args(int argc, const char* const* argv, const EnvLookup& env) {
  ParsedArgs r;
  auto fail = [&r](std::string msg) {
    r.next = ParsedArgs::Next::bad_config;
    r.output = "possync-broker: " + std::move(msg);
    return r;
  };
  // The environment first, so flags override it.
  struct EnvVar {
    const char* var;
    const char* flag;
  };
  for (auto [var, flag] : {EnvVar{"POSSYNC_LISTEN", "--listen"}, EnvVar{"POSSYNC_STORE", "--store"},
                           EnvVar{"POSSYNC_ADMIN_TOKEN", "--admin-token"}}) {
    const char* v = env ? env(var) : nullptr;
    if (!v || !*v) continue;
    for (const auto& o : options()) {
      if (std::string_view(o.name) == flag && !o.apply(r.config, v)) {
        return fail(std::string("bad value in ") + var + ": '" + v + "'");
      }
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      r.next = ParsedArgs::Next::print;
      r.output = usage_text();
      return r;
    }
    if (arg == "--version") {
      r.next = ParsedArgs::Next::print;
      r.output = "possync-broker " POSSYNC_VERSION "\n";
      return r;
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (auto eq = arg.find('='); eq != std::string_view::npos && arg.starts_with("--")) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    const Option* opt = nullptr;
    for (const auto& o : options()) {
      if (name == o.name) opt = &o;
    }
    if (!opt) return fail("unknown option '" + std::string(arg) + "' (see --help)");
    if (opt->value && !value) {
      if (i + 1 >= argc) return fail(std::string(opt->name) + " needs a value " + opt->value);
      value = argv[++i];
    }
    if (!opt->value && value) return fail(std::string(opt->name) + " takes no value");
    if (!opt->apply(r.config, value.value_or(""))) {
      return fail("bad value for " + std::string(opt->name) + ": '" + std::string(value.value_or("")) +
                  "' (expected " + opt->value + ")");
    }
  }
  if (r.config.tls_cert_file.empty() != r.config.tls_key_file.empty()) {
    return fail("--tls-cert and --tls-key go together");
  }
  return r;
}

}  // namespace possync::broker
