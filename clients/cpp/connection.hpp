// Internal to the client library (client.cpp, connection.cpp): the Beast
// WebSocket transport behind Client.
//
// Shape (after Beast's websocket client examples): the public Client object
// is a thin handle; the connection state lives in a `Connection` kept alive
// by `shared_from_this()` in every pending operation and touched only on its
// strand. Dropping the last handle closes the connection (code 1000); the
// Connection object itself goes away when its last operation completes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "clients/cpp/client.hpp"
#include "net/flex_stream.hpp"

namespace possync::client::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// Closing handshake deadline when the options disable request timeouts.
constexpr std::chrono::seconds kFallbackHandshakeTimeout{30};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Strand = asio::strand<asio::io_context::executor_type>;

  Connection(asio::io_context& ioc, Options options)
      : options_(std::move(options)),
        strand_(asio::make_strand(ioc)),
        resolver_(strand_),
        timer_(strand_) {}

  const Strand& strand() const { return strand_; }
  bool is_open() const { return open_.load(std::memory_order_acquire); }

  // Everything below runs on the strand.
  void set_push_handler(std::function<void(MessagePtr)> handler) { push_handler_ = std::move(handler); }
  void set_close_handler(std::function<void(int, std::string)> handler) { close_handler_ = std::move(handler); }

  void start_connect(std::function<void(std::string)> done);
  void start_request(std::string json_object, ReplyHandler done);
  void enqueue(std::string data, bool binary);
  void start_close(int code);
  // The last Client handle is gone: close whatever is open or opening.
  void release() { start_close(1000); }

 private:
  // Plain or TLS (Options::tls): one WebSocket stream type for both.
  using Stream = websocket::stream<net::FlexStream>;
  using Clock = std::chrono::steady_clock;
  enum class State { idle, connecting, open, closing, closed };

  struct Outgoing {
    std::string data;
    bool binary;
  };
  // A request awaiting its reply; its id is implied by its position in
  // `pending_` (ids are consecutive), and a completed slot has no handler.
  struct Pending {
    ReplyHandler handler;
    Clock::time_point deadline;
  };

  void on_resolve(error_code ec, const tcp::resolver::results_type& results);
  void on_connect(error_code ec);
  void on_tls_handshake(error_code ec);
  void start_ws_handshake();
  void on_handshake(error_code ec);
  void fail_connect(const std::string& error);
  void abort_connect(std::string why);

  void do_read();
  void on_read(error_code ec, std::size_t bytes);
  void route(const MessagePtr& message);
  ReplyHandler take_pending(std::int64_t id);

  void do_write();
  void on_write(error_code ec, std::size_t bytes);
  void do_close();
  void on_closed(error_code ec);
  void maybe_finish();
  void finish(int code, std::string reason);
  void fail_all_pending(const std::string& failure);

  void arm_timer();
  void on_timer(error_code ec);

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(*ws_); }
  std::chrono::milliseconds handshake_timeout() const {
    if (options_.request_timeout.count() > 0) return options_.request_timeout;
    return kFallbackHandshakeTimeout;
  }

  const Options options_;
  Strand strand_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::optional<asio::ssl::context> tls_;  // made at the first TLS connect, kept
  std::optional<Stream> ws_;  // re-created by every connect
  websocket::response_type handshake_response_;
  beast::flat_buffer read_buffer_;

  State state_ = State::idle;
  std::atomic<bool> open_{false};
  std::string failure_;  // why we tore the connection down ourselves, if we did
  std::string read_error_;
  bool reading_ = false;
  bool peer_closed_ = false;  // a close frame arrived: ws_->reason() holds it
  bool too_big_ = false;      // an incoming message exceeded max_message_bytes
  std::function<void(std::string)> connect_done_;
  std::function<void(MessagePtr)> push_handler_;
  std::function<void(int, std::string)> close_handler_;

  std::deque<Outgoing> write_queue_;
  bool writing_ = false;       // one async_write in flight
  bool close_requested_ = false;  // async_close once the queue drains
  bool close_in_flight_ = false;
  int close_code_ = 1000;

  std::deque<Pending> pending_;
  std::int64_t next_id_ = 1;
  bool timer_armed_ = false;
};

}  // namespace possync::client::detail
