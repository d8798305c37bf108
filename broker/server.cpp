#include "broker/server.hpp"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <openssl/ssl.h>
#include <unistd.h>

#include "broker/cluster.hpp"
#include "broker/log.hpp"
#include "broker/net.hpp"
#include "storage/engine/thread_name.hpp"

namespace possync::broker {

namespace {

// The server side of TLS from PEM files: TLS 1.2 or newer, the key checked
// against the certificate. "" on success, else one line naming the file.
std::string load_tls(asio::ssl::context& tls, const Config& config) {
  SSL_CTX* native = tls.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                  asio::ssl::context::single_dh_use);
  beast::error_code ec;
  tls.use_certificate_chain_file(config.tls_cert_file, ec);
  if (ec) return "cannot use --tls-cert " + config.tls_cert_file + ": " + ec.message();
  tls.use_private_key_file(config.tls_key_file, asio::ssl::context::pem, ec);
  if (ec) return "cannot use --tls-key " + config.tls_key_file + ": " + ec.message();
  if (SSL_CTX_check_private_key(native) != 1) {
    return "--tls-key " + config.tls_key_file + " does not match the certificate in " + config.tls_cert_file;
  }
  return "";
}

}  // namespace

std::string check_tls_files(const Config& config) {
  if (config.tls_cert_file.empty()) return "";
  asio::ssl::context tls(asio::ssl::context::tls_server);
  return load_tls(tls, config);
}

struct Server::Impl {
  Impl(Config c, storage::Store& store)
      : config(std::move(c)),
        router(RouterLimits{config.max_connections, config.max_connections_per_session, config.rate_limit_per_second}),
        services{store, router, config},
        api(services),
        ctx{services, api},
        relay(store, router),
        acceptor(asio::make_strand(ioc)),
        accept_pause(acceptor.get_executor()),
        signals(ioc) {}

  // Members are destroyed in reverse: the io_context (and every handler it
  // still holds) goes before the router and services those handlers use.
  Config config;
  Router router;
  Services services;
  AdminApi api;
  NetContext ctx;
  ClusterRelay relay;
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  tcp::acceptor acceptor;
  asio::steady_timer accept_pause;
  asio::signal_set signals;
  std::optional<asio::ssl::context> tls;
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  // On the acceptor's strand only.
  std::chrono::steady_clock::time_point last_refusal_log{};
  std::uint64_t refused_since_log = 0;

  std::mutex mu;
  std::condition_variable cv;
  bool stop_requested = false;
  bool stopped = false;
  bool stopping = false;

  void do_accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        // Out of descriptors (EMFILE) or a transient failure: keep the
        // listener alive, try again shortly.
        logger().write(LogLevel::warn, "accept_failed", {{"error", ec.message()}});
        accept_pause.expires_after(std::chrono::milliseconds(100));
        accept_pause.async_wait([this](beast::error_code e) {
          if (!e) do_accept();
        });
        return;
      }
      // Every connection counts, before any byte arrives: idle or half-open
      // ones cannot exhaust the descriptors and stop the accept loop.
      if (ctx.live_sessions.load() >= static_cast<std::int64_t>(config.max_connections)) {
        refuse(socket);
      } else {
        start_http_session(std::move(socket), ctx);
      }
      do_accept();
    });
  }

  // Closes a connection over --max-connections. Logged at most once a
  // second (with the count since), so a flood does not flood the log too.
  void refuse(tcp::socket& socket) {
    beast::error_code ignored;
    socket.close(ignored);
    ++refused_since_log;
    auto now = std::chrono::steady_clock::now();
    if (now - last_refusal_log < std::chrono::seconds(1)) return;
    logger().write(LogLevel::warn, "connections_refused",
                   {{"count", std::to_string(refused_since_log)}, {"reason", "--max-connections reached"}});
    last_refusal_log = now;
    refused_since_log = 0;
  }

  void request_stop() {
    std::lock_guard lock(mu);
    stop_requested = true;
    cv.notify_all();
  }
};

Server::Server(Config config, storage::Store& store) : impl_(std::make_unique<Impl>(std::move(config), store)) {}

Server::~Server() { stop(); }

std::string Server::start() {
  auto& i = *impl_;
  if (!i.config.tls_cert_file.empty()) {
    i.tls.emplace(asio::ssl::context::tls_server);
    if (auto failure = load_tls(*i.tls, i.config); !failure.empty()) return failure;
    i.ctx.tls = &*i.tls;
  }
  beast::error_code ec;
  auto address = asio::ip::make_address(i.config.listen_host, ec);
  if (ec) return "bad listen address '" + i.config.listen_host + "': " + ec.message();
  tcp::endpoint ep(address, i.config.listen_port);
  i.acceptor.open(ep.protocol(), ec);
  if (!ec) i.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(ep, ec);
  if (!ec) i.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return "cannot listen on " + i.config.listen_host + ":" + std::to_string(i.config.listen_port) + ": " +
           ec.message();
  }
  i.port = i.acceptor.local_endpoint().port();
  if (i.config.node_id.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    i.config.node_id = std::string(host) + ":" + std::to_string(i.port);
  }
  i.relay.start(ClusterSettings{i.config.node_id, i.config.node_heartbeat_ms, i.config.node_timeout_ms});
  i.do_accept();
  int n = i.config.threads > 0 ? i.config.threads : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  for (int t = 0; t < n; ++t) {
    i.threads.emplace_back([&i] {
      storage::engine::name_this_thread("io");
      for (;;) {
        try {
          i.ioc.run();
          return;
        } catch (const std::exception& e) {
          // A handler threw: log it and keep serving the others.
          logger().write(LogLevel::error, "handler_exception", {{"what", e.what()}});
        }
      }
    });
  }
  return "";
}

std::uint16_t Server::port() const { return impl_->port; }
const Config& Server::config() const { return impl_->config; }
Router& Server::router() { return impl_->router; }

void Server::handle_signals() {
  auto& i = *impl_;
  i.signals.add(SIGINT);
  i.signals.add(SIGTERM);
  i.signals.async_wait([&i](beast::error_code ec, int sig) {
    if (ec) return;
    logger().write(LogLevel::info, "signal", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    i.request_stop();
  });
}

void Server::wait() {
  auto& i = *impl_;
  std::unique_lock lock(i.mu);
  i.cv.wait(lock, [&i] { return i.stop_requested || i.stopped; });
}

void Server::stop() {
  auto& i = *impl_;
  {
    std::unique_lock lock(i.mu);
    if (i.stopping) {
      i.cv.wait(lock, [&i] { return i.stopped; });
      return;
    }
    i.stopping = true;
    i.stop_requested = true;
    i.cv.notify_all();
  }
  if (!i.threads.empty()) {
    i.ctx.stopping = true;
    asio::post(i.acceptor.get_executor(), [&i] {
      beast::error_code ec;
      i.acceptor.close(ec);
      i.accept_pause.cancel();
      i.signals.cancel();
    });
    // Every connection answers what is in flight, then closes with 1001.
    i.router.drain_all();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(i.config.drain_timeout_ms);
    while (i.router.connection_count() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    // Let the close frames leave before the loop stops.
    auto linger = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    while (i.ctx.live_sessions > 0 && std::chrono::steady_clock::now() < linger) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    i.work.reset();
    i.ioc.stop();
    for (auto& t : i.threads) t.join();
    i.threads.clear();
  }
  std::lock_guard lock(i.mu);
  i.stopped = true;
  i.cv.notify_all();
}

}  // namespace possync::broker
