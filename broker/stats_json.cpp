#include "broker/stats_json.hpp"

#include <cmath>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace possync::broker {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void key(Writer& w, std::string_view k) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }

void number(Writer& w, double v) {
  // Counters hold whole numbers: write them as integers, so clients read
  // 42 rather than 42.0; NaN and infinities (never expected) as null.
  if (!std::isfinite(v)) {
    w.Null();
  } else if (v == std::floor(v) && std::fabs(v) < 9e15) {
    w.Int64(static_cast<std::int64_t>(v));
  } else {
    w.Double(v);
  }
}

void optional_number(Writer& w, const std::optional<double>& v) {
  if (v) {
    number(w, *v);
  } else {
    w.Null();
  }
}

void labeled(Writer& w, std::string_view name, const std::vector<LabeledValue>& values) {
  key(w, name);
  w.StartObject();
  for (const auto& v : values) {
    key(w, v.label);
    number(w, v.value);
  }
  w.EndObject();
}

void histogram(Writer& w, std::string_view name, const HistogramSnapshot& h) {
  key(w, name);
  w.StartObject();
  key(w, "count");
  w.Uint64(h.count());
  key(w, "sum");
  number(w, h.sum);
  key(w, "p50");
  optional_number(w, h.quantile(0.5));
  key(w, "p99");
  optional_number(w, h.quantile(0.99));
  // [upper bound, cumulative count] for each finite bound; +Inf is `count`.
  key(w, "buckets");
  w.StartArray();
  for (std::size_t i = 0; i < h.bounds.size() && i < h.cumulative.size(); ++i) {
    w.StartArray();
    number(w, h.bounds[i]);
    w.Uint64(h.cumulative[i]);
    w.EndArray();
  }
  w.EndArray();
  w.EndObject();
}

void figures(Writer& w, const ServerFigures& server, const MetricsSnapshot& s, double uptime_s) {
  key(w, "version");
  w.String(POSSYNC_VERSION);
  key(w, "node_id");
  w.String(server.node_id.c_str(), static_cast<rapidjson::SizeType>(server.node_id.size()));
  key(w, "uptime_s");
  w.Double(std::round(uptime_s * 1000) / 1000);
  key(w, "connections");
  w.Uint64(server.connections);
  key(w, "sessions_online");
  w.Uint64(server.sessions_online);
  key(w, "live_connections");
  w.Uint64(server.live_connections);
  key(w, "orders_sent");
  number(w, s.orders_sent);
  labeled(w, "messages_in", s.messages_in);
  labeled(w, "messages_out", s.messages_out);
  labeled(w, "deliveries", s.deliveries);
  labeled(w, "errors", s.errors);
  key(w, "slow_consumer_closes");
  number(w, s.slow_consumer_closes);
  key(w, "connections_opened");
  number(w, s.connections_opened);
  key(w, "store");
  w.StartObject();
  key(w, "queue_depth");
  w.Uint64(server.store.write_queue_depth);
  key(w, "read_queue_depth");
  w.Uint64(server.store.read_queue_depth);
  key(w, "writable");
  w.Bool(server.store.writable);
  key(w, "batches");
  w.Uint64(server.store.batches_committed);
  key(w, "writes");
  w.Uint64(server.store.writes_committed);
  key(w, "batches_failed");
  w.Uint64(server.store.batches_failed);
  w.EndObject();
  histogram(w, "send_to_push_seconds", s.send_to_push);
  histogram(w, "commit_seconds", s.commit);
  histogram(w, "store_batch_size", s.store_batch_size);
}

std::string take(const rapidjson::StringBuffer& buffer) { return std::string(buffer.GetString(), buffer.GetSize()); }

}  // namespace

std::string stats_body(const ServerFigures& server, const MetricsSnapshot& snapshot, double uptime_s) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  figures(w, server, snapshot, uptime_s);
  w.EndObject();
  return take(buffer);
}

std::string stats_frame(const ServerFigures& server, const MetricsSnapshot& snapshot, double uptime_s,
                        const LiveRates& rates) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  key(w, "type");
  w.String("stats");
  key(w, "at");
  auto at = protocol::format_time_ms(protocol::now_unix_ms());
  w.String(at.c_str(), static_cast<rapidjson::SizeType>(at.size()));
  figures(w, server, snapshot, uptime_s);
  key(w, "rates");
  w.StartObject();
  key(w, "window_s");
  w.Double(std::round(rates.window_s * 1000) / 1000);
  key(w, "orders_per_s");
  w.Double(rates.orders_per_s);
  key(w, "messages_in_per_s");
  w.Double(rates.messages_in_per_s);
  key(w, "messages_out_per_s");
  w.Double(rates.messages_out_per_s);
  key(w, "latency_window_s");
  w.Double(std::round(rates.latency_window_s * 1000) / 1000);
  key(w, "pushes");
  w.Uint64(rates.pushes);
  key(w, "send_to_push_p50_s");
  optional_number(w, rates.send_to_push_p50_s);
  key(w, "send_to_push_p99_s");
  optional_number(w, rates.send_to_push_p99_s);
  key(w, "commit_p50_s");
  optional_number(w, rates.commit_p50_s);
  key(w, "commit_p99_s");
  optional_number(w, rates.commit_p99_s);
  w.EndObject();
  w.EndObject();
  return take(buffer);
}

}  // namespace possync::broker
