// Conversation: the protocol logic of one WebSocket connection — hello,
// every request, replay after welcome, rate and error budgets — with no
// Beast in sight. Owned by its transport session; every method runs on that
// session's strand. Store completions are posted back onto the strand.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/config.hpp"
#include "broker/peer.hpp"
#include "broker/router.hpp"
#include "protocol/requests.hpp"
#include "storage/store.hpp"

namespace possync::broker {

// What every connection shares: the store, the router and the configuration.
struct Services {
  storage::Store& store;
  Router& router;
  const Config& config;
};

class Conversation {
 public:
  Conversation(Services& services, std::string remote) : svc_(services), remote_(std::move(remote)) {}

  // The owning peer; set once, before the first frame.
  void bind(std::weak_ptr<Peer> self, std::uint64_t peer_id) {
    self_ = std::move(self);
    peer_id_ = peer_id;
  }

  void on_text(std::string_view text);
  // A push from the router: buffered while the replay runs, else written.
  void on_push(Push push);
  // A write completed: continue a replay that waits for queue space.
  void on_writable();
  // The connection is gone: leave the router.
  void on_closed();

  bool authenticated() const noexcept { return state_ == State::ready || state_ == State::replaying; }
  int inflight() const noexcept { return inflight_; }
  // Requests in flight stay under a quarter of the write-queue bound, so
  // their replies alone can never overflow it.
  bool wants_more() const noexcept {
    auto cap = std::min<std::size_t>(static_cast<std::size_t>(svc_.config.max_inflight_requests),
                                     std::max<std::size_t>(1, svc_.config.max_queued_frames / 4));
    return static_cast<std::size_t>(inflight_) < cap;
  }
  const std::string& session() const noexcept { return session_.session; }
  const std::string& remote() const noexcept { return remote_; }

 private:
  enum class State { fresh, authenticating, replaying, ready };

  template <class T, class Fn>
  storage::Callback<T> on_strand(Fn fn);
  void reply(std::string text);
  void fail(const protocol::RequestId& id, const protocol::Error& error);
  void fail(const protocol::RequestId& id, protocol::ErrorCode code, std::string message);
  // bad_json, bad_request, too_large, unauthorized, rate_limited count
  // towards the per-minute error budget; over it the connection closes 4429.
  void count_protocol_error();
  void finish_request();

  void handle_hello(const protocol::RequestId& id, const protocol::Hello& hello);
  void on_authenticated(const protocol::RequestId& id, protocol::SessionEntry session);
  void start_replay();
  void read_replay_page();
  void pump_replay();
  void dispatch(const protocol::RequestId& id, protocol::Request& request);

  Services& svc_;
  std::string remote_;
  std::weak_ptr<Peer> self_;
  std::uint64_t peer_id_ = 0;
  State state_ = State::fresh;
  protocol::SessionEntry session_;
  std::shared_ptr<RateBucket> bucket_;
  std::uint64_t auth_mark_ = 0;  // Router::revocation_mark() when the hello's check began
  int inflight_ = 0;
  // When the frame being handled was read (carried to the push of a send).
  std::chrono::steady_clock::time_point read_at_{};

  // Replay after welcome: pending orders read a page at a time (so a long
  // backlog never sits in memory whole) and written as queue space allows;
  // live pushes buffered meanwhile, then flushed without duplicates.
  std::vector<protocol::OrderRecord> replay_;  // the current page
  std::size_t replay_next_ = 0;
  bool replay_last_page_ = false;  // the current page is the backlog's last
  bool replay_reading_ = false;    // the next page is being read
  Frame replay_frame_;  // replay_[replay_next_] serialized, waiting for queue space
  std::int64_t replayed_max_id_ = 0;
  // A vector, not a deque: empty (nothing allocated) except during a replay
  // that live pushes overtake; freed when the replay ends.
  std::vector<Push> buffered_;

  std::chrono::steady_clock::time_point error_window_start_ = std::chrono::steady_clock::now();
  int errors_in_window_ = 0;
};

}  // namespace possync::broker
