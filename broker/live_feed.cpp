#include "broker/live_feed.hpp"

#include <algorithm>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "storage/tokens.hpp"

namespace possync::broker {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Rates cover at least this long (a second computation sooner reuses the
// cached frame), latency quantiles the last kLatencyWindow.
constexpr auto kMinInterval = std::chrono::milliseconds(900);
constexpr auto kLatencyWindow = std::chrono::seconds(5);
constexpr auto kKeepSamples = std::chrono::seconds(10);

void key(Writer& w, std::string_view k) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
void str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void begin_event(Writer& w, std::string_view event) {
  w.StartObject();
  key(w, "type");
  str(w, "event");
  key(w, "event");
  str(w, event);
}

Frame take(const rapidjson::StringBuffer& buffer) {
  return std::make_shared<const std::string>(buffer.GetString(), buffer.GetSize());
}

double total(const std::vector<LabeledValue>& values) {
  double sum = 0;
  for (const auto& v : values) sum += v.value;
  return sum;
}

}  // namespace

LiveFeed::LiveFeed(Services& services)
    : svc_(services), admin_token_hash_(storage::hash_token(services.config.admin_token)) {
  svc_.router.set_tap(this);
}

LiveFeed::~LiveFeed() { svc_.router.set_tap(nullptr); }

bool LiveFeed::authorize(std::string_view token) const {
  return storage::constant_time_equal(storage::hash_token(token), admin_token_hash_);
}

void LiveFeed::subscribe(const std::shared_ptr<Peer>& peer) {
  std::lock_guard lock(subscribers_mu_);
  subscribers_[peer->peer_id()] = peer;
  subscriber_count_ = subscribers_.size();
}

void LiveFeed::unsubscribe(std::uint64_t peer_id) {
  std::lock_guard lock(subscribers_mu_);
  subscribers_.erase(peer_id);
  subscriber_count_ = subscribers_.size();
}

void LiveFeed::broadcast(const Frame& frame) {
  std::vector<std::shared_ptr<Peer>> targets;
  {
    std::lock_guard lock(subscribers_mu_);
    targets.reserve(subscribers_.size());
    for (const auto& [id, weak] : subscribers_) {
      if (auto p = weak.lock()) targets.push_back(std::move(p));
    }
  }
  for (const auto& p : targets) p->push(Push{frame, 0, {}});
}

// ---- RouterTap -----------------------------------------------------------------

void LiveFeed::on_order(const protocol::OrderRecord& order) {
  if (subscriber_count_.load(std::memory_order_relaxed) == 0) return;
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  begin_event(w, "order");
  key(w, "order_id");
  w.Int64(order.order_id);
  key(w, "ref");
  str(w, order.ref);
  key(w, "shop");
  str(w, order.shop);
  key(w, "from");
  str(w, order.from);
  key(w, "from_name");
  str(w, order.from_name);
  key(w, "mode");
  str(w, protocol::to_string(order.mode));
  key(w, "created_at");
  str(w, order.created_at);
  key(w, "line_count");
  w.Int(order.line_count);
  key(w, "receivers");
  w.StartArray();
  for (const auto& r : order.receivers) {
    w.StartObject();
    key(w, "session");
    str(w, r.session);
    key(w, "status");
    str(w, protocol::to_string(r.status));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  broadcast(take(buffer));
}

void LiveFeed::on_changes(const std::vector<protocol::StatusChange>& changes) {
  if (subscriber_count_.load(std::memory_order_relaxed) == 0) return;
  for (const auto& c : changes) {
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    begin_event(w, "status");
    key(w, "order_id");
    w.Int64(c.order_id);
    key(w, "shop");
    str(w, c.shop);
    key(w, "from");
    str(w, c.sender);
    key(w, "session");
    str(w, c.session);
    key(w, "status");
    str(w, protocol::to_string(c.status));
    key(w, "at");
    str(w, c.at);
    key(w, "by");
    str(w, c.by);
    key(w, "reason");
    if (c.reason) {
      str(w, *c.reason);
    } else {
      w.Null();
    }
    w.EndObject();
    broadcast(take(buffer));
  }
}

void LiveFeed::on_presence(const std::string& session, const std::string& shop, bool online) {
  if (subscriber_count_.load(std::memory_order_relaxed) == 0) return;
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  begin_event(w, "presence");
  key(w, "session");
  str(w, session);
  key(w, "shop");
  str(w, shop);
  key(w, "online");
  w.Bool(online);
  w.EndObject();
  broadcast(take(buffer));
}

// ---- figures -------------------------------------------------------------------

ServerFigures LiveFeed::figures() {
  ServerFigures f;
  f.node_id = svc_.config.node_id;
  // The router counts dashboards among its connections (so a shutdown
  // drains them too); possync_connections is about POS terminals.
  const auto live = static_cast<std::size_t>(std::max<std::int64_t>(0, live_connections_.load()));
  const auto all = svc_.router.connection_count();
  f.connections = all > live ? all - live : 0;
  f.live_connections = live;
  f.sessions_online = svc_.router.sessions_online();
  f.store = svc_.store.stats();
  {
    // The store counts its group commits; the batches since the last look
    // go into the batch-size histogram (count and sum exact).
    std::lock_guard lock(store_mu_);
    if (f.store.batches_committed >= seen_batches_ && f.store.writes_committed >= seen_writes_) {
      metrics().observe_store_batches(f.store.batches_committed - seen_batches_,
                                      f.store.writes_committed - seen_writes_);
    }
    seen_batches_ = f.store.batches_committed;
    seen_writes_ = f.store.writes_committed;
  }
  return f;
}

std::string LiveFeed::metrics_text() { return metrics().exposition(figures()); }

std::string LiveFeed::stats_body() {
  auto f = figures();
  return broker::stats_body(f, metrics().snapshot(), uptime_seconds());
}

double LiveFeed::uptime_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

LiveRates LiveFeed::rates_locked(const Sample& now) const {
  LiveRates r;
  if (samples_.empty()) return r;
  const Sample& prev = samples_.back();
  const double dt = std::chrono::duration<double>(now.at - prev.at).count();
  if (dt > 0) {
    r.window_s = dt;
    r.orders_per_s = (now.snapshot.orders_sent - prev.snapshot.orders_sent) / dt;
    r.messages_in_per_s = (total(now.snapshot.messages_in) - total(prev.snapshot.messages_in)) / dt;
    r.messages_out_per_s = (total(now.snapshot.messages_out) - total(prev.snapshot.messages_out)) / dt;
  }
  // The oldest sample within the latency window (else the previous one).
  const Sample* base = &prev;
  for (const auto& s : samples_) {
    if (now.at - s.at <= kLatencyWindow + std::chrono::milliseconds(500)) {
      base = &s;
      break;
    }
  }
  r.latency_window_s = std::chrono::duration<double>(now.at - base->at).count();
  auto push = now.snapshot.send_to_push.since(base->snapshot.send_to_push);
  auto commit = now.snapshot.commit.since(base->snapshot.commit);
  r.pushes = push.count();
  r.send_to_push_p50_s = push.quantile(0.5);
  r.send_to_push_p99_s = push.quantile(0.99);
  r.commit_p50_s = commit.quantile(0.5);
  r.commit_p99_s = commit.quantile(0.99);
  return r;
}

Frame LiveFeed::stats_frame() {
  std::lock_guard lock(stats_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (cached_stats_ && !samples_.empty() && now - samples_.back().at < kMinInterval) return cached_stats_;
  auto server = figures();
  Sample sample{now, metrics().snapshot()};
  LiveRates rates = rates_locked(sample);
  cached_stats_ = std::make_shared<const std::string>(
      broker::stats_frame(server, sample.snapshot, uptime_seconds(), rates));
  samples_.push_back(std::move(sample));
  while (samples_.size() > 1 && now - samples_.front().at > kKeepSamples) samples_.pop_front();
  return cached_stats_;
}

}  // namespace possync::broker
