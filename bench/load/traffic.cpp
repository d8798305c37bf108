#include "bench/load/traffic.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>

namespace possync::load {

namespace {

// Sends of one order whose outcome stayed unknown (timeout, dropped
// connection) before it counts as unknown for good.
constexpr std::uint8_t kMaxAttempts = 5;
// --rate: scheduled sends a sender may owe while its window is full.
constexpr std::size_t kMaxBacklog = 100000;
constexpr std::size_t kKeptSamples = 5;

std::string_view string_member(const rapidjson::Value& doc, const char* name) {
  auto it = doc.FindMember(name);
  if (it == doc.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

std::int64_t int_member(const rapidjson::Value& doc, const char* name) {
  auto it = doc.FindMember(name);
  return it != doc.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
}

bool bool_member(const rapidjson::Value& doc, const char* name) {
  auto it = doc.FindMember(name);
  return it != doc.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

std::uint64_t key_of(std::size_t sender, std::uint32_t seq) { return (static_cast<std::uint64_t>(sender) << 32) | seq; }

}  // namespace

Traffic::Traffic(const Options& options, const Plan& plan, Fleet& fleet, const OrderPool& orders,
                 const std::string& session_prefix, const std::string& run_id)
    : options_(options),
      plan_(plan),
      fleet_(fleet),
      orders_(orders),
      prefix_(session_prefix + "." + run_id),
      stale_prefix_(session_prefix + "."),
      mode_(plan.claim ? "claim" : "copy"),
      sender_of_terminal_(plan.terminals.size(), -1),
      unique_by_terminal_(new std::atomic<std::int64_t>[plan.terminals.size()]),
      last_push_by_terminal_(new std::atomic<std::int64_t>[plan.terminals.size()]) {
  for (std::size_t t = 0; t < plan.terminals.size(); ++t) {
    unique_by_terminal_[t] = 0;
    last_push_by_terminal_[t] = 0;
  }
  total_quota_ = 0;
  for (std::size_t i = 0; i < plan.senders.size(); ++i) {
    const auto& sp = plan.senders[i];
    auto s = std::make_unique<Sender>();
    s->terminal = sp.terminal;
    s->targets = sp.targets;
    s->quota = sp.quota;
    s->rng = 0x9E3779B97F4A7C15ULL * (i + 1);
    if (plan.addressing == Addressing::all) {
      for (int t : sp.targets) s->fixed_to.push_back(plan.terminals[static_cast<std::size_t>(t)].id);
    }
    if (sp.quota < 0 || total_quota_ < 0) {
      total_quota_ = -1;
    } else {
      total_quota_ += sp.quota;
    }
    sender_of_terminal_[static_cast<std::size_t>(sp.terminal)] = static_cast<int>(i);
    senders_.push_back(std::move(s));
  }
}

Traffic::~Traffic() { stop(); }

// ---- sending ----

bool Traffic::quota_left(const Sender& s) const {
  return s.quota < 0 || static_cast<std::int64_t>(s.records.size() + s.backlog.size()) < s.quota;
}

// With s.mu held: a new ledger slot for an order sent (or scheduled) at t_send.
std::uint32_t Traffic::new_record(Sender& s, std::int64_t t_send) {
  Record r;
  r.t_send = t_send;
  r.first = static_cast<std::uint32_t>(s.to_terminals.size());
  switch (plan_.addressing) {
    case Addressing::all:
      for (int t : s.targets) s.to_terminals.push_back(t);
      break;
    case Addressing::round_robin:
      s.to_terminals.push_back(s.targets[s.round_robin++ % s.targets.size()]);
      break;
    case Addressing::random: {
      // A partial Fisher–Yates shuffle of the targets, xorshift-driven.
      auto pool = s.targets;
      for (int k = 0; k < plan_.to; ++k) {
        s.rng ^= s.rng << 13;
        s.rng ^= s.rng >> 7;
        s.rng ^= s.rng << 17;
        const auto j = static_cast<std::size_t>(k) + s.rng % (pool.size() - static_cast<std::size_t>(k));
        std::swap(pool[static_cast<std::size_t>(k)], pool[j]);
        s.to_terminals.push_back(pool[static_cast<std::size_t>(k)]);
      }
      break;
    }
  }
  r.n = static_cast<std::uint8_t>(s.to_terminals.size() - r.first);
  s.push_counts.resize(s.to_terminals.size(), 0);
  s.records.push_back(r);
  ++attempted_;
  return static_cast<std::uint32_t>(s.records.size() - 1);
}

Traffic::Outgoing Traffic::outgoing(Sender& s, std::uint32_t seq) {
  Outgoing o;
  o.seq = seq;
  auto& r = s.records[seq];
  ++r.attempts;
  ++s.in_flight;
  ++in_flight_;
  if (plan_.addressing != Addressing::all) {
    for (std::uint32_t k = 0; k < r.n; ++k) {
      o.to.push_back(plan_.terminals[static_cast<std::size_t>(s.to_terminals[r.first + k])].id);
    }
  }
  return o;
}

// With s.mu held: new orders up to the window (flat out), or the owed ones (--rate).
void Traffic::fill_window(Sender& s, std::vector<Outgoing>& out) {
  if (!running_ || s.down || s.paused) return;
  const auto now = now_ns();
  while (s.in_flight < options_.window) {
    if (options_.rate > 0) {
      if (s.backlog.empty()) return;
      const auto scheduled = s.backlog.front();
      s.backlog.pop_front();
      out.push_back(outgoing(s, new_record(s, scheduled)));
    } else {
      if (!quota_left(s)) return;
      out.push_back(outgoing(s, new_record(s, now)));
    }
  }
}

void Traffic::take_retries(Sender& s, std::vector<Outgoing>& out) {
  for (auto seq : s.retry) {
    ++retries_;
    --retry_pending_;
    --unknown_;
    s.records[seq].state = kInFlight;
    out.push_back(outgoing(s, seq));
  }
  s.retry.clear();
}

void Traffic::dispatch(std::size_t sender, std::vector<Outgoing>& out) {
  auto& s = *senders_[sender];
  auto& c = fleet_.client(s.terminal);
  for (auto& o : out) {
    std::string ref = prefix_;
    ref += '-';
    ref += std::to_string(sender);
    ref += '-';
    ref += std::to_string(o.seq);
    c.send_order(ref, o.to.empty() ? s.fixed_to : o.to, mode_, orders_.body(o.seq + sender),
                 [this, key = key_of(sender, o.seq)](client::Reply reply) {
                   on_reply(static_cast<std::size_t>(key >> 32), static_cast<std::uint32_t>(key), reply);
                 });
  }
  out.clear();
}

void Traffic::on_reply(std::size_t sender, std::uint32_t seq, const client::Reply& reply) {
  const auto now = now_ns();
  auto& s = *senders_[sender];
  std::vector<Outgoing> next;
  {
    std::lock_guard lock(s.mu);
    auto& r = s.records[seq];
    --s.in_flight;
    --in_flight_;
    if (reply.ok()) {
      const auto& doc = reply.message->doc;
      r.state = kAcked;
      r.order_id = int_member(doc, "order_id");
      ++acknowledged_;
      if (bool_member(doc, "duplicate")) ++duplicate_replies_;
      sent_ns_.record(now - r.t_send);
      for (std::uint32_t k = 0; k < r.n; ++k) {
        if (s.push_counts[r.first + k] == 0) ++outstanding_;
      }
    } else if (reply.message) {
      const auto code = reply.message->error_code();
      count_error(code);
      if (code == "rate_limited" || code == "unavailable") {
        // Nothing was stored: back off until the next resume(), then send
        // it again with the same ref, as a POS would.
        r.state = kUnknown;
        ++unknown_;
        if (r.attempts < kMaxAttempts) {
          s.retry.push_back(seq);
          ++retry_pending_;
        }
        s.paused = true;
      } else {
        r.state = kFailed;
        ++failed_;
      }
    } else {
      // No answer: the order may or may not exist. Resend it with the same
      // ref (the broker keeps exactly one order per ref) once the
      // connection is back, or at once after a timeout on a live one.
      r.state = kUnknown;
      ++unknown_;
      const bool timeout = reply.failure == "timeout";
      count_error(timeout ? "transport:timeout" : "transport:closed");
      if (r.attempts < kMaxAttempts) {
          s.retry.push_back(seq);
          ++retry_pending_;
        }
      if (timeout && fleet_.client(s.terminal).is_open()) {
        if (!s.paused) take_retries(s, next);
      } else {
        s.down = true;
      }
    }
    fill_window(s, next);
  }
  dispatch(sender, next);
}

void Traffic::handle_up(int terminal) {
  const int sender = sender_of_terminal_[static_cast<std::size_t>(terminal)];
  if (sender < 0) return;
  auto& s = *senders_[static_cast<std::size_t>(sender)];
  std::vector<Outgoing> next;
  {
    std::lock_guard lock(s.mu);
    s.down = false;
    if (!s.paused) take_retries(s, next);
    fill_window(s, next);
  }
  dispatch(static_cast<std::size_t>(sender), next);
}

void Traffic::resume() {
  for (std::size_t i = 0; i < senders_.size(); ++i) {
    auto& s = *senders_[i];
    std::vector<Outgoing> next;
    {
      std::lock_guard lock(s.mu);
      if (!s.paused) continue;
      s.paused = false;
      if (s.down) continue;
      take_retries(s, next);
      fill_window(s, next);
    }
    dispatch(i, next);
  }
}

void Traffic::offer(std::size_t sender, std::int64_t scheduled) {
  auto& s = *senders_[sender];
  std::vector<Outgoing> next;
  {
    std::lock_guard lock(s.mu);
    if (!quota_left(s)) return;
    if (s.backlog.size() >= kMaxBacklog) {
      ++backlog_dropped_;
      return;
    }
    s.backlog.push_back(scheduled);
    fill_window(s, next);
  }
  dispatch(sender, next);
}

// --rate: order i of the run is due at start + i/rate and goes to sender
// i mod S; a sender whose window is full owes it (backlog) and sends it
// with its scheduled time, so a stall shows in the latency.
void Traffic::pace() {
  const double ns_per_order = 1e9 / options_.rate;
  std::int64_t issued = 0;
  const auto n = senders_.size();
  while (running_) {
    const auto now = now_ns();
    const auto due = static_cast<std::int64_t>(static_cast<double>(now - started_ns_) / ns_per_order) + 1;
    for (; issued < due && running_; ++issued) {
      offer(static_cast<std::size_t>(issued) % n,
            started_ns_ + static_cast<std::int64_t>(static_cast<double>(issued) * ns_per_order));
    }
    const auto next_due = started_ns_ + static_cast<std::int64_t>(static_cast<double>(issued) * ns_per_order);
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::clamp<std::int64_t>(next_due - now_ns(), 0, 5'000'000)));
  }
}

void Traffic::start() {
  started_ns_ = now_ns();
  running_ = true;
  if (options_.rate > 0) {
    pacer_ = std::thread([this] { pace(); });
    return;
  }
  for (std::size_t i = 0; i < senders_.size(); ++i) {
    std::vector<Outgoing> next;
    {
      std::lock_guard lock(senders_[i]->mu);
      fill_window(*senders_[i], next);
    }
    dispatch(i, next);
  }
}

void Traffic::stop() {
  running_ = false;
  if (pacer_.joinable()) pacer_.join();
  for (auto& s : senders_) {
    std::lock_guard lock(s->mu);
    backlog_dropped_ += static_cast<std::int64_t>(s->backlog.size());
    s->backlog.clear();
  }
}

bool Traffic::sending_done() const { return total_quota_ >= 0 && attempted_.load() >= total_quota_; }

bool Traffic::settled() const {
  return in_flight_.load() == 0 && retry_pending_.load() == 0 && outstanding_.load() == 0 &&
         claims_pending_.load() == 0;
}

// ---- receiving ----

void Traffic::handle_push(int terminal, const client::MessagePtr& message) {
  const auto& doc = message->doc;
  if (!doc.IsObject() || string_member(doc, "type") != "order") return;  // status, presence
  const auto now = now_ns();
  const auto order_id = int_member(doc, "order_id");
  const auto ref = string_member(doc, "ref");
  if (options_.ack && !plan_.claim) fleet_.client(terminal).ack(order_id);
  ++pushes_;

  // ref = "<prefix>-<sender>-<seq>"
  std::size_t sender = 0;
  std::uint32_t seq = 0;
  const bool ours = ref.size() > prefix_.size() + 1 && ref.starts_with(prefix_) && ref[prefix_.size()] == '-';
  const auto rest = ours ? ref.substr(prefix_.size() + 1) : std::string_view{};
  const auto dash = rest.find('-');
  if (!ours || dash == std::string_view::npos ||
      std::from_chars(rest.data(), rest.data() + dash, sender).ptr != rest.data() + dash ||
      std::from_chars(rest.data() + dash + 1, rest.data() + rest.size(), seq).ptr != rest.data() + rest.size() ||
      sender >= senders_.size()) {
    if (!ours && ref.starts_with(stale_prefix_)) {
      ++stale_;
      return;
    }
    return note_unexpected(terminal, ref);
  }

  auto& s = *senders_[sender];
  std::uint16_t count = 0;
  {
    std::lock_guard lock(s.mu);
    if (seq >= s.records.size()) return note_unexpected(terminal, ref);
    auto& r = s.records[seq];
    const auto begin = s.to_terminals.begin() + r.first;
    const auto at = std::find(begin, begin + r.n, terminal);
    if (at == begin + r.n) return note_unexpected(terminal, ref);
    auto& c = s.push_counts[static_cast<std::size_t>(at - s.to_terminals.begin())];
    if (c < std::numeric_limits<std::uint16_t>::max()) ++c;
    count = c;
    if (count == 1) {
      push_ns_.record(now - r.t_send);
      push_second_ns_.record(now - r.t_send);
      if (r.state == kAcked) --outstanding_;
      if (r.order_id != 0 && r.order_id != order_id) ++mismatched_;
    }
  }
  if (count != 1) return;
  ++unique_by_terminal_[static_cast<std::size_t>(terminal)];
  last_push_by_terminal_[static_cast<std::size_t>(terminal)] = now;
  if (plan_.claim) {
    ++claims_pending_;
    fleet_.client(terminal).deliver(order_id, [this, key = key_of(sender, seq)](client::Reply reply) {
      on_deliver(static_cast<std::size_t>(key >> 32), static_cast<std::uint32_t>(key), reply);
    });
  }
}

void Traffic::on_deliver(std::size_t sender, std::uint32_t seq, const client::Reply& reply) {
  if (reply.ok() && !bool_member(reply.message->doc, "duplicate")) {
    auto& s = *senders_[sender];
    std::lock_guard lock(s.mu);
    auto& r = s.records[seq];
    if (r.winners < std::numeric_limits<std::uint8_t>::max()) ++r.winners;
    ++claim_wins_;
  } else if (reply.message && reply.message->error_code() == "conflict") {
    ++claim_conflicts_;  // another receiver won: the order is `taken` for this one
  } else {
    count_error(reply.message ? "deliver:" + reply.message->error_code() : "deliver:transport");
  }
  --claims_pending_;
}

void Traffic::note_unexpected(int terminal, std::string_view ref) {
  ++unexpected_;
  std::lock_guard lock(errors_mu_);
  if (unexpected_samples_.size() < kKeptSamples) {
    unexpected_samples_.push_back("unexpected push of '" + std::string(ref) + "' to " +
                                  plan_.terminals[static_cast<std::size_t>(terminal)].id);
  }
}

void Traffic::count_error(const std::string& key) {
  std::lock_guard lock(errors_mu_);
  ++errors_[key.empty() ? "unknown" : key];
}

std::map<std::string, std::int64_t> Traffic::errors() const {
  std::lock_guard lock(errors_mu_);
  return errors_;
}

// ---- the verdict ----

Verification Traffic::verify() const {
  Verification v;
  v.unexpected = unexpected_.load();
  v.order_id_mismatch = mismatched_.load();
  v.stale = stale_.load();
  {
    std::lock_guard lock(errors_mu_);
    v.samples = unexpected_samples_;
  }
  for (std::size_t si = 0; si < senders_.size(); ++si) {
    auto& s = *senders_[si];
    std::lock_guard lock(s.mu);
    for (std::size_t seq = 0; seq < s.records.size(); ++seq) {
      const auto& r = s.records[seq];
      std::int64_t pushed = 0;
      for (std::uint32_t k = 0; k < r.n; ++k) {
        const auto c = s.push_counts[r.first + k];
        pushed += c;
        if (r.state != kAcked) continue;
        if (c == 0) {
          ++v.lost;
          if (v.samples.size() < 2 * kKeptSamples) {
            v.samples.push_back("lost: order " + std::to_string(r.order_id) + " (ref " + prefix_ + "-" +
                                std::to_string(si) + "-" + std::to_string(seq) + ") never reached " +
                                plan_.terminals[static_cast<std::size_t>(s.to_terminals[r.first + k])].id);
          }
        } else {
          ++v.delivered;
          v.duplicates_removed += c - 1;
        }
      }
      if (r.state == kAcked) {
        ++v.acknowledged;
        v.expected_deliveries += r.n;
        if (plan_.claim && r.winners == 0) ++v.claim_no_winner;
        if (plan_.claim && r.winners > 1) ++v.claim_multiple_winners;
      } else if (r.state == kFailed) {
        v.unexpected += pushed;  // the broker refused it, yet pushed it
      } else {
        v.unconfirmed += pushed;
      }
    }
  }
  return v;
}

}  // namespace possync::load
