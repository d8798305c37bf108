#include "bench/load/plan.hpp"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <rapidjson/document.h>

#include "clients/cpp/client.hpp"

namespace possync::load {

namespace {

class Builder {
 public:
  explicit Builder(Plan& plan, std::string prefix) : plan_(plan), prefix_(std::move(prefix)) {}

  void new_shop() {
    shop_ = prefix_ + "-s" + std::to_string(plan_.shops++);
    in_shop_ = 0;
  }
  int add(bool sender, bool receiver) {
    Terminal t;
    t.id = shop_ + (sender && !receiver ? "-tx" : receiver && !sender ? "-rx" : "-t") + std::to_string(in_shop_++);
    t.shop = shop_;
    t.sender = sender;
    t.receiver = receiver;
    plan_.terminals.push_back(std::move(t));
    const int index = static_cast<int>(plan_.terminals.size()) - 1;
    if (receiver) plan_.receivers.push_back(index);
    return index;
  }
  void add_sender(int terminal, std::vector<int> targets, std::int64_t quota = -1) {
    plan_.senders.push_back(SenderPlan{terminal, std::move(targets), quota});
  }

 private:
  Plan& plan_;
  std::string prefix_;
  std::string shop_;
  int in_shop_ = 0;
};

void spread_count(Plan& plan, std::int64_t count) {
  if (count <= 0) return;
  const auto n = static_cast<std::int64_t>(plan.senders.size());
  for (std::int64_t i = 0; i < n; ++i) plan.senders[static_cast<std::size_t>(i)].quota = count / n + (i < count % n ? 1 : 0);
}

}  // namespace

Plan make_plan(const Options& o, const std::string& prefix) {
  Plan plan;
  Builder b(plan, prefix);
  if (o.mode == Mode::idle) {
    for (int i = 0; i < o.connections; ++i) {
      if (i % o.shop_size == 0) b.new_shop();
      b.add(true, true);
    }
    return plan;
  }
  if (o.mode == Mode::storm) {
    // One sender per shop sends every receiver of its shop its pending orders.
    plan.addressing = Addressing::round_robin;
    const int per_shop = o.shop_size - 1;
    for (int done = 0; done < o.receivers;) {
      b.new_shop();
      const int sender = b.add(true, false);
      std::vector<int> targets;
      for (int k = 0; k < per_shop && done < o.receivers; ++k, ++done) targets.push_back(b.add(false, true));
      const auto quota = static_cast<std::int64_t>(targets.size()) * o.pending;
      b.add_sender(sender, std::move(targets), quota);
    }
    return plan;
  }
  switch (o.topology) {
    case Topology::pairs: {
      const int per_shop = std::max(1, o.shop_size / 2);
      for (int i = 0; i < o.senders; ++i) {
        if (i % per_shop == 0) b.new_shop();
        const int tx = b.add(true, false);
        const int rx = b.add(false, true);
        b.add_sender(tx, {rx});
      }
      break;
    }
    case Topology::fanout:
    case Topology::claim: {
      plan.claim = o.topology == Topology::claim;
      plan.to = o.receivers;
      const int per_shop = std::max(1, o.shop_size / (o.receivers + 1));
      for (int i = 0; i < o.senders; ++i) {
        if (i % per_shop == 0) b.new_shop();
        const int tx = b.add(true, false);
        std::vector<int> targets;
        for (int k = 0; k < o.receivers; ++k) targets.push_back(b.add(false, true));
        b.add_sender(tx, std::move(targets));
      }
      break;
    }
    case Topology::mesh: {
      plan.addressing = Addressing::random;
      plan.to = o.to;
      // Terminals are dealt over the shops like cards, so every shop has at
      // least min(terminals, shop size) members.
      const int shops = std::max(1, o.terminals / o.shop_size);
      std::vector<std::vector<int>> members(static_cast<std::size_t>(shops));
      for (int s = 0; s < shops; ++s) {
        b.new_shop();
        for (int i = s; i < o.terminals; i += shops) members[static_cast<std::size_t>(s)].push_back(b.add(true, true));
      }
      for (const auto& shop : members) {
        for (int t : shop) {
          std::vector<int> peers;
          std::copy_if(shop.begin(), shop.end(), std::back_inserter(peers), [t](int p) { return p != t; });
          b.add_sender(t, std::move(peers));
        }
      }
      break;
    }
  }
  spread_count(plan, o.count);
  return plan;
}

namespace {

std::optional<std::string> token_from(const client::HttpResponse& r, int want_status) {
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  if (r.status != want_status || !d.IsObject() || !d.HasMember("token") || !d["token"].IsString()) {
    return std::nullopt;
  }
  return std::string(d["token"].GetString(), d["token"].GetStringLength());
}

// Creates (or, when it exists, re-keys) one session; returns its token or
// sets `error`.
std::string provision_one(const Options& o, const Terminal& t, std::string& error) {
  const std::string path = "/api/sessions/" + t.id;
  const std::string body = "{\"name\":" + client::json_quote(t.id) + ",\"shop\":" + client::json_quote(t.shop) +
                           ",\"sender\":" + (t.sender ? "true" : "false") +
                           ",\"receiver\":" + (t.receiver ? "true" : "false") + "}";
  auto r = client::http_request(o.host, o.port, "PUT", path, o.admin_token, body);
  if (auto token = token_from(r, 201)) return *token;
  if (r.status == 200) {  // it existed (a --prefix reused): the roles are updated, the token is rotated
    auto rotated = client::http_request(o.host, o.port, "POST", path + "/token", o.admin_token);
    if (auto token = token_from(rotated, 200)) return *token;
    r = rotated;
  }
  error = "provisioning " + t.id + ": HTTP " + std::to_string(r.status) + " " + r.body + r.error;
  return {};
}

}  // namespace

std::optional<std::string> provision(const Options& o, Plan& plan) {
  if (!o.tokens_in.empty()) {
    std::ifstream in(o.tokens_in);
    if (!in) return "cannot read " + o.tokens_in;
    std::map<std::string, std::string> tokens;
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string id, token;
      if (fields >> id >> token) tokens[id] = token;
    }
    for (auto& t : plan.terminals) {
      auto it = tokens.find(t.id);
      if (it == tokens.end()) return o.tokens_in + " has no token for " + t.id + " (same --prefix and layout as the run that saved it?)";
      t.token = it->second;
    }
    return std::nullopt;
  }

  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::string first_error;
  auto worker = [&] {
    for (;;) {
      const auto i = next.fetch_add(1);
      if (i >= plan.terminals.size()) return;
      std::string error;
      auto token = provision_one(o, plan.terminals[i], error);
      if (!error.empty()) {
        std::lock_guard lock(mu);
        if (first_error.empty()) first_error = error;
        next = plan.terminals.size();  // stop the others
        return;
      }
      plan.terminals[i].token = std::move(token);
    }
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < o.provision_parallel; ++w) workers.emplace_back(worker);
  for (auto& w : workers) w.join();
  if (!first_error.empty()) return first_error;
  return std::nullopt;
}

std::optional<std::string> save_tokens(const std::string& path, const Plan& plan) {
  std::ofstream out(path);
  for (const auto& t : plan.terminals) out << t.id << ' ' << t.token << '\n';
  out.close();
  if (!out) return "cannot write " + path;
  return std::nullopt;
}

}  // namespace possync::load
