// possync-broker: parse the command line, open the store, serve until
// SIGINT/SIGTERM, then drain and exit 0. Bad flags and unusable stores get
// one clear line on stderr and exit code 2.
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>

#include "broker/log.hpp"
#include "broker/server.hpp"
#include "storage/store.hpp"
#include "storage/tokens.hpp"

namespace {

using namespace possync;

// Blocks the main thread (never an io thread) on one store call.
template <class T, class Call>
protocol::Result<T> wait_for(Call call) {
  std::promise<protocol::Result<T>> p;
  auto f = p.get_future();
  call([&p](protocol::Result<T> r) { p.set_value(std::move(r)); });
  return f.get();
}

struct DemoSession {
  const char* id;
  const char* name;
  bool sender;
  bool receiver;
};

// Creates the demo sessions when missing and gives each a fresh token (the
// store keeps only hashes, so a token can be shown only when it is made).
bool set_up_demo(storage::Store& store, std::string& out) {
  for (auto d : {DemoSession{"counter-1", "Counter 1", true, false}, DemoSession{"kitchen-1", "Kitchen 1", false, true},
                 DemoSession{"bar-1", "Bar 1", true, true}}) {
    storage::SessionUpdate u;
    u.session = d.id;
    auto put = wait_for<storage::PutSessionOutcome>([&](auto cb) { store.put_session(u, cb); });
    if (!put.ok()) return out = "cannot create demo session " + std::string(d.id) + ": " + put.error().message, false;
    std::string token;
    if (put.value().created) {
      token = *put.value().token;
      u.name = d.name;
      u.sender = d.sender;
      u.receiver = d.receiver;
      auto upd = wait_for<storage::PutSessionOutcome>([&](auto cb) { store.put_session(u, cb); });
      if (!upd.ok()) return out = "cannot set up demo session " + std::string(d.id) + ": " + upd.error().message, false;
    } else {
      auto rot = wait_for<std::string>([&](auto cb) { store.rotate_token(d.id, cb); });
      if (!rot.ok()) return out = "cannot rotate demo token " + std::string(d.id) + ": " + rot.error().message, false;
      token = rot.value();
    }
    out += "demo session " + std::string(d.id) + " token " + token + "\n";
  }
  return true;
}

int exit_with(broker::ExitCode code) { return static_cast<int>(code); }

}  // namespace

int main(int argc, char** argv) {
  auto args = broker::parse_args(argc, argv, [](const char* name) { return std::getenv(name); });
  if (args.next == broker::ParsedArgs::Next::print) {
    std::cout << args.output << std::flush;
    return exit_with(broker::ExitCode::ok);
  }
  if (args.next == broker::ParsedArgs::Next::bad_config) {
    std::cerr << args.output << std::endl;
    return exit_with(broker::ExitCode::bad_config);
  }
  auto config = std::move(args.config);
  broker::logger().configure(config.log_format, config.log_level);
  if (config.admin_token.empty()) {
    config.admin_token = storage::generate_token();
    config.admin_token_generated = true;
  }

  if (auto bad = broker::check_tls_files(config); !bad.empty()) {
    std::cerr << "possync-broker: " << bad << std::endl;
    return exit_with(broker::ExitCode::bad_config);
  }

  std::string error;
  auto store = storage::open_store(config.store_url, storage::StoreOptions{}, error);
  if (!store) {
    std::cerr << "possync-broker: " << error << std::endl;
    return exit_with(broker::ExitCode::bad_config);
  }
  std::string demo_lines;
  if (config.demo && !set_up_demo(*store, demo_lines)) {
    std::cerr << "possync-broker: " << demo_lines << std::endl;
    return exit_with(broker::ExitCode::bad_config);
  }

  {
    broker::Server server(config, *store);
    if (auto failure = server.start(); !failure.empty()) {
      std::cerr << "possync-broker: " << failure << std::endl;
      store->close();
      return exit_with(broker::ExitCode::bad_config);
    }
    server.handle_signals();
    std::string host = config.listen_host.find(':') != std::string::npos ? "[" + config.listen_host + "]"
                                                                          : config.listen_host;
    std::string base = host + ":" + std::to_string(server.port());
    // With TLS every connection is TLS: the URLs say so.
    const bool tls = !config.tls_cert_file.empty();
    const std::string ws = tls ? "wss://" : "ws://";
    const std::string http = tls ? "https://" : "http://";
    std::cout << "WebSocket " << ws << base << "/ws\n"
              << "Dashboard " << http << base << "/\n"
              << "POS " << http << base << "/pos\n"
              << "Metrics " << http << base << "/metrics\n"
              << demo_lines;
    if (config.admin_token_generated) std::cout << "admin token " << config.admin_token << "\n";
    std::cout << std::flush;
    broker::logger().write(broker::LogLevel::info, "started",
                           {{"listen", base},
                            {"tls", tls ? "on" : "off"},
                            {"store", storage::redact_store_url(config.store_url)},
                            {"version", POSSYNC_VERSION}});
    server.wait();
    server.stop();
    // Commits already queued finish (their callbacks post into the stopped
    // loop, which the server's destructor discards) before the store closes.
    store->close();
  }
  broker::logger().write(broker::LogLevel::info, "stopped", {});
  return exit_with(broker::ExitCode::ok);
}
