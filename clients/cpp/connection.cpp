// The Connection of connection.hpp: connect (resolve, TCP, TLS, WebSocket
// handshake), the read loop and reply routing, requests and the write queue,
// the closing handshake and the request timeouts. Everything runs on the
// connection's strand.

// The GCC 12 -Wnull-dereference false positive of client.cpp (Asio's
// any_executor comparison, inlined here); before the first include that
// brings Asio in.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include "clients/cpp/connection.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "clients/cpp/tls.hpp"

namespace possync::client::detail {

namespace {

// The close code reported when the connection ended without a close frame.
constexpr int kAbnormalClosure = 1006;
// The close code of a close frame that carried none (RFC 6455 §7.4.1).
constexpr int kNoStatusReceived = 1005;
// The close code we send (through Beast) when a message exceeds our limit.
constexpr int kMessageTooBig = 1009;
// A read buffer grown past this by one large message is given back after it.
constexpr std::size_t kKeptReadBufferBytes = 64 * 1024;

void report_handler_exception(const char* what) {
  std::fprintf(stderr, "possync client: a callback threw: %s\n", what);
}

// Calls a user callback; an exception from it must not unwind through Asio.
template <typename F, typename... Args>
void invoke(F& callback, Args&&... args) noexcept {
  if (!callback) return;
  try {
    callback(std::forward<Args>(args)...);
  } catch (const std::exception& e) {
    report_handler_exception(e.what());
  } catch (...) {
    report_handler_exception("unknown exception");
  }
}

std::string host_header(const std::string& host, std::uint16_t port) {
  const bool ipv6_literal = host.find(':') != std::string::npos;
  std::string out = ipv6_literal ? "[" + host + "]" : host;
  out += ':';
  out += std::to_string(port);
  return out;
}

}  // namespace

// ---- connect ----

void Connection::start_connect(std::function<void(std::string)> done) {
  if (state_ == State::connecting) return invoke(done, std::string("connect already in progress"));
  if (state_ == State::open || state_ == State::closing) return invoke(done, std::string("already connected"));
  if (writing_ || close_in_flight_) return invoke(done, std::string("previous connection still closing"));

  state_ = State::connecting;
  failure_.clear();
  read_error_.clear();
  peer_closed_ = false;
  too_big_ = false;
  connect_done_ = std::move(done);
  if (options_.tls && !tls_) {
    tls_.emplace(asio::ssl::context::tls_client);
    if (auto bad = detail::configure_tls(*tls_, options_); !bad.empty()) {
      tls_.reset();
      ws_.emplace(beast::tcp_stream(strand_));
      return fail_connect(bad);
    }
  }
  if (tls_) {
    ws_.emplace(beast::tcp_stream(strand_), *tls_);
  } else {
    ws_.emplace(beast::tcp_stream(strand_));
  }
  read_buffer_.clear();
  handshake_response_ = {};
  resolver_.async_resolve(options_.host, std::to_string(options_.port),
                          beast::bind_front_handler(&Connection::on_resolve, shared_from_this()));
}

void Connection::on_resolve(error_code ec, const tcp::resolver::results_type& results) {
  if (!failure_.empty()) return fail_connect(failure_);
  if (ec) return fail_connect("resolve " + options_.host + ": " + ec.message());

  lowest().expires_after(handshake_timeout());
  if (options_.local_address.empty()) {
    lowest().async_connect(results, [self = shared_from_this()](error_code e, const tcp::endpoint&) {
      self->on_connect(e);
    });
    return;
  }

  // Binding first means connecting to one endpoint: the range overload of
  // async_connect reopens (and so unbinds) the socket for every attempt.
  error_code bind_ec;
  const auto local = asio::ip::make_address(options_.local_address, bind_ec);
  if (bind_ec) return fail_connect("bad local address " + options_.local_address);
  const tcp protocol = local.is_v4() ? tcp::v4() : tcp::v6();
  auto target = std::find_if(results.begin(), results.end(),
                             [&](const auto& entry) { return entry.endpoint().protocol() == protocol; });
  if (target == results.end()) return fail_connect("no address of " + options_.host + " matches the local address");

  auto& socket = lowest().socket();
  socket.open(protocol, bind_ec);
#ifdef IP_BIND_ADDRESS_NO_PORT
  // Pick the port at connect time, so many clients can share one local
  // address towards different destinations (and more than bind() allows).
  if (!bind_ec && local.is_v4()) {
    const int one = 1;  // failure is harmless: an old kernel just binds the port now
    ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  }
#endif
  if (!bind_ec) socket.bind(tcp::endpoint(local, 0), bind_ec);
  if (bind_ec) return fail_connect("bind " + options_.local_address + ": " + bind_ec.message());
  lowest().async_connect(target->endpoint(), beast::bind_front_handler(&Connection::on_connect, shared_from_this()));
}

void Connection::on_connect(error_code ec) {
  if (!failure_.empty()) return fail_connect(failure_);
  if (ec) return fail_connect("connect " + host_header(options_.host, options_.port) + ": " + ec.message());

  error_code ignored;
  lowest().socket().set_option(tcp::no_delay(true), ignored);  // requests are small and latency matters
  if (!ws_->next_layer().is_tls()) return start_ws_handshake();
  // TLS first, still under the connect deadline.
  auto& tls = ws_->next_layer().tls();
  if (auto bad = detail::prepare_tls_connection(tls.native_handle(), options_); !bad.empty()) return fail_connect(bad);
  tls.async_handshake(asio::ssl::stream_base::client,
                      beast::bind_front_handler(&Connection::on_tls_handshake, shared_from_this()));
}

void Connection::on_tls_handshake(error_code ec) {
  if (!failure_.empty()) return fail_connect(failure_);
  if (ec == beast::error::timeout) return fail_connect("tls handshake: timeout");
  if (ec) return fail_connect("tls handshake: " + ec.message());
  start_ws_handshake();
}

void Connection::start_ws_handshake() {
  lowest().expires_never();  // the websocket stream has its own timeouts from here on

  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = handshake_timeout();
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  ws_->set_option(timeouts);
  ws_->set_option(websocket::stream_base::decorator(
      [agent = options_.client_name, origin = options_.origin](websocket::request_type& req) {
        req.set(http::field::user_agent, agent);
        if (!origin.empty()) req.set(http::field::origin, origin);
      }));
  ws_->read_message_max(options_.max_message_bytes);
  ws_->auto_fragment(false);  // one frame per message
  ws_->async_handshake(handshake_response_, host_header(options_.host, options_.port), options_.path,
                       beast::bind_front_handler(&Connection::on_handshake, shared_from_this()));
}

void Connection::on_handshake(error_code ec) {
  if (!failure_.empty()) return fail_connect(failure_);
  if (ec == websocket::error::upgrade_declined) {
    return fail_connect("handshake declined: HTTP " + std::to_string(handshake_response_.result_int()));
  }
  if (ec) return fail_connect("handshake: " + ec.message());

  handshake_response_ = {};
  state_ = State::open;
  open_.store(true, std::memory_order_release);
  do_read();
  if (!write_queue_.empty()) do_write();  // requests made while connecting
  auto done = std::move(connect_done_);
  connect_done_ = nullptr;
  invoke(done, std::string());
}

void Connection::fail_connect(const std::string& error) {
  state_ = State::closed;
  open_.store(false, std::memory_order_release);
  error_code ignored;
  lowest().socket().close(ignored);
  write_queue_.clear();  // nothing was written before the handshake
  fail_all_pending("closed: connect failed: " + error);
  auto done = std::move(connect_done_);
  connect_done_ = nullptr;
  invoke(done, error);
}

void Connection::abort_connect(std::string why) {
  failure_ = std::move(why);
  resolver_.cancel();
  lowest().cancel();  // the pending step completes and sees failure_
}

// ---- read loop ----

void Connection::do_read() {
  reading_ = true;
  ws_->async_read(read_buffer_, beast::bind_front_handler(&Connection::on_read, shared_from_this()));
}

void Connection::on_read(error_code ec, std::size_t) {
  reading_ = false;
  if (ec) {
    // After our own close() the read ends with operation_aborted and the
    // peer's close frame is read by async_close instead.
    // A close frame that arrived counts even when the teardown after it
    // failed (a broker failing the connection, e.g. 1009, closes its socket
    // at once, so our close reply can meet a reset).
    if (ec == websocket::error::closed || ws_->reason().code != websocket::close_code::none) {
      peer_closed_ = true;
    } else if (ec == websocket::error::message_too_big) {
      too_big_ = true;  // Beast closed with 1009 itself
      read_error_ = ec.message();
    } else if (read_error_.empty()) {
      read_error_ = ec.message();
    }
    return maybe_finish();
  }
  auto message = parse_message(beast::buffers_to_string(read_buffer_.data()));
  read_buffer_.consume(read_buffer_.size());
  if (read_buffer_.capacity() > kKeptReadBufferBytes) read_buffer_.shrink_to_fit();
  do_read();
  route(message);
}

void Connection::route(const MessagePtr& message) {
  const auto& doc = message->doc;
  if (doc.IsObject()) {
    const auto id = doc.FindMember("id");
    if (id != doc.MemberEnd() && id->value.IsInt64()) {
      if (auto handler = take_pending(id->value.GetInt64())) {
        invoke(handler, Reply{message, {}});
        return;
      }
    }
  }
  invoke(push_handler_, message);
}

ReplyHandler Connection::take_pending(std::int64_t id) {
  const std::int64_t front_id = next_id_ - static_cast<std::int64_t>(pending_.size());
  if (id < front_id || id >= next_id_) return nullptr;
  auto& slot = pending_[static_cast<std::size_t>(id - front_id)];
  ReplyHandler handler = std::move(slot.handler);
  slot.handler = nullptr;
  while (!pending_.empty() && !pending_.front().handler) pending_.pop_front();
  return handler;
}

// ---- requests and the write queue ----

void Connection::start_request(std::string json_object, ReplyHandler done) {
  if (state_ != State::connecting && state_ != State::open) {
    return invoke(done, Reply{nullptr, state_ == State::closing ? "closed: closing" : "closed: not connected"});
  }
  const auto brace = json_object.find_first_not_of(" \t\r\n");
  if (brace == std::string::npos || json_object[brace] != '{') {
    return invoke(done, Reply{nullptr, "invalid request: not a JSON object"});
  }
  const std::int64_t id = next_id_++;
  const auto next = json_object.find_first_not_of(" \t\r\n", brace + 1);
  const bool empty_object = next != std::string::npos && json_object[next] == '}';
  std::string id_member = "\"id\":" + std::to_string(id);
  if (!empty_object) id_member += ',';
  json_object.insert(brace + 1, id_member);

  const auto deadline = options_.request_timeout.count() > 0 ? Clock::now() + options_.request_timeout
                                                             : Clock::time_point::max();
  pending_.push_back(Pending{std::move(done), deadline});
  arm_timer();
  enqueue(std::move(json_object), false);
}

void Connection::enqueue(std::string data, bool binary) {
  // Unsent text while not connected is dropped: there is no one to tell.
  if (state_ != State::connecting && state_ != State::open) return;
  write_queue_.push_back(Outgoing{std::move(data), binary});
  if (state_ == State::open && !writing_) do_write();
}

void Connection::do_write() {
  writing_ = true;
  const auto& next = write_queue_.front();
  ws_->binary(next.binary);
  ws_->async_write(asio::buffer(next.data), beast::bind_front_handler(&Connection::on_write, shared_from_this()));
}

void Connection::on_write(error_code ec, std::size_t) {
  writing_ = false;
  write_queue_.pop_front();
  const bool live = state_ == State::open || state_ == State::closing;
  if (ec || !live) {
    write_queue_.clear();
    if (ec && live && failure_.empty()) {
      failure_ = "write: " + ec.message();
      // A peer that failed the connection (e.g. 1009 for our frame) sent a
      // close frame before resetting: let a pending read see it and report
      // its code. Only a timed-out write, which no read will notice, closes.
      if (!reading_ || ec == beast::error::timeout) lowest().close();
    }
    return;
  }
  if (!write_queue_.empty()) {
    do_write();
  } else if (close_requested_) {
    do_close();
  }
}

// ---- close ----

void Connection::start_close(int code) {
  if (state_ == State::connecting) return abort_connect("aborted by close()");
  if (state_ != State::open) return;
  state_ = State::closing;
  open_.store(false, std::memory_order_release);
  close_code_ = code;
  if (writing_) {
    close_requested_ = true;  // what was queued before close() goes out first
  } else {
    do_close();
  }
}

void Connection::do_close() {
  close_requested_ = false;
  close_in_flight_ = true;
  ws_->async_close(websocket::close_reason(static_cast<std::uint16_t>(close_code_)),
                   beast::bind_front_handler(&Connection::on_closed, shared_from_this()));
}

void Connection::on_closed(error_code ec) {
  close_in_flight_ = false;
  if (!ec) {
    peer_closed_ = true;
  } else if (state_ != State::closed) {
    if (failure_.empty()) failure_ = "close: " + ec.message();
    lowest().close();  // ends the read, if it is still pending
  }
  maybe_finish();
}

// The connection is over once both the read loop and a closing handshake
// have completed; only then is the close code known.
void Connection::maybe_finish() {
  if (state_ == State::closed || reading_ || close_in_flight_) return;
  if (peer_closed_) {
    const auto& reason = ws_->reason();
    const int code = reason.code == websocket::close_code::none ? kNoStatusReceived : static_cast<int>(reason.code);
    return finish(code, std::string(reason.reason.data(), reason.reason.size()));
  }
  if (too_big_) return finish(kMessageTooBig, read_error_);
  finish(kAbnormalClosure, failure_.empty() ? read_error_ : failure_);
}

void Connection::finish(int code, std::string reason) {
  state_ = State::closed;
  open_.store(false, std::memory_order_release);
  close_requested_ = false;
  // The in-flight write still owns the front buffer.
  if (writing_) {
    write_queue_.erase(write_queue_.begin() + 1, write_queue_.end());
  } else {
    write_queue_.clear();
  }
  std::string failure = "closed: " + std::to_string(code);
  if (!reason.empty()) failure += " " + reason;
  fail_all_pending(failure);
  invoke(close_handler_, code, std::move(reason));
}

void Connection::fail_all_pending(const std::string& failure) {
  timer_.cancel();
  timer_armed_ = false;
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& slot : pending) {
    if (slot.handler) invoke(slot.handler, Reply{nullptr, failure});
  }
}

// ---- request timeouts ----
// One timer per connection, not per request: deadlines grow with the ids, so
// the oldest pending request always has the earliest deadline.

void Connection::arm_timer() {
  if (timer_armed_ || pending_.empty() || pending_.front().deadline == Clock::time_point::max()) return;
  timer_armed_ = true;
  timer_.expires_at(pending_.front().deadline);
  timer_.async_wait(beast::bind_front_handler(&Connection::on_timer, shared_from_this()));
}

void Connection::on_timer(error_code ec) {
  if (ec == asio::error::operation_aborted) return;  // re-armed or reset by a close
  timer_armed_ = false;
  const auto now = Clock::now();
  std::vector<ReplyHandler> expired;
  while (!pending_.empty() && (!pending_.front().handler || pending_.front().deadline <= now)) {
    if (pending_.front().handler) expired.push_back(std::move(pending_.front().handler));
    pending_.pop_front();
  }
  arm_timer();
  for (auto& handler : expired) invoke(handler, Reply{nullptr, "timeout"});
}

}  // namespace possync::client::detail
