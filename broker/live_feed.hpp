// LiveFeed: the hub behind GET /api/live (PROTOCOL.md §6, clarification 29)
// and the server's view of its own figures for /metrics and /api/stats.
//
// It taps the Router's fan-out (RouterTap): every new order, status change
// and presence change becomes one `event` frame, serialized once and shared
// by every subscribed dashboard. Nothing is serialized while no dashboard
// listens, so the POS hot path pays one atomic load.
//
// Threading: every method is thread-safe. Tap callbacks run on the thread
// that fans out (a store thread or an io thread) and only post frames to the
// subscribers' strands (Peer::push); a subscriber whose queue overflows is
// closed by its own slow-consumer policy, never waited for.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "broker/conversation.hpp"
#include "broker/metrics.hpp"
#include "broker/peer.hpp"
#include "broker/router.hpp"
#include "broker/stats_json.hpp"

namespace possync::broker {

class LiveFeed final : public RouterTap {
 public:
  // Registers itself as the router's tap; unregisters when destroyed.
  explicit LiveFeed(Services& services);
  ~LiveFeed() override;
  LiveFeed(const LiveFeed&) = delete;
  LiveFeed& operator=(const LiveFeed&) = delete;

  // ---- dashboards ------------------------------------------------------------
  // The token of a `hello` against the admin token (constant time).
  bool authorize(std::string_view token) const;
  // A /api/live connection joined / left the router (counted whether or
  // not it authenticated, so possync_connections can leave dashboards out).
  void connection_opened() noexcept { ++live_connections_; }
  void connection_closed() noexcept { --live_connections_; }
  // After a good hello: the peer gets every event from now on.
  void subscribe(const std::shared_ptr<Peer>& peer);
  void unsubscribe(std::uint64_t peer_id);

  // The current `stats` frame. Computed at most about once a second and
  // shared by every caller meanwhile; rates cover the time since the
  // previous computation, latency quantiles the last few seconds.
  Frame stats_frame();

  // ---- figures -----------------------------------------------------------------
  // This server's figures now (also feeds the store batch-size histogram
  // with the group commits made since the last call).
  ServerFigures figures();
  std::string metrics_text();   // GET /metrics
  std::string stats_body();     // GET /api/stats
  double uptime_seconds() const;

  // ---- RouterTap ---------------------------------------------------------------
  void on_order(const protocol::OrderRecord& order) override;
  void on_changes(const std::vector<protocol::StatusChange>& changes) override;
  void on_presence(const std::string& session, const std::string& shop, bool online) override;

 private:
  struct Sample {
    SteadyTime at;
    MetricsSnapshot snapshot;
  };
  void broadcast(const Frame& frame);
  LiveRates rates_locked(const Sample& now) const;

  Services& svc_;
  std::string admin_token_hash_;
  const SteadyTime started_ = std::chrono::steady_clock::now();
  std::atomic<std::int64_t> live_connections_{0};

  mutable std::mutex subscribers_mu_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Peer>> subscribers_;
  std::atomic<std::size_t> subscriber_count_{0};

  std::mutex stats_mu_;
  std::deque<Sample> samples_;  // the last few seconds, oldest first
  Frame cached_stats_;

  std::mutex store_mu_;
  std::uint64_t seen_batches_ = 0;
  std::uint64_t seen_writes_ = 0;
};

}  // namespace possync::broker
