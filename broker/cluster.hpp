// ClusterRelay: joins this node to the others sharing its store. It feeds
// the Router with what other nodes committed (orders, status changes,
// presence, revoked sessions) and tells the store this node's presence.
// With a single-node store (SQLite) it does nothing.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>

#include "broker/router.hpp"
#include "storage/store.hpp"

namespace possync::broker {

// The most recent `capacity` keys, for dropping repeats of cluster events.
class RecentKeys {
 public:
  explicit RecentKeys(std::size_t capacity) : capacity_(capacity) {}
  // true the first time a key is seen (within the window).
  bool insert(const std::string& key);

 private:
  std::size_t capacity_;
  std::mutex mu_;
  std::deque<std::string> order_;
  std::unordered_set<std::string> keys_;
};

struct ClusterSettings {
  std::string node_id;
  int heartbeat_ms = 1000;
  int node_timeout_ms = 10000;
};

class ClusterRelay {
 public:
  ClusterRelay(storage::Store& store, Router& router) : store_(store), router_(router) {}
  // Joins the cluster when the store is shared; call before serving.
  void start(const ClusterSettings& settings);
  // Runs on a store thread, in commit order.
  void on_event(const storage::ClusterEvent& event);

 private:
  storage::Store& store_;
  Router& router_;
  RecentKeys orders_{1 << 16};
  RecentKeys changes_{1 << 16};
};

}  // namespace possync::broker
