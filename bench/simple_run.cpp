// possync-simple-run: a small fixed workload for quick measurements, until
// the full load harness (possync-load) lands. N senders each keep a window
// of sends in flight to their own receiver for a duration; it reports
// orders/s, send→sent and send→push latency percentiles, and checks that
// every acknowledged order reached its receiver exactly once.
//
//   possync-simple-run --port 8080 --admin-token T [--pairs 10] [--seconds 10] [--window 4] [--lines 5]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>

#include "clients/cpp/client.hpp"

namespace {

using namespace possync;
using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

struct Args {
  std::uint16_t port = 8080;
  std::string admin_token;
  int pairs = 10;
  int seconds = 10;
  int window = 4;
  int lines = 5;
};

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) return false;
    std::string v = argv[++i];
    if (k == "--port") a.port = static_cast<std::uint16_t>(std::stoi(v));
    else if (k == "--admin-token") a.admin_token = v;
    else if (k == "--pairs") a.pairs = std::stoi(v);
    else if (k == "--seconds") a.seconds = std::stoi(v);
    else if (k == "--window") a.window = std::stoi(v);
    else if (k == "--lines") a.lines = std::stoi(v);
    else return false;
  }
  return !a.admin_token.empty() && a.pairs > 0 && a.seconds > 0 && a.window > 0 && a.lines > 0;
}

struct Stats {
  std::mutex mu;
  std::vector<double> sent_ms, push_ms;
  std::set<std::string> acked_refs;       // refs the broker acknowledged
  std::map<std::string, int> pushed_refs; // ref → times pushed
  int errors = 0;
};

std::string order_json(int lines, std::int64_t t0) {
  std::string o = R"({"name":"bench","t0":)" + std::to_string(t0) + R"(,"lines":[)";
  for (int i = 0; i < lines; ++i) {
    if (i) o += ',';
    o += R"({"product_id":)" + std::to_string(100 + i) + R"(,"name":"Item )" + std::to_string(i) +
         R"(","qty":1,"price_unit":4.5,"discount":0})";
  }
  return o + "]}";
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

std::string provision(const Args& a, const std::string& id, bool sender, bool receiver) {
  // Pairs share a shop so a sender may address its receiver.
  std::string body = std::string(R"({"shop":"bench","sender":)") + (sender ? "true" : "false") + R"(,"receiver":)" +
                     (receiver ? "true" : "false") + "}";
  client::http_request("127.0.0.1", a.port, "DELETE", "/api/sessions/" + id, a.admin_token);
  auto r = client::http_request("127.0.0.1", a.port, "PUT", "/api/sessions/" + id, a.admin_token, body);
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  if (r.status != 201 || !d.IsObject() || !d.HasMember("token")) {
    std::fprintf(stderr, "provision %s failed: %d %s %s\n", id.c_str(), r.status, r.body.c_str(), r.error.c_str());
    std::exit(3);
  }
  return d["token"].GetString();
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr, "usage: possync-simple-run --port P --admin-token T [--pairs N] [--seconds S] [--window W] [--lines L]\n");
    return 2;
  }
  client::Runtime rt(1);
  Stats st;
  std::vector<std::shared_ptr<client::Client>> senders, receivers;
  std::string run = std::to_string(now_ns() % 1000000007);
  for (int i = 0; i < a.pairs; ++i) {
    client::Options ro;
    ro.port = a.port;
    ro.session = "bench-rx-" + std::to_string(i);
    ro.token = provision(a, ro.session, false, true);
    auto rx = client::Client::create(rt, ro);
    std::weak_ptr<client::Client> weak = rx;
    rx->on_push([&st, weak](client::MessagePtr m) {
      if (m->type() != "order") return;
      auto t1 = now_ns();
      auto t0 = m->doc["order"]["t0"].GetInt64();
      std::lock_guard lock(st.mu);
      st.push_ms.push_back(static_cast<double>(t1 - t0) / 1e6);
      ++st.pushed_refs[m->string_field("ref")];
      if (auto c = weak.lock()) c->ack(m->int_field("order_id"));
    });
    if (!rx->connect_sync().empty() || !rx->hello_sync().ok()) return std::fprintf(stderr, "receiver connect failed\n"), 3;
    receivers.push_back(rx);

    client::Options so = ro;
    so.session = "bench-tx-" + std::to_string(i);
    so.token = provision(a, so.session, true, false);
    auto tx = client::Client::create(rt, so);
    if (!tx->connect_sync().empty() || !tx->hello_sync().ok()) return std::fprintf(stderr, "sender connect failed\n"), 3;
    senders.push_back(tx);
  }

  std::atomic<bool> running{true};
  std::atomic<std::int64_t> seq{0};
  std::atomic<int> in_flight{0};
  std::function<void(int)> send_one = [&](int i) {
    if (!running) return;
    auto t0 = now_ns();
    std::string ref = "run" + run + "-" + std::to_string(seq++);
    ++in_flight;
    senders[static_cast<std::size_t>(i)]->send_order(
        ref, {"bench-rx-" + std::to_string(i)}, "copy", order_json(a.lines, t0), [&, i, t0, ref](client::Reply r) {
          {
            std::lock_guard lock(st.mu);
            if (r.ok()) {
              st.sent_ms.push_back(static_cast<double>(now_ns() - t0) / 1e6);
              st.acked_refs.insert(ref);
            } else {
              ++st.errors;
            }
          }
          --in_flight;
          send_one(i);
        });
  };
  auto start = Clock::now();
  for (int i = 0; i < a.pairs; ++i) {
    for (int w = 0; w < a.window; ++w) send_one(i);
  }
  std::this_thread::sleep_for(std::chrono::seconds(a.seconds));  // the run's duration, not a timing assertion
  running = false;
  auto elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  auto settle = Clock::now() + std::chrono::seconds(10);
  while ((in_flight > 0) && Clock::now() < settle) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Wait for the last pushes to land.
  for (;;) {
    std::size_t missing = 0;
    {
      std::lock_guard lock(st.mu);
      for (const auto& ref : st.acked_refs) missing += st.pushed_refs.count(ref) ? 0 : 1;
    }
    if (missing == 0 || Clock::now() > settle) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  std::lock_guard lock(st.mu);
  std::size_t lost = 0, dup = 0, unexpected = 0;
  for (const auto& ref : st.acked_refs) {
    auto it = st.pushed_refs.find(ref);
    if (it == st.pushed_refs.end()) ++lost;
    else if (it->second > 1) ++dup;
  }
  for (const auto& [ref, n] : st.pushed_refs) {
    if (!st.acked_refs.count(ref)) ++unexpected;
  }
  auto acked = st.acked_refs.size();
  std::printf("pairs=%d window=%d lines=%d seconds=%.1f\n", a.pairs, a.window, a.lines, elapsed);
  std::printf("orders acknowledged: %zu (%.0f orders/s), errors: %d\n", acked, static_cast<double>(acked) / elapsed,
              st.errors);
  std::printf("send->sent ms: p50 %.2f p99 %.2f max %.2f\n", pct(st.sent_ms, 0.5), pct(st.sent_ms, 0.99),
              pct(st.sent_ms, 1.0));
  std::printf("send->push ms: p50 %.2f p99 %.2f max %.2f\n", pct(st.push_ms, 0.5), pct(st.push_ms, 0.99),
              pct(st.push_ms, 1.0));
  std::printf("lost=%zu duplicated=%zu unexpected=%zu\n", lost, dup, unexpected);
  for (auto& c : senders) c->close();
  for (auto& c : receivers) c->close();
  return (lost || unexpected) ? 1 : 0;
}
