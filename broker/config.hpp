// The broker's configuration: every limit and timeout is a named option
// here, with its documented default, parsed from the command line and the
// environment (POSSYNC_LISTEN, POSSYNC_STORE, POSSYNC_ADMIN_TOKEN).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/types.hpp"

namespace possync::broker {

struct Config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string store_url = "sqlite:possync.db";
  std::string admin_token;            // generated at start when empty
  bool admin_token_generated = false;
  bool demo = false;
  std::string node_id;                // default: hostname:port
  int node_heartbeat_ms = 1000;       // cluster: how often this node proves it is alive
  int node_timeout_ms = 10000;        // cluster: a node silent this long is dead, its sessions offline
  int threads = 0;                    // io threads; 0 = hardware threads

  int hello_timeout_ms = 10000;
  int heartbeat_ms = 15000;           // ping period; silent 2x this → closed
  std::size_t max_message_bytes = 262144;

  // Per connection: outgoing frames/bytes queued before the slow-consumer close.
  std::size_t max_queued_frames = 8192;
  std::size_t max_queued_bytes = 16 * 1024 * 1024;
  // Requests of one connection waiting on the store before reading pauses.
  int max_inflight_requests = 128;
  // Requests per second per session (token bucket, burst = 2 s worth).
  double rate_limit_per_second = 500;
  // Protocol errors (bad_json, bad_request, too_large, unauthorized,
  // rate_limited) per minute on one connection before closing it with 4429.
  int max_errors_per_minute = 100;

  // Every open connection (HTTP before an upgrade included), checked at
  // accept: kept below the fd limit, so idle floods cannot stop accepting.
  std::size_t max_connections = 15000;
  std::size_t max_connections_per_session = 64;
  // HTTP before any upgrade: bounded headers and body, and a deadline for a
  // whole request (from the connection's start, or from the previous reply
  // on a kept-alive one), so a slow header trickle or an idle connection is
  // cut.
  std::size_t max_http_header_bytes = 16 * 1024;
  std::size_t max_http_body_bytes = 1024 * 1024;
  int http_timeout_ms = 30000;
  // TLS handshake (when TLS is on) and WebSocket upgrade reply, each.
  int handshake_timeout_ms = 10000;
  int drain_timeout_ms = 5000;        // graceful shutdown bound

  // Browser origins allowed on /ws and /api/live (empty: any). Requests
  // without an Origin header (non-browser clients) are always allowed.
  std::vector<std::string> allowed_origins;

  // PEM files; both or neither. With them every connection is TLS
  // (https:// and wss:// on the listen port); without, every one is plain.
  std::string tls_cert_file;
  std::string tls_key_file;

  std::string log_format = "text";    // text | json
  std::string log_level = "info";     // debug | info | warn | error

  protocol::Limits limits;
};

// The broker process's exit codes.
enum class ExitCode : int {
  ok = 0,          // stopped by a signal after draining, or --help / --version
  bad_config = 2,  // a bad flag, environment variable, TLS file, store URL or store
};

struct ParsedArgs {
  enum class Next {
    run,         // start the broker with `config`
    print,       // print `output` on stdout and exit ExitCode::ok (--help, --version)
    bad_config,  // print `output` (one line) on stderr and exit ExitCode::bad_config
  };
  Config config;
  Next next = Next::run;
  std::string output;
};

// PROTOCOL.md clarification 19: no Origin header, or no allow-list, passes.
// The broker's own origin (pages it serves: /, /pos) always passes; `host`
// is the request's Host header.
bool origin_allowed(const Config& config, std::string_view origin, std::string_view host);

using EnvLookup = std::function<const char*(const char*)>;
ParsedArgs parse_args(int argc, const char* const* argv, const EnvLookup& env);
std::string usage_text();

}  // namespace possync::broker
