// The metrics' arithmetic without a server: histogram quantiles and deltas,
// the type sniffing of outgoing frames, and the exposition of every family.
#include <catch2/catch.hpp>

#include "broker/metrics.hpp"

using possync::broker::HistogramSnapshot;
using possync::broker::metrics;

namespace {

double labeled(const std::vector<possync::broker::LabeledValue>& values, const std::string& label) {
  for (const auto& v : values) {
    if (v.label == label) return v.value;
  }
  FAIL("no label " << label);
  return 0;
}

}  // namespace

TEST_CASE("metrics: quantiles interpolate within buckets like histogram_quantile", "[metrics]") {
  HistogramSnapshot h;
  h.bounds = {1, 2, 4};
  h.cumulative = {0, 0, 0, 0};
  CHECK_FALSE(h.quantile(0.5).has_value());
  h.cumulative = {10, 20, 40, 40};  // 10 in (0,1], 10 in (1,2], 20 in (2,4]
  CHECK(h.count() == 40);
  CHECK(*h.quantile(0.25) == Approx(1.0));
  CHECK(*h.quantile(0.5) == Approx(2.0));
  CHECK(*h.quantile(0.75) == Approx(3.0));
  CHECK(*h.quantile(0.125) == Approx(0.5));
  h.cumulative = {0, 0, 1, 3};  // two observations beyond the last bound
  CHECK(*h.quantile(0.99) == Approx(4.0));
}

TEST_CASE("metrics: a snapshot minus an earlier one is the observations in between", "[metrics]") {
  HistogramSnapshot a, b;
  a.bounds = b.bounds = {1, 2};
  a.cumulative = {1, 2, 3};
  a.sum = 4;
  b.cumulative = {1, 5, 9};
  b.sum = 16;
  auto d = b.since(a);
  CHECK(d.cumulative == std::vector<std::uint64_t>{0, 3, 6});
  CHECK(d.sum == Approx(12));
  CHECK(*d.quantile(0.5) == Approx(2.0));  // half of the new ones are above 2
}

TEST_CASE("metrics: outgoing frames are counted by the type their serializer wrote first", "[metrics]") {
  auto before = metrics().snapshot();
  metrics().on_message_out(R"({"type":"order","order_id":1})");
  metrics().on_message_out(R"({"type":"error","code":"bad_json"})");
  metrics().on_message_out(R"({"type":"surprise"})");
  metrics().on_message_out("not json");
  metrics().on_message_in("send");
  metrics().on_message_in("no-such-type");
  auto after = metrics().snapshot();
  CHECK(labeled(after.messages_out, "order") - labeled(before.messages_out, "order") == 1);
  CHECK(labeled(after.messages_out, "error") - labeled(before.messages_out, "error") == 1);
  CHECK(labeled(after.messages_out, "other") - labeled(before.messages_out, "other") == 2);
  CHECK(labeled(after.messages_in, "send") - labeled(before.messages_in, "send") == 1);
  CHECK(labeled(after.messages_in, "invalid") - labeled(before.messages_in, "invalid") == 1);
}

TEST_CASE("metrics: store batches sampled from counters keep an exact count and sum", "[metrics]") {
  auto before = metrics().snapshot().store_batch_size;
  metrics().observe_store_batches(4, 40);  // four batches of ten on average
  metrics().observe_store_batches(0, 0);   // nothing committed meanwhile
  auto d = metrics().snapshot().store_batch_size.since(before);
  CHECK(d.count() == 4);
  CHECK(d.sum == Approx(40));
  CHECK(*d.quantile(0.5) > 8);
  CHECK(*d.quantile(0.5) <= 16);
}

TEST_CASE("metrics: the exposition carries the server's gauges and the build info", "[metrics]") {
  possync::broker::ServerFigures f;
  f.node_id = "node-a";
  f.connections = 7;
  f.store.write_queue_depth = 3;
  auto text = metrics().exposition(f);
  CHECK(text.find("\npossync_connections 7\n") != std::string::npos);
  CHECK(text.find("\npossync_store_queue_depth 3\n") != std::string::npos);
  auto info = text.find("\npossync_build_info{");
  REQUIRE(info != std::string::npos);
  auto line = text.substr(info + 1, text.find('\n', info + 1) - info - 1);
  CHECK(line.find("node=\"node-a\"") != std::string::npos);
  CHECK(line.find("version=\"" POSSYNC_VERSION "\"") != std::string::npos);
  CHECK(line.ends_with("} 1"));
  CHECK(text.find("# TYPE possync_send_to_push_seconds histogram") != std::string::npos);
}
