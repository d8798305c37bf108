#include "broker/metrics.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace possync::broker {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Label values are fixed sets, so every counter exists from the start: a
// scrape shows zeros instead of missing series, and the hot path indexes an
// array instead of looking labels up.
constexpr std::array<std::string_view, 10> kInTypes = {"hello", "send",     "ack",  "list",   "deliver",
                                                       "reject", "cancel", "sessions", "ping", "invalid"};
constexpr std::size_t kInInvalid = kInTypes.size() - 1;
constexpr std::array<std::string_view, 13> kOutTypes = {"welcome", "directory", "sent",     "order",  "orders",
                                                        "delivered", "rejected", "cancelled", "status", "presence",
                                                        "pong",    "error",     "other"};
constexpr std::size_t kOutOther = kOutTypes.size() - 1;
constexpr std::array<protocol::Status, 6> kStatuses = {protocol::Status::sent,      protocol::Status::received,
                                                       protocol::Status::delivered, protocol::Status::rejected,
                                                       protocol::Status::cancelled, protocol::Status::taken};
constexpr std::array<protocol::ErrorCode, 10> kErrorCodes = {
    protocol::ErrorCode::bad_json,     protocol::ErrorCode::bad_request, protocol::ErrorCode::unauthorized,
    protocol::ErrorCode::forbidden,    protocol::ErrorCode::not_found,   protocol::ErrorCode::conflict,
    protocol::ErrorCode::too_large,    protocol::ErrorCode::rate_limited, protocol::ErrorCode::unavailable,
    protocol::ErrorCode::internal};

// Sub-millisecond (a push on an idle broker) to seconds (a stalled disk).
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02,
    0.03,   0.05,    0.075,  0.1,   0.25,  0.5,   1.0,   2.5,    5.0,  10.0};
// Requests per group commit; the store caps a batch at 512 by default.
const prometheus::Histogram::BucketBoundaries kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

template <std::size_t N>
std::size_t index_of(const std::array<std::string_view, N>& names, std::string_view name, std::size_t fallback) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == name) return i;
  }
  return fallback;
}

double seconds_since(SteadyTime t) noexcept {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

HistogramSnapshot to_snapshot(const prometheus::Histogram& h) {
  HistogramSnapshot s;
  auto m = h.Collect();
  for (const auto& b : m.histogram.bucket) {
    if (!std::isinf(b.upper_bound)) s.bounds.push_back(b.upper_bound);
    s.cumulative.push_back(b.cumulative_count);
  }
  s.sum = m.histogram.sample_sum;
  return s;
}

MetricFamily family(std::string name, std::string help, MetricType type) {
  return MetricFamily{std::move(name), std::move(help), type, {}};
}

ClientMetric gauge_value(double v, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = v;
  return m;
}

ClientMetric counter_value(double v) {
  ClientMetric m;
  m.counter.value = v;
  return m;
}

}  // namespace

// ---------------------------------------------------------------------------

HistogramSnapshot HistogramSnapshot::since(const HistogramSnapshot& earlier) const {
  HistogramSnapshot d = *this;
  if (earlier.cumulative.size() != cumulative.size()) return d;
  for (std::size_t i = 0; i < cumulative.size(); ++i) {
    d.cumulative[i] = cumulative[i] >= earlier.cumulative[i] ? cumulative[i] - earlier.cumulative[i] : 0;
  }
  d.sum = sum - earlier.sum;
  return d;
}

std::optional<double> HistogramSnapshot::quantile(double q) const {
  const std::uint64_t n = count();
  if (n == 0 || bounds.empty()) return std::nullopt;
  const double rank = q * static_cast<double>(n);
  std::size_t i = 0;
  while (i < cumulative.size() && static_cast<double>(cumulative[i]) < rank) ++i;
  if (i >= bounds.size()) return bounds.back();  // in +Inf: the highest finite bound
  const double lower = i == 0 ? 0.0 : bounds[i - 1];
  const double below = i == 0 ? 0.0 : static_cast<double>(cumulative[i - 1]);
  const double in_bucket = static_cast<double>(cumulative[i]) - below;
  if (in_bucket <= 0) return bounds[i];
  return lower + (bounds[i] - lower) * (rank - below) / in_bucket;
}

// ---------------------------------------------------------------------------

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::array<prometheus::Counter*, kInTypes.size()> in{};
  std::array<prometheus::Counter*, kOutTypes.size()> out{};
  std::array<prometheus::Counter*, kStatuses.size()> deliveries{};
  std::array<prometheus::Counter*, kErrorCodes.size()> errors{};
  prometheus::Counter* orders_sent = nullptr;
  prometheus::Counter* slow_consumer_closes = nullptr;
  prometheus::Counter* connections_opened = nullptr;
  prometheus::Histogram* send_to_push = nullptr;
  prometheus::Histogram* commit = nullptr;
  prometheus::Histogram* batch_size = nullptr;
  const double start_unix_s = static_cast<double>(protocol::now_unix_ms()) / 1000.0;
  const SteadyTime start = std::chrono::steady_clock::now();

  Impl() {
    auto& in_family = prometheus::BuildCounter()
                          .Name("possync_messages_in_total")
                          .Help("WebSocket requests read, by type (invalid: bad JSON or an unknown type)")
                          .Register(*registry);
    for (std::size_t i = 0; i < kInTypes.size(); ++i) in[i] = &in_family.Add({{"type", std::string(kInTypes[i])}});
    auto& out_family = prometheus::BuildCounter()
                           .Name("possync_messages_out_total")
                           .Help("WebSocket messages queued for POS connections, by type")
                           .Register(*registry);
    for (std::size_t i = 0; i < kOutTypes.size(); ++i) {
      out[i] = &out_family.Add({{"type", std::string(kOutTypes[i])}});
    }
    auto& delivery_family = prometheus::BuildCounter()
                                .Name("possync_deliveries_total")
                                .Help("Delivery transitions committed by this broker, by the status entered")
                                .Register(*registry);
    for (std::size_t i = 0; i < kStatuses.size(); ++i) {
      deliveries[i] = &delivery_family.Add({{"status", std::string(protocol::to_string(kStatuses[i]))}});
    }
    auto& error_family = prometheus::BuildCounter()
                             .Name("possync_errors_total")
                             .Help("Error replies sent to WebSocket clients, by code")
                             .Register(*registry);
    for (std::size_t i = 0; i < kErrorCodes.size(); ++i) {
      errors[i] = &error_family.Add({{"code", std::string(protocol::to_string(kErrorCodes[i]))}});
    }
    orders_sent = &prometheus::BuildCounter()
                       .Name("possync_orders_sent_total")
                       .Help("Sync orders created (duplicate sends excluded)")
                       .Register(*registry)
                       .Add({});
    slow_consumer_closes = &prometheus::BuildCounter()
                                .Name("possync_slow_consumer_closes_total")
                                .Help("Connections dropped because their outgoing queue overflowed")
                                .Register(*registry)
                                .Add({});
    connections_opened = &prometheus::BuildCounter()
                              .Name("possync_connections_opened_total")
                              .Help("POS WebSocket connections accepted")
                              .Register(*registry)
                              .Add({});
    send_to_push = &prometheus::BuildHistogram()
                        .Name("possync_send_to_push_seconds")
                        .Help("From reading a send frame to handing its order push to a receiver connection")
                        .Register(*registry)
                        .Add({}, kLatencyBuckets);
    commit = &prometheus::BuildHistogram()
                  .Name("possync_commit_seconds")
                  .Help("From enqueueing a write request in the store to its commit callback")
                  .Register(*registry)
                  .Add({}, kLatencyBuckets);
    batch_size = &prometheus::BuildHistogram()
                      .Name("possync_store_batch_size")
                      .Help("Write requests per group commit (each sampling interval's batches at its mean size)")
                      .Register(*registry)
                      .Add({}, kBatchBuckets);
  }
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

Metrics& metrics() {
  static Metrics instance;
  return instance;
}

void Metrics::on_message_in(std::string_view type) noexcept {
  impl_->in[index_of(kInTypes, type, kInInvalid)]->Increment();
}

void Metrics::on_message_out(std::string_view frame) noexcept {
  constexpr std::string_view kPrefix = R"({"type":")";
  std::size_t index = kOutOther;
  if (frame.starts_with(kPrefix)) {
    auto rest = frame.substr(kPrefix.size());
    auto end = rest.find('"');
    if (end != std::string_view::npos) index = index_of(kOutTypes, rest.substr(0, end), kOutOther);
  }
  impl_->out[index]->Increment();
}

void Metrics::on_order_sent() noexcept { impl_->orders_sent->Increment(); }

void Metrics::on_deliveries(protocol::Status status, std::size_t count) noexcept {
  for (std::size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) impl_->deliveries[i]->Increment(static_cast<double>(count));
  }
}

void Metrics::on_error(protocol::ErrorCode code) noexcept {
  for (std::size_t i = 0; i < kErrorCodes.size(); ++i) {
    if (kErrorCodes[i] == code) impl_->errors[i]->Increment();
  }
}

void Metrics::on_slow_consumer_close() noexcept { impl_->slow_consumer_closes->Increment(); }
void Metrics::on_connection_opened() noexcept { impl_->connections_opened->Increment(); }

void Metrics::observe_send_to_push(SteadyTime read_at) noexcept { impl_->send_to_push->Observe(seconds_since(read_at)); }

void Metrics::observe_commit(SteadyTime enqueued_at) noexcept { impl_->commit->Observe(seconds_since(enqueued_at)); }

void Metrics::observe_store_batches(std::uint64_t batches, std::uint64_t writes) noexcept {
  if (batches == 0) return;
  const double mean = static_cast<double>(writes) / static_cast<double>(batches);
  std::vector<double> increments(kBatchBuckets.size() + 1, 0.0);
  auto bucket = std::lower_bound(kBatchBuckets.begin(), kBatchBuckets.end(), mean) - kBatchBuckets.begin();
  increments[static_cast<std::size_t>(bucket)] = static_cast<double>(batches);
  impl_->batch_size->ObserveMultiple(increments, static_cast<double>(writes));
}

double Metrics::uptime_seconds() const noexcept { return seconds_since(impl_->start); }

MetricsSnapshot Metrics::snapshot() const {
  const auto& i = *impl_;
  MetricsSnapshot s;
  for (std::size_t k = 0; k < kInTypes.size(); ++k) s.messages_in.push_back({std::string(kInTypes[k]), i.in[k]->Value()});
  for (std::size_t k = 0; k < kOutTypes.size(); ++k) {
    s.messages_out.push_back({std::string(kOutTypes[k]), i.out[k]->Value()});
  }
  for (std::size_t k = 0; k < kStatuses.size(); ++k) {
    s.deliveries.push_back({std::string(protocol::to_string(kStatuses[k])), i.deliveries[k]->Value()});
  }
  for (std::size_t k = 0; k < kErrorCodes.size(); ++k) {
    s.errors.push_back({std::string(protocol::to_string(kErrorCodes[k])), i.errors[k]->Value()});
  }
  s.orders_sent = i.orders_sent->Value();
  s.slow_consumer_closes = i.slow_consumer_closes->Value();
  s.connections_opened = i.connections_opened->Value();
  s.send_to_push = to_snapshot(*i.send_to_push);
  s.commit = to_snapshot(*i.commit);
  s.store_batch_size = to_snapshot(*i.batch_size);
  return s;
}

std::string Metrics::exposition(const ServerFigures& server) const {
  auto families = impl_->registry->Collect();
  auto add_gauge = [&families](const char* name, const char* help, double v) {
    auto f = family(name, help, MetricType::Gauge);
    f.metric.push_back(gauge_value(v));
    families.push_back(std::move(f));
  };
  auto add_counter = [&families](const char* name, const char* help, double v) {
    auto f = family(name, help, MetricType::Counter);
    f.metric.push_back(counter_value(v));
    families.push_back(std::move(f));
  };
  add_gauge("possync_connections", "Open POS WebSocket connections (/ws), before and after hello",
            static_cast<double>(server.connections));
  add_gauge("possync_sessions_online", "POS sessions with at least one connection",
            static_cast<double>(server.sessions_online));
  add_gauge("possync_live_connections", "Open /api/live dashboard streams", static_cast<double>(server.live_connections));
  add_gauge("possync_store_queue_depth", "Write requests waiting for the store's writer",
            static_cast<double>(server.store.write_queue_depth));
  add_gauge("possync_store_read_queue_depth", "Read requests waiting for a store reader",
            static_cast<double>(server.store.read_queue_depth));
  add_gauge("possync_store_writable", "1 when the store accepts writes (as /readyz)", server.store.writable ? 1 : 0);
  add_counter("possync_store_batches_total", "Group commits that succeeded",
              static_cast<double>(server.store.batches_committed));
  add_counter("possync_store_writes_total", "Write requests carried by successful group commits",
              static_cast<double>(server.store.writes_committed));
  add_counter("possync_store_batches_failed_total", "Group commits that failed as a whole",
              static_cast<double>(server.store.batches_failed));
  add_counter("possync_store_write_probes_total",
              "Checks, once a second while idle after a failed group commit, whether the store can write again",
              static_cast<double>(server.store.write_probes));
  add_gauge("possync_start_time_seconds", "Start of the broker process, seconds since the Unix epoch",
            impl_->start_unix_s);
  auto info = family("possync_build_info", "The broker's version (value 1)", MetricType::Gauge);
  info.metric.push_back(gauge_value(1, {{"version", POSSYNC_VERSION}, {"node", server.node_id}}));
  families.push_back(std::move(info));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace possync::broker
