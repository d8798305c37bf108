#include "bench/load/broker_stats.hpp"

#include <rapidjson/document.h>

#include "clients/cpp/client.hpp"

namespace possync::load {

namespace {

std::int64_t int_at(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return 0;
  auto it = obj.FindMember(name);
  return it != obj.MemberEnd() && it->value.IsNumber() ? it->value.GetInt64() : 0;
}

// Prometheus' histogram_quantile: linear within the bucket that holds the rank.
double quantile(const std::vector<double>& bounds, const std::vector<std::int64_t>& cumulative, std::int64_t total,
                double q) {
  if (total <= 0) return 0;
  const double rank = q * static_cast<double>(total);
  double lower = 0;
  std::int64_t below = 0;
  for (std::size_t i = 0; i < bounds.size() && i < cumulative.size(); ++i) {
    if (static_cast<double>(cumulative[i]) >= rank) {
      const auto in_bucket = cumulative[i] - below;
      const double share = in_bucket > 0 ? (rank - static_cast<double>(below)) / static_cast<double>(in_bucket) : 1.0;
      return lower + (bounds[i] - lower) * share;
    }
    lower = bounds[i];
    below = cumulative[i];
  }
  return bounds.empty() ? 0 : bounds.back();
}

}  // namespace

BrokerStats fetch_broker_stats(const Options& o) {
  BrokerStats s;
  if (o.admin_token.empty()) return s;
  const auto r = client::http_request(o.host, o.port, "GET", "/api/stats", o.admin_token);
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  if (r.status != 200 || !d.IsObject() || !d.HasMember("store") || !d.HasMember("commit_seconds")) return s;
  s.ok = true;
  if (d.HasMember("uptime_s") && d["uptime_s"].IsNumber()) s.uptime_s = d["uptime_s"].GetDouble();
  s.batches = int_at(d["store"], "batches");
  s.writes = int_at(d["store"], "writes");
  s.slow_consumer_closes = int_at(d, "slow_consumer_closes");
  const auto& commit = d["commit_seconds"];
  if (commit.IsObject() && commit.HasMember("buckets") && commit["buckets"].IsArray()) {
    for (const auto& b : commit["buckets"].GetArray()) {
      if (!b.IsArray() || b.Size() != 2 || !b[0].IsNumber() || !b[1].IsNumber()) continue;
      s.commit_bounds.push_back(b[0].GetDouble());
      s.commit_cumulative.push_back(b[1].GetInt64());
    }
    if (commit.HasMember("sum") && commit["sum"].IsNumber()) s.commit_sum_s = commit["sum"].GetDouble();
    s.commit_count = int_at(commit, "count");
  }
  return s;
}

StoreFigures store_between(const BrokerStats& a, const BrokerStats& b) {
  StoreFigures f;
  if (!a.ok || !b.ok || b.uptime_s < a.uptime_s) return f;  // counters of two processes do not subtract
  f.ok = true;
  f.batches = b.batches - a.batches;
  f.writes = b.writes - a.writes;
  f.slow_consumer_closes = b.slow_consumer_closes - a.slow_consumer_closes;
  f.writes_per_batch = f.batches > 0 ? static_cast<double>(f.writes) / static_cast<double>(f.batches) : 0;
  std::vector<std::int64_t> delta(b.commit_cumulative.size());
  for (std::size_t i = 0; i < delta.size(); ++i) {
    delta[i] = b.commit_cumulative[i] - (i < a.commit_cumulative.size() ? a.commit_cumulative[i] : 0);
  }
  const std::int64_t commits = b.commit_count - a.commit_count;
  if (commits > 0) {
    f.commit_ms_mean = 1000 * (b.commit_sum_s - a.commit_sum_s) / static_cast<double>(commits);
    f.commit_ms_p50 = 1000 * quantile(b.commit_bounds, delta, commits, 0.5);
    f.commit_ms_p99 = 1000 * quantile(b.commit_bounds, delta, commits, 0.99);
  }
  return f;
}

}  // namespace possync::load
