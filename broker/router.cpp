#include "broker/router.hpp"

#include <algorithm>

#include "protocol/replies.hpp"

namespace possync::broker {

bool RateBucket::allow() {
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  tokens_ = std::min(rate_ * 2, tokens_ + elapsed * rate_);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

bool Router::add_connection(const std::shared_ptr<Peer>& peer) {
  std::lock_guard lock(mu_);
  if (conns_.size() >= limits_.max_connections) return false;
  conns_[peer->peer_id()] = Conn{peer, {}};
  return true;
}

void Router::remove_connection(std::uint64_t peer_id) {
  std::vector<std::shared_ptr<Peer>> targets;
  std::string session;
  {
    std::lock_guard lock(mu_);
    auto it = conns_.find(peer_id);
    if (it == conns_.end()) return;
    session = std::move(it->second.session);
    conns_.erase(it);
    if (session.empty()) return;
    auto slot = sessions_.find(session);
    if (slot == sessions_.end()) return;
    auto& peers = slot->second.peers;
    peers.erase(std::remove(peers.begin(), peers.end(), peer_id), peers.end());
    if (!peers.empty()) return;
    std::string shop = slot->second.shop;
    sessions_.erase(slot);
    auto sh = shops_.find(shop);
    if (sh != shops_.end()) {
      sh->second.erase(session);
      if (sh->second.empty()) shops_.erase(sh);
    }
    collect_shop(shop, session, targets);
  }
  deliver(targets, Push{std::make_shared<const std::string>(protocol::presence_event(session, false)), 0});
}

std::optional<std::shared_ptr<RateBucket>> Router::attach(const protocol::SessionEntry& session,
                                                          std::uint64_t peer_id) {
  std::vector<std::shared_ptr<Peer>> targets;
  std::shared_ptr<RateBucket> bucket;
  {
    std::lock_guard lock(mu_);
    auto conn = conns_.find(peer_id);
    if (conn == conns_.end()) return std::nullopt;
    auto [slot, first] = sessions_.try_emplace(session.session);
    if (!first && slot->second.peers.size() >= limits_.max_connections_per_session) return std::nullopt;
    if (first) {
      slot->second.shop = session.shop;
      slot->second.bucket = std::make_shared<RateBucket>(limits_.rate_limit_per_second);
      shops_[session.shop].insert(session.session);
      collect_shop(session.shop, session.session, targets);
    }
    slot->second.peers.push_back(peer_id);
    conn->second.session = session.session;
    bucket = slot->second.bucket;
  }
  if (!targets.empty()) {
    deliver(targets, Push{std::make_shared<const std::string>(protocol::presence_event(session.session, true)), 0});
  }
  return bucket;
}

void Router::collect(const std::string& session, std::uint64_t skip,
                     std::vector<std::shared_ptr<Peer>>& out) const {
  auto slot = sessions_.find(session);
  if (slot == sessions_.end()) return;
  for (auto id : slot->second.peers) {
    if (id == skip) continue;
    auto c = conns_.find(id);
    if (c == conns_.end()) continue;
    if (auto p = c->second.peer.lock()) out.push_back(std::move(p));
  }
}

void Router::collect_shop(const std::string& shop, const std::string& except_session,
                          std::vector<std::shared_ptr<Peer>>& out) const {
  auto sh = shops_.find(shop);
  if (sh == shops_.end()) return;
  for (const auto& s : sh->second) {
    if (s != except_session) collect(s, 0, out);
  }
}

void Router::deliver(const std::vector<std::shared_ptr<Peer>>& peers, const Push& push) {
  for (const auto& p : peers) p->push(push);
}

void Router::push_order(const protocol::OrderRecord& order) {
  // A new order is `sent` to every receiver, so one frame serves them all.
  Push push{std::make_shared<const std::string>(protocol::order_push(order, protocol::Status::sent)),
            order.order_id};
  std::vector<std::shared_ptr<Peer>> targets;
  {
    std::lock_guard lock(mu_);
    for (const auto& r : order.receivers) collect(r.session, 0, targets);
  }
  deliver(targets, push);
}

void Router::push_changes(const std::vector<protocol::StatusChange>& changes, std::uint64_t origin_peer) {
  std::vector<std::shared_ptr<Peer>> targets;
  for (const auto& change : changes) {
    targets.clear();
    {
      std::lock_guard lock(mu_);
      collect(change.sender, 0, targets);
      collect(change.session, origin_peer, targets);
    }
    if (targets.empty()) continue;
    deliver(targets, Push{std::make_shared<const std::string>(protocol::status_event(change)), 0});
  }
}

void Router::fill_presence(std::vector<protocol::SessionEntry>& sessions) const {
  std::lock_guard lock(mu_);
  for (auto& s : sessions) {
    auto slot = sessions_.find(s.session);
    s.online = slot != sessions_.end();
    s.connections = s.online ? static_cast<int>(slot->second.peers.size()) : 0;
  }
}

void Router::close_session(const std::string& session, int code, const std::string& reason) {
  std::vector<std::shared_ptr<Peer>> targets;
  {
    std::lock_guard lock(mu_);
    collect(session, 0, targets);
  }
  for (const auto& p : targets) p->close(code, reason);
}

void Router::drain_all() {
  std::vector<std::shared_ptr<Peer>> targets;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, c] : conns_) {
      if (auto p = c.peer.lock()) targets.push_back(std::move(p));
    }
  }
  for (const auto& p : targets) p->drain();
}

std::size_t Router::connection_count() const {
  std::lock_guard lock(mu_);
  return conns_.size();
}

std::size_t Router::sessions_online() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace possync::broker
