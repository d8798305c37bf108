// The Beast side of WsLink, after Beast's websocket client examples: the
// link is kept alive by shared_from_this() in each pending operation; one
// read always pending, one write at most.
#include "bench/baselines/ws_link.hpp"

// The same GCC 12 false positive as in clients/cpp/client.cpp (Asio's
// any_executor comparison, once inlined).
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include <cstdio>
#include <deque>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace possync::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr std::chrono::seconds kHandshakeTimeout{10};
constexpr std::size_t kMaxMessageBytes = 1 << 20;

}  // namespace

struct IoPool::Impl {
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
};

IoPool::IoPool(int threads) : impl_(std::make_unique<Impl>()) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    impl_->contexts.push_back(std::make_unique<asio::io_context>(1));
    impl_->guards.push_back(asio::make_work_guard(*impl_->contexts.back()));
  }
  for (auto& context : impl_->contexts) {
    impl_->threads.emplace_back([&ioc = *context] {
      try {
        ioc.run();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "peer-load: io thread: %s\n", e.what());
      }
    });
  }
}

IoPool::~IoPool() { stop(); }

void IoPool::stop() {
  for (auto& guard : impl_->guards) guard.reset();
  for (auto& context : impl_->contexts) context->stop();
  for (auto& thread : impl_->threads) {
    if (thread.joinable()) thread.join();
  }
}

int IoPool::size() const { return static_cast<int>(impl_->contexts.size()); }

namespace {

class BeastLink final : public WsLink, public std::enable_shared_from_this<BeastLink> {
 public:
  BeastLink(asio::io_context& ioc, WsOptions options, Handlers handlers)
      : ioc_(ioc), options_(std::move(options)), handlers_(std::move(handlers)), ws_(ioc) {}

  void start() override {
    asio::post(ioc_, [self = shared_from_this()] { self->do_connect(); });
  }

  void send(std::string data) override {
    if (!open_) return;
    queue_.push_back(std::move(data));
    if (!writing_) do_write();
  }

  void close() override {
    if (!open_ || closing_) return;
    closing_ = true;
    if (!writing_) do_close();
  }

  void post(std::function<void()> task) override { asio::post(ioc_, std::move(task)); }

 private:
  void do_connect() {
    auto& socket = beast::get_lowest_layer(ws_);
    socket.expires_after(kHandshakeTimeout);
    error_code ec;
    const tcp::endpoint target(asio::ip::make_address(options_.host, ec), options_.port);
    if (ec) return fail_open("bad address " + options_.host);
    socket.async_connect(target, [self = shared_from_this()](error_code e) { self->on_connect(e); });
  }

  void on_connect(error_code ec) {
    if (ec) return fail_open("connect: " + ec.message());
    auto& socket = beast::get_lowest_layer(ws_);
    socket.socket().set_option(tcp::no_delay(true), ec);
    socket.expires_never();
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
    timeouts.handshake_timeout = kHandshakeTimeout;
    timeouts.idle_timeout = websocket::stream_base::none();
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator([sub = options_.subprotocol](websocket::request_type& req) {
      if (!sub.empty()) req.set(beast::http::field::sec_websocket_protocol, sub);
    }));
    ws_.read_message_max(kMaxMessageBytes);
    ws_.auto_fragment(false);
    ws_.binary(options_.binary);
    ws_.async_handshake(options_.host + ":" + std::to_string(options_.port), options_.path,
                        [self = shared_from_this()](error_code e) { self->on_handshake(e); });
  }

  void on_handshake(error_code ec) {
    if (ec) return fail_open("handshake: " + ec.message());
    open_ = true;
    do_read();
    if (handlers_.on_open) handlers_.on_open("");
  }

  void fail_open(const std::string& why) {
    if (handlers_.on_open) handlers_.on_open(why);
  }

  void do_read() {
    ws_.async_read(buffer_, [self = shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(error_code ec) {
    if (ec) return finish(ec == websocket::error::closed ? "closed by the peer" : "read: " + ec.message());
    const auto data = buffer_.cdata();
    if (handlers_.on_message) {
      handlers_.on_message(std::string_view(static_cast<const char*>(data.data()), data.size()));
    }
    buffer_.consume(buffer_.size());
    if (open_) do_read();
  }

  void do_write() {
    writing_ = true;
    ws_.async_write(asio::buffer(queue_.front()),
                    [self = shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(error_code ec) {
    writing_ = false;
    queue_.pop_front();
    if (ec) return finish("write: " + ec.message());
    if (!queue_.empty()) return do_write();
    if (closing_) do_close();
  }

  void do_close() {
    ws_.async_close(websocket::close_code::normal, [self = shared_from_this()](error_code) {
      self->finish("closed");
    });
  }

  void finish(const std::string& why) {
    if (!open_) return;
    open_ = false;
    // The message being written must outlive its async_write.
    queue_.erase(writing_ ? queue_.begin() + 1 : queue_.begin(), queue_.end());
    if (handlers_.on_close) handlers_.on_close(why);
  }

  asio::io_context& ioc_;
  const WsOptions options_;
  Handlers handlers_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  bool open_ = false;
  bool writing_ = false;
  bool closing_ = false;
};

}  // namespace

std::shared_ptr<WsLink> WsLink::create(IoPool& pool, int slot, WsOptions options, Handlers handlers) {
  auto& ioc = *pool.impl().contexts[static_cast<std::size_t>(slot % pool.size())];
  return std::make_shared<BeastLink>(ioc, std::move(options), std::move(handlers));
}

}  // namespace possync::bench
