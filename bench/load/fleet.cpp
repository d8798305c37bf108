#include "bench/load/fleet.hpp"

#include <chrono>
#include <thread>

namespace possync::load {

namespace {
constexpr std::size_t kKeptErrors = 5;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool wait_for(const std::function<bool()>& done, double timeout_s, const std::function<void()>& each_second) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  auto next_tick = Clock::now() + std::chrono::seconds(1);
  while (!done()) {
    const auto now = Clock::now();
    if (now >= deadline) return false;
    if (now >= next_tick) {
      next_tick += std::chrono::seconds(1);
      if (each_second) each_second();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a poll interval, not a timing assumption
  }
  return true;
}

Fleet::Fleet(const Options& options, const Plan& plan)
    : options_(options),
      runtime_(std::make_unique<client::Runtime>(options.threads)),
      slots_(new Slot[plan.terminals.size()]),
      slot_count_(plan.terminals.size()) {
  // Many connections from one source address run out of ephemeral ports
  // (and TIME_WAIT keeps them busy across runs): spread them over
  // 127.0.0.2, .3, … when there are many.
  int local_addrs = options.local_addrs;
  if (local_addrs < 0) local_addrs = slot_count_ > 5000 ? static_cast<int>((slot_count_ + 4999) / 5000) : 0;
  for (std::size_t i = 0; i < slot_count_; ++i) {
    const auto& t = plan.terminals[i];
    // Receive-only terminals may be on another node of a cluster.
    const bool elsewhere = t.receiver && !t.sender;
    client::Options co;
    co.host = elsewhere ? options.receiver_host : options.host;
    co.port = elsewhere ? options.receiver_port : options.port;
    const bool loopback = co.host == "127.0.0.1" || co.host == "localhost";
    co.session = t.id;
    co.token = t.token;
    co.client_name = "possync-load/" POSSYNC_VERSION;
    co.request_timeout = std::chrono::milliseconds(options.request_timeout_ms);
    if (loopback && local_addrs > 0) co.local_address = "127.0.0." + std::to_string(2 + i % static_cast<std::size_t>(local_addrs));
    slots_[i].client = client::Client::create(*runtime_, std::move(co));
  }
}

Fleet::~Fleet() { shutdown(); }

void Fleet::connect(const std::vector<int>& terminals, int concurrency) {
  settled_ = 0;
  {
    std::lock_guard lock(queue_mu_);
    concurrency_ = std::max(1, concurrency);
    for (int t : terminals) {
      auto& slot = slots_[static_cast<std::size_t>(t)];
      slot.wanted = true;
      int down = kDown;
      if (slot.state.compare_exchange_strong(down, kQueued)) queue_.push_back(t);
    }
  }
  launch_queued();
}

void Fleet::launch_queued() {
  std::vector<int> now;
  {
    std::lock_guard lock(queue_mu_);
    while (active_ < concurrency_ && !queue_.empty()) {
      now.push_back(queue_.front());
      queue_.pop_front();
      ++active_;
    }
  }
  for (int t : now) start(t, true);
}

void Fleet::start(int terminal, bool chained) {
  auto& slot = slots_[static_cast<std::size_t>(terminal)];
  slot.state = kConnecting;
  auto& c = *slot.client;
  // Handlers are (re)installed before every connect; they go through the
  // same strand as the connect, so they are in place first.
  c.on_push([this, terminal](client::MessagePtr m) {
    if (push_handler_) push_handler_(terminal, m);
  });
  c.on_close([this, terminal](int code, std::string) {
    auto& s = slots_[static_cast<std::size_t>(terminal)];
    if (s.state.exchange(kDown) == kUp) --up_;
    if (stopping_ || !s.wanted) return;
    std::lock_guard lock(errors_mu_);
    ++closes_["close:" + std::to_string(code)];
  });
  const auto started = now_ns();
  c.connect([this, terminal, chained, started](std::string error) {
    if (!error.empty()) return settle(terminal, false, "connect: " + error, chained);
    auto& conn = *slots_[static_cast<std::size_t>(terminal)].client;
    conn.hello([this, terminal, chained, started](client::Reply reply) {
      if (!reply.ok()) {
        const auto why = reply.message ? reply.message->error_code() : reply.failure;
        slots_[static_cast<std::size_t>(terminal)].client->close();
        return settle(terminal, false, "hello: " + why, chained);
      }
      connect_ns_.record(now_ns() - started);
      settle(terminal, true, {}, chained);
    });
  });
}

void Fleet::settle(int terminal, bool ok, const std::string& error, bool chained) {
  auto& slot = slots_[static_cast<std::size_t>(terminal)];
  if (ok) {
    int connecting = kConnecting;
    if (slot.state.compare_exchange_strong(connecting, kUp)) ++up_;
  } else {
    slot.state = kDown;
    ++connect_failures_;
    note_error(slot.client->options().session + ": " + error);
  }
  ++settled_;
  if (ok && up_handler_ && !stopping_) up_handler_(terminal);
  if (chained) {
    {
      std::lock_guard lock(queue_mu_);
      --active_;
    }
    launch_queued();
  }
}

void Fleet::disconnect(const std::vector<int>& terminals) {
  for (int t : terminals) {
    auto& slot = slots_[static_cast<std::size_t>(t)];
    slot.wanted = false;
    slot.client->close(1000);
  }
}

void Fleet::supervise() {
  if (stopping_) return;
  for (std::size_t i = 0; i < slot_count_; ++i) {
    auto& slot = slots_[i];
    int down = kDown;
    if (slot.wanted && slot.state.compare_exchange_strong(down, kConnecting)) {
      ++reconnects_;
      start(static_cast<int>(i), false);
    }
  }
}

void Fleet::shutdown() {
  if (!runtime_) return;
  stopping_ = true;
  for (std::size_t i = 0; i < slot_count_; ++i) {
    slots_[i].wanted = false;
    if (slots_[i].client->is_open()) slots_[i].client->close(1000);
  }
  // Let the closing handshakes finish, so the broker sees clean closes.
  wait_for([this] { return up_.load() == 0; }, 5.0, nullptr);
  runtime_.reset();
}

bool Fleet::is_up(int terminal) const { return slots_[static_cast<std::size_t>(terminal)].state.load() == kUp; }

void Fleet::note_error(const std::string& error) {
  std::lock_guard lock(errors_mu_);
  if (errors_.size() < kKeptErrors) errors_.push_back(error);
}

std::map<std::string, std::int64_t> Fleet::unexpected_closes() const {
  std::lock_guard lock(errors_mu_);
  return closes_;
}

std::vector<std::string> Fleet::first_errors() const {
  std::lock_guard lock(errors_mu_);
  return errors_;
}

}  // namespace possync::load
