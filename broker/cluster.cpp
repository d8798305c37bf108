#include "broker/cluster.hpp"

#include "broker/log.hpp"

namespace possync::broker {

bool RecentKeys::insert(const std::string& key) {
  std::lock_guard lock(mu_);
  if (!keys_.insert(key).second) return false;
  order_.push_back(key);
  if (order_.size() > capacity_) {
    keys_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

void ClusterRelay::start(const ClusterSettings& settings) {
  if (!store_.clustered()) return;
  router_.set_presence_sink([this](const std::string& session, const std::string& shop, int connections) {
    store_.set_presence(session, shop, connections);
  });
  storage::ClusterOptions options;
  options.node_id = settings.node_id;
  options.heartbeat_ms = settings.heartbeat_ms;
  options.node_timeout_ms = settings.node_timeout_ms;
  store_.start_cluster(options, [this](const storage::ClusterEvent& e) { on_event(e); });
  store_.remote_presence([this](protocol::Result<std::vector<storage::NodePresence>> r) {
    if (!r.ok()) {
      logger().write(LogLevel::warn, "cluster_presence_failed", {{"error", r.error().message}});
      return;
    }
    for (const auto& p : r.value()) router_.apply_remote_presence(p.node, p.session, p.shop, p.connections);
  });
  logger().write(LogLevel::info, "cluster_joined", {{"node", settings.node_id}});
}

void ClusterRelay::on_event(const storage::ClusterEvent& event) {
  using Kind = storage::ClusterEvent::Kind;
  switch (event.kind) {
    case Kind::order:
      // After a listener gap the store may emit an order twice; push it once.
      if (orders_.insert(std::to_string(event.order.order_id))) router_.push_order(event.order);
      break;
    case Kind::changes: {
      std::vector<protocol::StatusChange> fresh;
      for (const auto& c : event.changes) {
        std::string key = std::to_string(c.order_id) + '/' + c.session + '/' + std::string(protocol::to_string(c.status));
        if (changes_.insert(key)) fresh.push_back(c);
      }
      if (!fresh.empty()) router_.push_changes(fresh, 0);
      break;
    }
    case Kind::presence:
      router_.apply_remote_presence(event.presence.node, event.presence.session, event.presence.shop,
                                    event.presence.connections);
      break;
    case Kind::revoke:
      router_.close_session(event.revoked_session, event.close_code,
                            event.close_code == 4401 ? "credentials revoked" : "session moved to another shop");
      break;
  }
}

}  // namespace possync::broker
