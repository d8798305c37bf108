// Internals of the `possync` command: argument parsing, output and the two
// families of commands (WebSocket requests, admin HTTP API). No Beast here:
// all network code is in the client library.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "clients/cpp/client.hpp"

namespace possync::cli {

// Exit codes (documented in --help).
enum ExitCode : int {
  kExitOk = 0,
  kExitBrokerError = 1,  // the broker answered with an error
  kExitUsage = 2,        // bad command line
  kExitUnreachable = 3,  // cannot connect, timeout, connection lost
};

// A command-line mistake; main prints "possync: <what>" and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Globals {
  std::string url;  // as given, for messages
  std::string host;
  std::uint16_t port = 0;
  std::string path;
  std::string session;
  std::string token;
  std::string admin_token;
  // TLS: wss:// in --url or --tls; the broker's certificate checked against
  // --ca (else the system's CAs) unless --insecure.
  bool tls = false;
  std::string ca_file;
  bool insecure = false;
};

// The client library's connection options for these globals (host, port,
// path, TLS; no session).
client::Options endpoint_options(const Globals& globals);

// The host, port and path of a ws:// or wss:// URL (wss:// sets tls);
// throws UsageError.
void parse_url(const std::string& url, Globals& out);

// One command's arguments after the command words: flags and positionals.
class Args {
 public:
  // `value_flags` take a value (`--x V` or `--x=V`); `switches` take none.
  Args(std::vector<std::string> words, const std::vector<std::string_view>& value_flags,
       const std::vector<std::string_view>& switches);

  bool has(std::string_view flag) const { return flags_.count(std::string(flag)) != 0; }
  std::optional<std::string> value(std::string_view flag) const;
  const std::vector<std::string>& positionals() const { return positionals_; }
  // Exactly `n` positionals, named in the error message (e.g. "ORDER_ID").
  void expect_positionals(std::size_t n, std::string_view names) const;

 private:
  std::map<std::string, std::string, std::less<>> flags_;
  std::vector<std::string> positionals_;
};

std::int64_t parse_int(std::string_view what, const std::string& text);
std::int64_t parse_order_id(const std::string& text);
std::vector<std::string> split_list(const std::string& text);  // "a, b,c" -> {a,b,c}
std::string url_encode(std::string_view text);

// Output. JSON is re-indented without touching number literals, so numbers
// beyond double precision in orders print exactly as the broker sent them.
std::string pretty_json(std::string_view text);  // the text itself when it is not JSON
std::string compact_json(std::string_view text);
std::string pretty_member(std::string_view text, std::string_view member);  // "" when absent
bool is_json_object(std::string_view text);
void print_line(const std::string& text);  // stdout, flushed
void complain(const std::string& text);     // "possync: <text>" on stderr

// Commands; each returns an exit code and throws UsageError on bad input.
int run_ws_command(const Globals& globals, const std::string& command, std::vector<std::string> words);
int run_admin_command(const Globals& globals, const std::string& command, std::vector<std::string> words);
int render_order(const std::string& body);  // `orders show`, readable

}  // namespace possync::cli
