// The JSON views of the broker's figures: the GET /api/stats body and the
// `stats` frame of /api/live (the same figures plus recent rates). Field
// names are the Prometheus names without the `possync_` prefix and the
// `_total` suffix (protocol/README.md lists them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "broker/metrics.hpp"

namespace possync::broker {

// What changed over the last seconds, for dashboards.
struct LiveRates {
  double window_s = 0;  // the interval the per-second rates cover
  double orders_per_s = 0;
  double messages_in_per_s = 0;
  double messages_out_per_s = 0;
  double latency_window_s = 0;  // the interval the quantiles cover
  std::uint64_t pushes = 0;     // send→push observations in that interval
  std::optional<double> send_to_push_p50_s, send_to_push_p99_s;
  std::optional<double> commit_p50_s, commit_p99_s;
};

std::string stats_body(const ServerFigures& server, const MetricsSnapshot& snapshot, double uptime_s);
// {"type":"stats","at":…, …the stats body's members…, "rates":{…}}
std::string stats_frame(const ServerFigures& server, const MetricsSnapshot& snapshot, double uptime_s,
                        const LiveRates& rates);

}  // namespace possync::broker
