// Metrics: the broker's operational figures (PROTOCOL.md §6, clarification
// 28), kept in prometheus-cpp counters and histograms behind plain methods,
// so this header stays cheap and free of prometheus includes.
//
// One instance per process (metrics()), as Prometheus expects of a scrape
// target; figures that belong to one Server (connections, sessions online,
// store queues) are not stored here but read from it at scrape time and
// passed in as ServerFigures.
//
// Threading: every method is thread-safe. The hot-path methods (on_*,
// observe_*) take no lock of ours: counters are pre-resolved per label value
// at construction (no label lookup per message) and prometheus-cpp updates
// them atomically; a histogram observation takes prometheus-cpp's own
// per-histogram mutex for a few nanoseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/types.hpp"
#include "storage/store.hpp"

namespace possync::broker {

using SteadyTime = std::chrono::steady_clock::time_point;

// A histogram at one moment, as Prometheus exposes it: cumulative counts per
// upper bound, the last entry being +Inf (= the number of observations).
struct HistogramSnapshot {
  std::vector<double> bounds;             // finite upper bounds, ascending
  std::vector<std::uint64_t> cumulative;  // bounds.size() + 1 entries
  double sum = 0;

  std::uint64_t count() const noexcept { return cumulative.empty() ? 0 : cumulative.back(); }
  // The observations made since `earlier` (a snapshot of the same histogram).
  HistogramSnapshot since(const HistogramSnapshot& earlier) const;
  // The q-quantile (0 < q < 1) estimated as Prometheus' histogram_quantile()
  // does: linear within the bucket; the highest finite bound when it falls in
  // +Inf. nullopt without observations.
  std::optional<double> quantile(double q) const;
};

struct LabeledValue {
  std::string label;
  double value = 0;
};

// Every process-wide figure at one moment (for /api/stats and /api/live).
struct MetricsSnapshot {
  std::vector<LabeledValue> messages_in;   // by request type
  std::vector<LabeledValue> messages_out;  // by message type
  std::vector<LabeledValue> deliveries;    // transitions into each status
  std::vector<LabeledValue> errors;        // error replies by code
  double orders_sent = 0;
  double slow_consumer_closes = 0;
  double connections_opened = 0;
  HistogramSnapshot send_to_push;  // seconds
  HistogramSnapshot commit;        // seconds
  HistogramSnapshot store_batch_size;
};

// What one Server knows, read when it is scraped.
struct ServerFigures {
  std::string node_id;
  std::size_t connections = 0;       // POS WebSocket connections (/ws)
  std::size_t sessions_online = 0;
  std::size_t live_connections = 0;  // /api/live dashboards
  storage::StoreStats store;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // ---- hot path ------------------------------------------------------------
  // A request of this `type` was read ("" or unknown: counted as "invalid").
  void on_message_in(std::string_view type) noexcept;
  // A frame was queued for a POS connection; its type is read from its
  // `{"type":"…"` prefix, which every serializer writes first.
  void on_message_out(std::string_view frame) noexcept;
  void on_order_sent() noexcept;
  // `count` deliveries moved into `status` (`sent`: created by a send).
  void on_deliveries(protocol::Status status, std::size_t count = 1) noexcept;
  void on_error(protocol::ErrorCode code) noexcept;
  void on_slow_consumer_close() noexcept;
  void on_connection_opened() noexcept;
  // A push frame for an order whose `send` was read at `read_at` is handed
  // to a receiver connection's write queue.
  void observe_send_to_push(SteadyTime read_at) noexcept;
  // A write request enqueued at `enqueued_at` got its commit callback.
  void observe_commit(SteadyTime enqueued_at) noexcept;
  // `batches` group commits carrying `writes` requests in all, learned from
  // the store's counters (see LiveFeed::figures): each is recorded at the
  // mean size of its sampling interval, so count and sum are exact.
  void observe_store_batches(std::uint64_t batches, std::uint64_t writes) noexcept;

  // ---- reading -------------------------------------------------------------
  MetricsSnapshot snapshot() const;
  // Prometheus text exposition 0.0.4 of every figure, the server's included.
  std::string exposition(const ServerFigures& server) const;
  double uptime_seconds() const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The process-wide instance.
Metrics& metrics();

}  // namespace possync::broker
