#include "broker/conversation.hpp"

#include <algorithm>
#include <exception>
#include <type_traits>

#include "broker/log.hpp"
#include "broker/metrics.hpp"
#include "protocol/replies.hpp"

namespace possync::broker {

using protocol::ErrorCode;
using protocol::RequestId;

namespace {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

bool is_protocol_error(ErrorCode code) {
  return code == ErrorCode::bad_json || code == ErrorCode::bad_request || code == ErrorCode::too_large ||
         code == ErrorCode::unauthorized || code == ErrorCode::rate_limited;
}

// The most frames a replay puts in the write queue at once; the rest follow
// as writes complete, so a long backlog never trips the slow-consumer limit.
constexpr std::size_t kReplayWindow = 256;
// Orders read from the store per replay page: a receiver's backlog is held
// in memory at most this many at a time, however long it is.
constexpr int kReplayPage = 256;

}  // namespace

// A store callback in two halves: `now` runs on the store thread (fan-out,
// so pushes leave in commit order), `later` runs on this connection's strand.
template <class T, class Fn>
storage::Callback<T> Conversation::on_strand(Fn fn) {
  ++inflight_;
  auto self = self_.lock();
  return [this, self, fn = std::move(fn)](protocol::Result<T> r) mutable {
    fn.now(r);
    self->post([this, fn, r = std::move(r)]() mutable {
      try {
        fn.later(r);
      } catch (const std::exception& e) {
        logger().write(LogLevel::error, "internal_error", {{"session", session_.session}, {"what", e.what()}});
      }
      finish_request();
    });
  };
}

namespace {
// The two halves of a completion; `now` defaults to doing nothing.
template <class Now, class Later>
struct Halves {
  Now now;
  Later later;
};
struct Nothing {
  template <class R>
  void operator()(const R&) const {}
};
template <class Later>
Halves<Nothing, Later> later_only(Later later) {
  return {Nothing{}, std::move(later)};
}
template <class Now, class Later>
Halves<Now, Later> both(Now now, Later later) {
  return {std::move(now), std::move(later)};
}
}  // namespace

void Conversation::reply(std::string text) {
  if (auto peer = self_.lock()) peer->write(std::make_shared<const std::string>(std::move(text)));
}

void Conversation::fail(const RequestId& id, const protocol::Error& error) { fail(id, error.code, error.message); }

void Conversation::fail(const RequestId& id, ErrorCode code, std::string message) {
  // unavailable and internal come from the store (or a bug): worth a warning.
  const bool store_side = code == ErrorCode::unavailable || code == ErrorCode::internal;
  logger().write(store_side ? LogLevel::warn : LogLevel::info, store_side ? "store_error" : "request_error",
                 {{"session", session_.session}, {"remote", remote_}, {"code", protocol::to_string(code)},
                  {"id", id}, {"message", message}});
  metrics().on_error(code);
  reply(protocol::error_reply(id, code, message));
  if (is_protocol_error(code)) count_protocol_error();
}

void Conversation::count_protocol_error() {
  auto now = std::chrono::steady_clock::now();
  if (now - error_window_start_ > std::chrono::minutes(1)) {
    error_window_start_ = now;
    errors_in_window_ = 0;
  }
  if (++errors_in_window_ > svc_.config.max_errors_per_minute) {
    if (auto peer = self_.lock()) peer->close(4429, "too many protocol errors");
  }
}

void Conversation::finish_request() {
  --inflight_;
  if (auto peer = self_.lock()) peer->resume_reading();
}

void Conversation::on_text(std::string_view text) {
  read_at_ = std::chrono::steady_clock::now();
  auto parsed = protocol::parse_request(text, svc_.config.limits);
  metrics().on_message_in(parsed.type);
  const RequestId& id = parsed.id;
  if (parsed.error && parsed.type.empty()) return fail(id, *parsed.error);  // bad JSON, type or id
  if (!authenticated()) {
    if (parsed.type != "hello") return fail(id, ErrorCode::unauthorized, "send hello first");
    if (state_ == State::authenticating) return fail(id, ErrorCode::bad_request, "hello: already in progress");
  } else if (parsed.type == "hello") {
    return fail(id, ErrorCode::bad_request, "hello: already authenticated");
  }
  if (parsed.error) return fail(id, *parsed.error);
  if (bucket_ && !bucket_->allow()) return fail(id, ErrorCode::rate_limited, "request rate limit exceeded");
  try {
    dispatch(id, *parsed.request);
  } catch (const std::exception& e) {
    logger().write(LogLevel::error, "internal_error", {{"session", session_.session}, {"id", id}, {"what", e.what()}});
    metrics().on_error(ErrorCode::internal);
    reply(protocol::error_reply(id, ErrorCode::internal, "internal error"));
  }
}

void Conversation::dispatch(const RequestId& id, protocol::Request& request) {
  auto& store = svc_.store;
  auto& router = svc_.router;
  const std::uint64_t origin = peer_id_;
  const std::string& me = session_.session;
  // The store callback of ack/deliver/reject/cancel: fan out the changes in
  // commit order, then answer on the strand.
  auto transition = [this, &router, origin, id](auto answer) {
    return both([&router, origin, enqueued = std::chrono::steady_clock::now()](
                    const protocol::Result<storage::TransitionOutcome>& r) {
                  metrics().observe_commit(enqueued);
                  if (!r.ok()) return;
                  for (const auto& change : r.value().changes) metrics().on_deliveries(change.status);
                  router.push_changes(r.value().changes, origin);
                },
                [this, id, answer](const protocol::Result<storage::TransitionOutcome>& r) {
                  if (!r.ok()) return fail(id, r.error());
                  answer(r.value());
                });
  };

  std::visit(
      Overloaded{
          [&](protocol::Hello& h) { handle_hello(id, h); },
          [&](protocol::Send& s) {
            storage::SendRequest req{me, std::move(s.ref), std::move(s.to), s.mode, std::move(s.order_json),
                                     s.line_count};
            store.send(std::move(req),
                       on_strand<storage::SendOutcome>(both(
                           [&router, read_at = read_at_, enqueued = std::chrono::steady_clock::now()](
                               const protocol::Result<storage::SendOutcome>& r) {
                             metrics().observe_commit(enqueued);
                             if (!r.ok() || r.value().duplicate) return;
                             metrics().on_order_sent();
                             metrics().on_deliveries(protocol::Status::sent, r.value().order.receivers.size());
                             router.push_order(r.value().order, read_at);
                           },
                           [this, id](const protocol::Result<storage::SendOutcome>& r) {
                             if (!r.ok()) return fail(id, r.error());
                             reply(protocol::sent_reply(id, r.value().order, r.value().duplicate));
                           })));
          },
          [&](protocol::Ack& a) {
            store.ack(me, a.order_id, on_strand<storage::TransitionOutcome>(transition([](const auto&) {})));
          },
          [&](protocol::Deliver& d) {
            store.deliver(me, d.order_id,
                          on_strand<storage::TransitionOutcome>(transition([this, id](const storage::TransitionOutcome& o) {
                            reply(protocol::delivered_reply(id, o.order_id, o.duplicate, o.order_json));
                          })));
          },
          [&](protocol::Reject& r) {
            store.reject(me, r.order_id, std::move(r.reason),
                         on_strand<storage::TransitionOutcome>(transition([this, id](const storage::TransitionOutcome& o) {
                           reply(protocol::rejected_reply(id, o.order_id, o.duplicate));
                         })));
          },
          [&](protocol::Cancel& c) {
            store.cancel(me, c.order_id,
                         on_strand<storage::TransitionOutcome>(transition([this, id](const storage::TransitionOutcome& o) {
                           reply(protocol::cancelled_reply(id, o.order_id, o.receivers));
                         })));
          },
          [&](protocol::List& l) {
            storage::ListQuery q{me, l.box, std::move(l.statuses), l.limit, l.before};
            auto box = l.box;
            store.list(std::move(q), on_strand<std::vector<protocol::OrderRecord>>(
                                         later_only([this, id, box](const protocol::Result<std::vector<protocol::OrderRecord>>& r) {
                                           if (!r.ok()) return fail(id, r.error());
                                           reply(protocol::orders_reply(id, box, r.value()));
                                         })));
          },
          [&](protocol::SessionsQuery&) {
            store.directory(session_.shop, on_strand<std::vector<protocol::SessionEntry>>(later_only(
                                               [this, id](const protocol::Result<std::vector<protocol::SessionEntry>>& r) {
                                                 if (!r.ok()) return fail(id, r.error());
                                                 auto sessions = r.value();
                                                 svc_.router.fill_presence(sessions);
                                                 reply(protocol::directory_reply(id, sessions));
                                               })));
          },
          [&](protocol::Ping&) { reply(protocol::pong_reply(id)); },
      },
      request);
}

void Conversation::handle_hello(const RequestId& id, const protocol::Hello& hello) {
  auto reject = [this, id]() {
    fail(id, ErrorCode::unauthorized, "bad session or token");
    if (auto peer = self_.lock()) peer->close(4401, "bad session or token");
  };
  if (hello.session.empty() || hello.token.empty()) return reject();
  state_ = State::authenticating;
  auth_mark_ = svc_.router.revocation_mark();
  svc_.store.authenticate(hello.session, hello.token,
                          on_strand<protocol::SessionEntry>(later_only(
                              [this, id, reject](const protocol::Result<protocol::SessionEntry>& r) {
                                if (!r.ok()) {
                                  state_ = State::fresh;
                                  if (r.error().code == ErrorCode::unauthorized) return reject();
                                  return fail(id, r.error());
                                }
                                on_authenticated(id, r.value());
                              })));
}

void Conversation::on_authenticated(const RequestId& id, protocol::SessionEntry session) {
  auto peer = self_.lock();
  if (!peer) return;
  auto attached = svc_.router.attach(session, peer_id_, auth_mark_);
  if (attached.revoked_code != 0) {  // rotated, deleted or moved while the hello was checked
    state_ = State::fresh;
    fail(id, ErrorCode::unauthorized, "bad session or token");
    peer->close(attached.revoked_code, attached.revoked_reason);
    return;
  }
  if (attached.too_many) {
    state_ = State::fresh;
    fail(id, ErrorCode::too_large, "session " + session.session + " has too many connections");
    peer->close(1008, "too many connections for this session");
    return;
  }
  if (!attached.bucket) return;  // the connection already left the router (closed meanwhile)
  bucket_ = std::move(attached.bucket);
  session_ = std::move(session);
  state_ = State::replaying;  // live pushes are buffered from here on
  logger().write(LogLevel::info, "session_open", {{"session", session_.session}, {"remote", remote_}});
  svc_.store.directory(session_.shop, on_strand<std::vector<protocol::SessionEntry>>(later_only(
                                          [this, id](const protocol::Result<std::vector<protocol::SessionEntry>>& r) {
                                            if (!r.ok()) {
                                              fail(id, r.error());
                                              if (auto p = self_.lock()) p->close(1011, "store unavailable");
                                              return;
                                            }
                                            protocol::WelcomeInfo info;
                                            info.sessions = r.value();
                                            svc_.router.fill_presence(info.sessions);
                                            info.self = session_;
                                            info.self.online = true;
                                            info.heartbeat_ms = svc_.config.heartbeat_ms;
                                            info.max_message_bytes = svc_.config.max_message_bytes;
                                            reply(protocol::welcome_reply(id, info));
                                            start_replay();
                                          })));
}

void Conversation::start_replay() {
  replayed_max_id_ = 0;
  read_replay_page();
}

// The next page: orders still `sent` to this session above the last one
// replayed. An order sent meanwhile is in a later page or arrives as a live
// push (buffered until the replay ends, then dropped if a page carried it).
void Conversation::read_replay_page() {
  replay_reading_ = true;
  svc_.store.pending(session_.session, replayed_max_id_, kReplayPage,
                     on_strand<std::vector<protocol::OrderRecord>>(later_only(
                         [this](const protocol::Result<std::vector<protocol::OrderRecord>>& r) {
                           replay_reading_ = false;
                           if (!r.ok()) {
                             // Without the replay the session would miss orders: make it reconnect.
                             if (auto p = self_.lock()) p->close(1011, "store unavailable");
                             return;
                           }
                           replay_ = r.value();
                           replay_next_ = 0;
                           replay_last_page_ = replay_.size() < static_cast<std::size_t>(kReplayPage);
                           pump_replay();
                         })));
}

void Conversation::pump_replay() {
  auto peer = self_.lock();
  if (!peer || state_ != State::replaying) return;
  const std::size_t window = std::min(kReplayWindow, std::max<std::size_t>(1, svc_.config.max_queued_frames / 4));
  // Bytes as well as frames: a backlog of big orders must not fill the queue
  // past --max-queued-bytes, or the replay itself closes a reader that keeps
  // up as a slow consumer, on every reconnect. An empty queue always takes
  // the next frame.
  const std::size_t byte_window = std::max<std::size_t>(1, svc_.config.max_queued_bytes / 4);
  while (replay_next_ < replay_.size() && peer->queued_frames() < window) {
    const auto& order = replay_[replay_next_];
    if (!replay_frame_) {
      replay_frame_ = std::make_shared<const std::string>(protocol::order_push(order, protocol::Status::sent));
    }
    if (peer->queued_frames() > 0 && peer->queued_bytes() + replay_frame_->size() > byte_window) break;
    replayed_max_id_ = std::max(replayed_max_id_, order.order_id);
    ++replay_next_;
    peer->write(std::move(replay_frame_));
    replay_frame_.reset();
  }
  if (replay_next_ < replay_.size()) return;
  replay_.clear();
  if (!replay_last_page_) return read_replay_page();
  replay_.shrink_to_fit();
  state_ = State::ready;
  // Live pushes that arrived meanwhile: an order the replay already carried
  // (or that stopped being `sent` before the replay read) is not sent twice.
  for (auto& p : buffered_) {
    if (p.order_id != 0 && p.order_id <= replayed_max_id_) continue;
    if (p.read_at != std::chrono::steady_clock::time_point{}) metrics().observe_send_to_push(p.read_at);
    peer->write(std::move(p.frame));
  }
  std::vector<Push>().swap(buffered_);
}

void Conversation::on_push(Push push) {
  if (state_ == State::ready) {
    if (push.read_at != std::chrono::steady_clock::time_point{}) metrics().observe_send_to_push(push.read_at);
    if (auto peer = self_.lock()) peer->write(std::move(push.frame));
    return;
  }
  if (state_ != State::replaying) return;
  buffered_.push_back(std::move(push));
  if (buffered_.size() > svc_.config.max_queued_frames) {
    if (auto peer = self_.lock()) peer->abort("slow consumer: live pushes overflowed during replay");
  }
}

void Conversation::on_writable() {
  if (state_ == State::replaying && !replay_reading_ && !replay_.empty()) pump_replay();
}

void Conversation::on_closed() {
  // The transport logs the close (connection_close, with code and reason).
  svc_.router.remove_connection(peer_id_);
}

}  // namespace possync::broker
