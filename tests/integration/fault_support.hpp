// What the fault tests share (fault_kill_test.cpp, fault_slow_consumer_test.cpp,
// fault_full_disk_test.cpp; issue #7): clients on a load runtime of their own,
// a sender that keeps a window of sends in flight, and the stored orders read
// back through the ops API of a BrokerProcess. Every wait is bounded in time
// and count and ends on an observable event, never on a sleep. The helpers
// use Catch assertions: call them from a test case's thread (the sender's
// callbacks run on the runtime's threads and assert nothing).
#pragma once

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "clients/cpp/client.hpp"
#include "tests/integration/broker_process.hpp"

namespace possync::test::fault {

using possync::client::Client;

inline const std::string& kAdmin = kProcessAdmin;
using Clock = std::chrono::steady_clock;

// A client of the load runtime (two io threads, shared by every fault test)
// with a generous request timeout (replies of a busy broker under ASan may
// take a while; a dead broker fails them at once).
std::shared_ptr<Client> make_client(std::uint16_t port, const std::string& session, const std::string& token);

// Connects and says hello; true when both succeeded.
bool connect_hello(Client& c);

struct StoredOrder {
  std::int64_t order_id = 0;
  std::string ref;
  std::string from;
  std::map<std::string, std::string> receivers;  // session -> delivery status
};

// Every order of GET /api/orders?QUERY, all pages, newest first.
std::vector<StoredOrder> list_all_orders(std::uint16_t port, const std::string& query = "");

// ---- a sender that keeps `window` sends in flight --------------------------

struct SenderState {
  std::string prefix;
  std::vector<std::string> to;
  std::string order;
  int max = 0;
  int window = 0;
  std::shared_ptr<std::atomic<int>> ok_total;

  std::mutex mu;
  int next = 0;
  int outstanding = 0;
  bool stopped = false;  // a transport failure: the broker went away
  std::vector<std::string> attempted;
  std::map<std::string, std::int64_t> acked;   // ref -> order_id of its `sent` reply
  std::map<std::string, std::string> errors;  // ref -> error code
  std::atomic<bool> closed{false};

  bool idle() {
    std::lock_guard lock(mu);
    return outstanding == 0 && (stopped || next == max);
  }
};

// Sends the next orders while fewer than `window` are in flight, and again
// from each reply, until `max` are sent or a transport failure stops it.
void pump(const std::shared_ptr<SenderState>& st, const std::weak_ptr<Client>& weak);

struct PipelinedSender {
  std::shared_ptr<SenderState> st = std::make_shared<SenderState>();
  std::shared_ptr<Client> client;

  PipelinedSender(std::uint16_t port, const std::string& session, const std::string& token) {
    client = make_client(port, session, token);
    client->on_close([st = st](int, std::string) { st->closed = true; });
  }
  ~PipelinedSender() { client->close(); }
  void start() { pump(st, client); }
};

}  // namespace possync::test::fault
