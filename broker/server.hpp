// Server: the broker as an object — io threads, listener, router, admin API
// over a Store. main() runs one; integration tests run one in-process on an
// ephemeral loopback port (with a fault-injecting store when they need it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "broker/config.hpp"
#include "broker/router.hpp"
#include "storage/store.hpp"

namespace possync::broker {

// Loads --tls-cert/--tls-key as start() would: "" when they are usable (or
// not configured), else one line saying what is wrong. For main() to refuse
// a bad certificate before it touches the store.
std::string check_tls_files(const Config& config);

class Server {
 public:
  // The store must outlive the server.
  Server(Config config, storage::Store& store);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the io threads. "" on success, else one line.
  std::string start();
  // The bound port (useful with port 0).
  std::uint16_t port() const;
  const Config& config() const;
  Router& router();

  // SIGINT/SIGTERM start a graceful stop.
  void handle_signals();
  // Graceful stop: refuse new connections, let every connection answer the
  // requests in flight, close them with 1001, then stop the io threads.
  // Bounded by config.drain_timeout_ms. Idempotent; returns when done. The
  // store is left open (its owner closes it after).
  void stop();
  // Blocks until stop() has finished (from a signal or another thread).
  void wait();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace possync::broker
