// Router: which connections belong to which session and shop, presence, and
// fan-out of pushes. Thread-safe (one mutex, never held while a frame is
// handed to a connection). Knows no sockets: connections are Peers.
//
// Ordering: the store calls push_order / push_changes from its writer
// thread in commit order, and Peer::push posts onto each connection's
// strand in that order, so pushes reach a connection in order_id order.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/peer.hpp"
#include "protocol/types.hpp"

namespace possync::broker {

// Requests-per-second budget of one session, shared by its connections.
class RateBucket {
 public:
  explicit RateBucket(double per_second) : rate_(per_second), tokens_(per_second * 2) {}
  bool allow();

 private:
  std::mutex mu_;
  double rate_;
  double tokens_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// Observes the fan-out: the ops live feed (LiveFeed) hears every new order,
// status change and presence change the router hands out. Called after the
// router's lock is released, on the thread that fans out; must not block.
class RouterTap {
 public:
  virtual ~RouterTap() = default;
  virtual void on_order(const protocol::OrderRecord& order) = 0;
  virtual void on_changes(const std::vector<protocol::StatusChange>& changes) = 0;
  virtual void on_presence(const std::string& session, const std::string& shop, bool online) = 0;
};

struct RouterLimits {
  std::size_t max_connections = 15000;
  std::size_t max_connections_per_session = 64;
  double rate_limit_per_second = 500;
};

class Router {
 public:
  explicit Router(RouterLimits limits) : limits_(limits) {}

  // Every accepted WebSocket connection, before hello. false: over the total limit.
  bool add_connection(const std::shared_ptr<Peer>& peer);
  // Forget a connection (idempotent); if it was its session's last one, the
  // shop gets `presence` offline.
  void remove_connection(std::uint64_t peer_id);

  // Taken before a hello's credentials are checked, and given to attach():
  // a close_session() of that session in between (its token rotated or
  // deleted while the check was in flight) then refuses the attach, so a
  // revoked credential never leaves a connection behind.
  std::uint64_t revocation_mark() const;

  // After a successful hello. A first connection sends `presence` online to
  // the rest of the shop.
  struct Attached {
    std::shared_ptr<RateBucket> bucket;  // null when refused
    bool too_many = false;               // the session is at its connection limit
    // The session's credentials were revoked since `checked_at`: close with this code.
    int revoked_code = 0;
    std::string revoked_reason;
  };
  Attached attach(const protocol::SessionEntry& session, std::uint64_t peer_id, std::uint64_t checked_at);

  // Fan-out. push_order: the new order to each receiver's connections;
  // `read_at`: when its `send` was read (for the send→push latency metric).
  void push_order(const protocol::OrderRecord& order, std::chrono::steady_clock::time_point read_at = {});
  // Each change to the order's sender (every connection) and to the
  // receiver whose delivery changed (every connection but `origin_peer`).
  void push_changes(const std::vector<protocol::StatusChange>& changes, std::uint64_t origin_peer);

  // Fills `online` and `connections` of directory entries.
  void fill_presence(std::vector<protocol::SessionEntry>& sessions) const;

  // Close every connection of a session (token rotated, deleted, moved).
  void close_session(const std::string& session, int code, const std::string& reason);
  // Graceful shutdown: every connection drains, then closes with 1001.
  void drain_all();

  std::size_t connection_count() const;
  std::size_t sessions_online() const;

  // The one observer of the fan-out (nullptr: none). Set before serving;
  // the tap must outlive its registration.
  void set_tap(RouterTap* tap) noexcept { tap_.store(tap); }

  // ---- cluster ---------------------------------------------------------------
  // Called (under the router's lock; it must only enqueue) whenever this node's connection count of a
  // session changes, so the store can share it with the other nodes.
  using PresenceSink = std::function<void(const std::string& session, const std::string& shop, int connections)>;
  void set_presence_sink(PresenceSink sink);
  // Another node now holds `connections` connections of `session` (0: none).
  // A session is online while any node holds one; the shop hears `presence`
  // only when that cluster-wide state changes.
  void apply_remote_presence(const std::string& node, const std::string& session, const std::string& shop,
                             int connections);

 private:
  struct Slot {
    std::string shop;
    std::vector<std::uint64_t> peers;
    std::shared_ptr<RateBucket> bucket;
  };
  struct Conn {
    std::weak_ptr<Peer> peer;
    std::string session;  // empty before hello
  };
  struct Remote {
    std::string shop;
    std::unordered_map<std::string, int> by_node;  // node → connections there
    int total() const;
  };

  // Under mu_: the live peers of a session, optionally skipping one.
  void collect(const std::string& session, std::uint64_t skip, std::vector<std::shared_ptr<Peer>>& out) const;
  // Under mu_: every connection of the shop's other online sessions.
  void collect_shop(const std::string& shop, const std::string& except_session,
                    std::vector<std::shared_ptr<Peer>>& out) const;
  static void deliver(const std::vector<std::shared_ptr<Peer>>& peers, const Push& push);
  // Under mu_: connections of the session on other nodes.
  int remote_connections(const std::string& session) const;
  void announce(const std::string& session, bool online, const std::vector<std::shared_ptr<Peer>>& targets);
  void report_local(const std::string& session, const std::string& shop, int connections);

  RouterLimits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::uint64_t, Conn> conns_;
  std::unordered_map<std::string, Slot> sessions_;                            // online sessions only
  std::unordered_map<std::string, std::unordered_set<std::string>> shops_;    // shop → locally online sessions
  std::unordered_map<std::string, Remote> remote_;                            // session → other nodes' counts
  struct Revocation {
    std::uint64_t mark;
    int code;
    std::string reason;
  };
  std::uint64_t revocations_ = 0;                                             // close_session() calls so far
  std::unordered_map<std::string, Revocation> revoked_;                       // session → its latest one
  PresenceSink presence_sink_;
  std::atomic<RouterTap*> tap_{nullptr};
};

}  // namespace possync::broker
