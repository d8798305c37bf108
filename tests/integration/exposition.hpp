// A strict reader of the Prometheus text exposition format 0.0.4, for the
// /metrics tests (promtool is not always at hand): it checks the line
// grammar (names, labels, escapes, values), that every family has exactly
// one HELP and one TYPE before its samples, that a family's samples are
// contiguous and never repeat a series, and that each histogram has
// increasing `le` bounds, non-decreasing cumulative counts, a +Inf bucket
// equal to its _count, and a _sum.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace possync::test {

using Labels = std::map<std::string, std::string>;

struct MetricSample {
  std::string name;  // as written (e.g. x_bucket for a histogram x)
  Labels labels;
  double value = 0;
};

struct MetricFamily {
  std::string name;
  std::string type;  // counter, gauge, histogram, summary, untyped
  std::string help;
  std::vector<MetricSample> samples;
};

struct Exposition {
  std::map<std::string, MetricFamily> families;
  // The value of the sample with exactly this name and these labels.
  std::optional<double> value(const std::string& sample_name, const Labels& labels = {}) const;
};

// "" when `text` is valid (then `out` holds it), else the first problem
// found, naming its line.
std::string parse_exposition(std::string_view text, Exposition& out);

}  // namespace possync::test
