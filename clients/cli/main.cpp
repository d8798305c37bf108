// `possync`: the command-line client of the possync broker. This file reads
// the global options and hands the rest to a command; see --help.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "clients/cli/cli.hpp"

namespace {

using namespace possync::cli;

constexpr const char* kDefaultUrl = "ws://127.0.0.1:8080/ws";

constexpr const char* kUsage = R"(usage: possync [--url ws://HOST:PORT/ws] [--session ID] [--token T] [--admin-token T]
               [--tls] [--ca FILE] [--insecure] COMMAND ...

Global options (also from the environment):
  --url URL            broker WebSocket URL (POSSYNC_URL, default ws://127.0.0.1:8080/ws;
                       the path defaults to /ws; the admin API uses the same host:port)
  --session ID         POS session id (POSSYNC_SESSION)
  --token T            the session's token (POSSYNC_TOKEN)
  --admin-token T      the broker's admin token, for sessions/orders (POSSYNC_ADMIN_TOKEN)
  --tls                TLS to a broker started with --tls-cert (implied by a wss:// URL;
                       the admin API then uses https://)
  --ca FILE            PEM CA certificate(s) to verify the broker's certificate with
                       (POSSYNC_CA; default: the system's CAs); implies --tls
  --insecure           TLS without verifying the broker's certificate (tests only)
  --help, --version

POS commands (WebSocket, as --session):
  send --to ID[,ID...] [--mode copy|claim] [--ref REF] [FILE|-]
                       send the order JSON object from FILE or stdin; REF defaults
                       to a fresh unique one; prints the `sent` reply
  listen [--no-ack] [--count N]
                       print every push as one JSON line; ack each `order` push
                       unless --no-ack; stop after N pushes (else at Ctrl-C)
  list [--box inbox|outbox] [--status S1,S2] [--limit N] [--before ORDER_ID]
  deliver ORDER_ID
  reject ORDER_ID [--reason TEXT]
  cancel ORDER_ID
  directory            the sessions of my shop and who is online

Admin commands (HTTP API, with --admin-token):
  sessions list [--shop S]
  sessions add ID [--name N] [--shop S] [--sender] [--receiver]
                       (only the given fields are sent; new sessions default to
                       name ID, shop main, no roles)
  sessions update ID [--name N] [--shop S] [--sender|--no-sender] [--receiver|--no-receiver]
  sessions rotate ID   new token for ID (its connections are closed)
  sessions delete ID
  orders list [--shop S] [--sender S] [--receiver R] [--status S1,S2] [--ref R]
              [--limit N] [--before ORDER_ID]
  orders show ORDER_ID [--json]
                       the order, its deliveries and its history

Replies are printed as JSON on stdout. Exit status: 0 success, 1 the broker
answered with an error (code and message on stderr), 2 usage error, 3 cannot
connect, timeout or connection lost.
)";

std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

struct CommandLine {
  Globals globals;
  std::string command;
  std::vector<std::string> words;  // everything after the command but the global options
  bool help = false;
  bool version = false;
};

CommandLine parse_command_line(int argc, char** argv) {
  CommandLine out;
  std::string url = env_or("POSSYNC_URL", kDefaultUrl);
  out.globals.session = env_or("POSSYNC_SESSION", "");
  out.globals.token = env_or("POSSYNC_TOKEN", "");
  out.globals.admin_token = env_or("POSSYNC_ADMIN_TOKEN", "");
  out.globals.ca_file = env_or("POSSYNC_CA", "");
  const std::pair<std::string_view, std::string*> value_options[] = {{"--url", &url},
                                                                     {"--session", &out.globals.session},
                                                                     {"--token", &out.globals.token},
                                                                     {"--admin-token", &out.globals.admin_token},
                                                                     {"--ca", &out.globals.ca_file}};

  // Global options may come before or after the command.
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (!options_done && word == "--") {
      options_done = true;
      if (!out.command.empty()) out.words.push_back(word);
      continue;
    }
    if (!options_done && word.rfind("--", 0) == 0) {
      const auto eq = word.find('=');
      const std::string name = word.substr(0, eq);
      bool matched = false;
      for (const auto& [option, target] : value_options) {
        if (name != option) continue;
        matched = true;
        if (eq != std::string::npos) {
          *target = word.substr(eq + 1);
        } else if (i + 1 < argc) {
          *target = argv[++i];
        } else {
          throw UsageError("option " + name + " needs a value");
        }
      }
      if (matched) continue;
      if (word == "--help") {
        out.help = true;
        continue;
      }
      if (word == "--version") {
        out.version = true;
        continue;
      }
      if (word == "--tls" || word == "--insecure") {
        (word == "--tls" ? out.globals.tls : out.globals.insecure) = true;
        continue;
      }
    }
    if (word == "-h") {
      out.help = true;
    } else if (!out.command.empty()) {
      out.words.push_back(word);
    } else if (word.size() > 1 && word[0] == '-') {
      throw UsageError("unknown option " + word.substr(0, word.find('=')));
    } else {
      out.command = word;
    }
  }
  if (!out.globals.ca_file.empty() || out.globals.insecure) out.globals.tls = true;
  if (!out.help && !out.version) parse_url(url, out.globals);
  return out;
}

int run(int argc, char** argv) {
  const CommandLine line = parse_command_line(argc, argv);
  if (line.help) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (line.version) {
    std::puts("possync " POSSYNC_VERSION);
    return kExitOk;
  }
  if (line.command.empty()) throw UsageError("missing command (try possync --help)");
  if (line.command == "sessions" || line.command == "orders") {
    return run_admin_command(line.globals, line.command, line.words);
  }
  return run_ws_command(line.globals, line.command, line.words);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "possync: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "possync: %s\n", e.what());
    return kExitUnreachable;
  }
}
