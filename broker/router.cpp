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
  std::string session, shop;
  int left = 0;
  bool offline = false;
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
    shop = slot->second.shop;
    left = static_cast<int>(peers.size());
    if (left == 0) {
      sessions_.erase(slot);
      auto sh = shops_.find(shop);
      if (sh != shops_.end()) {
        sh->second.erase(session);
        if (sh->second.empty()) shops_.erase(sh);
      }
      // Still online while another node holds a connection of it.
      offline = remote_connections(session) == 0;
      if (offline) collect_shop(shop, session, targets);
    }
    report_local(session, shop, left);
  }
  if (offline) {
    announce(session, false, targets);
    if (auto* tap = tap_.load()) tap->on_presence(session, shop, false);
  }
}

void Router::announce(const std::string& session, bool online, const std::vector<std::shared_ptr<Peer>>& targets) {
  if (targets.empty()) return;
  deliver(targets, Push{std::make_shared<const std::string>(protocol::presence_event(session, online)), 0});
}

// Under mu_, so the store hears a session's counts in the order they
// happened (the sink only enqueues; it never calls back into the router).
void Router::report_local(const std::string& session, const std::string& shop, int connections) {
  if (presence_sink_) presence_sink_(session, shop, connections);
}

void Router::set_presence_sink(PresenceSink sink) {
  std::lock_guard lock(mu_);
  presence_sink_ = std::move(sink);
}

int Router::Remote::total() const {
  int n = 0;
  for (const auto& [node, count] : by_node) n += count;
  return n;
}

int Router::remote_connections(const std::string& session) const {
  auto it = remote_.find(session);
  return it == remote_.end() ? 0 : it->second.total();
}

void Router::apply_remote_presence(const std::string& node, const std::string& session, const std::string& shop,
                                   int connections) {
  std::vector<std::shared_ptr<Peer>> targets;
  bool now_online = false;
  {
    std::lock_guard lock(mu_);
    const bool local = sessions_.count(session) > 0;
    const bool was_online = local || remote_connections(session) > 0;
    auto& remote = remote_[session];
    remote.shop = shop;
    if (connections > 0) {
      remote.by_node[node] = connections;
    } else {
      remote.by_node.erase(node);
      if (remote.by_node.empty()) remote_.erase(session);
    }
    now_online = local || remote_connections(session) > 0;
    if (now_online == was_online) return;
    collect_shop(shop, session, targets);
  }
  announce(session, now_online, targets);
  if (auto* tap = tap_.load()) tap->on_presence(session, shop, now_online);
}

std::uint64_t Router::revocation_mark() const {
  std::lock_guard lock(mu_);
  return revocations_;
}

Router::Attached Router::attach(const protocol::SessionEntry& session, std::uint64_t peer_id,
                                std::uint64_t checked_at) {
  std::vector<std::shared_ptr<Peer>> targets;
  Attached out;
  int count = 0;
  bool came_online = false;
  {
    std::lock_guard lock(mu_);
    if (auto r = revoked_.find(session.session); r != revoked_.end() && r->second.mark > checked_at) {
      out.revoked_code = r->second.code;
      out.revoked_reason = r->second.reason;
      return out;
    }
    auto conn = conns_.find(peer_id);
    if (conn == conns_.end()) return out;
    auto [slot, first] = sessions_.try_emplace(session.session);
    if (!first && slot->second.peers.size() >= limits_.max_connections_per_session) {
      out.too_many = true;
      return out;
    }
    if (first) {
      slot->second.shop = session.shop;
      slot->second.bucket = std::make_shared<RateBucket>(limits_.rate_limit_per_second);
      shops_[session.shop].insert(session.session);
      // Already online through another node: the shop knows.
      if (remote_connections(session.session) == 0) {
        came_online = true;
        collect_shop(session.shop, session.session, targets);
      }
    }
    slot->second.peers.push_back(peer_id);
    conn->second.session = session.session;
    out.bucket = slot->second.bucket;
    count = static_cast<int>(slot->second.peers.size());
    report_local(session.session, session.shop, count);
  }
  announce(session.session, true, targets);
  if (auto* tap = tap_.load(); tap && came_online) tap->on_presence(session.session, session.shop, true);
  return out;
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

void Router::push_order(const protocol::OrderRecord& order, std::chrono::steady_clock::time_point read_at) {
  // A new order is `sent` to every receiver, so one frame serves them all.
  Push push{std::make_shared<const std::string>(protocol::order_push(order, protocol::Status::sent)),
            order.order_id, read_at};
  std::vector<std::shared_ptr<Peer>> targets;
  {
    std::lock_guard lock(mu_);
    for (const auto& r : order.receivers) collect(r.session, 0, targets);
  }
  deliver(targets, push);
  if (auto* tap = tap_.load()) tap->on_order(order);
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
  if (auto* tap = tap_.load(); tap && !changes.empty()) tap->on_changes(changes);
}

void Router::fill_presence(std::vector<protocol::SessionEntry>& sessions) const {
  std::lock_guard lock(mu_);
  for (auto& s : sessions) {
    auto slot = sessions_.find(s.session);
    s.connections = (slot != sessions_.end() ? static_cast<int>(slot->second.peers.size()) : 0) +
                    remote_connections(s.session);
    s.online = s.connections > 0;
  }
}

void Router::close_session(const std::string& session, int code, const std::string& reason) {
  std::vector<std::shared_ptr<Peer>> targets;
  {
    std::lock_guard lock(mu_);
    revoked_[session] = Revocation{++revocations_, code, reason};
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
  std::size_t n = sessions_.size();
  for (const auto& [session, remote] : remote_) {
    if (!sessions_.count(session) && remote.total() > 0) ++n;
  }
  return n;
}

}  // namespace possync::broker
