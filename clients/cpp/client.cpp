// Runtime and the Client handle: the public face of the Beast WebSocket
// transport (the Connection of connection.hpp). The handle posts every call
// to its connection's strand.

// GCC 12 reports -Wnull-dereference inside Asio's any_executor comparison
// once it is inlined here (a false positive in a system header that the
// system-header rule misses for middle-end warnings). Before the first
// include that brings Asio in.
#pragma GCC diagnostic ignored "-Wnull-dereference"

#include "clients/cpp/client.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "clients/cpp/connection.hpp"

namespace possync::client {

namespace asio = boost::asio;
using detail::Connection;

// ---- Runtime -----------------------------------------------------------------

struct Runtime::Impl {
  explicit Impl(int thread_count)
      : ioc(std::make_shared<asio::io_context>(thread_count)), work(asio::make_work_guard(*ioc)) {}
  // Shared with every Client, so that a Client dropped after its Runtime is
  // harmless: the io_context is then stopped but still exists.
  std::shared_ptr<asio::io_context> ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::vector<std::thread> threads;
};

Runtime::Runtime(int threads) : impl_(std::make_unique<Impl>(std::max(1, threads))) {
  const int count = std::max(1, threads);
  impl_->threads.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    impl_->threads.emplace_back([&ioc = *impl_->ioc] {
      // Handlers catch their own exceptions; this only keeps a stray one
      // from terminating the process.
      for (;;) {
        try {
          ioc.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "possync client: io thread: %s\n", e.what());
        }
      }
    });
  }
}

Runtime::~Runtime() {
  impl_->work.reset();
  impl_->ioc->stop();
  for (auto& thread : impl_->threads) {
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();  // destroyed from one of its own callbacks
    } else if (thread.joinable()) {
      thread.join();
    }
  }
}

// ---- the Client handle ----

namespace {

class ClientImpl final : public Client {
 public:
  ClientImpl(std::shared_ptr<asio::io_context> ioc, Options options)
      : Client(std::move(options)), ioc_(std::move(ioc)), connection_(std::make_shared<Connection>(*ioc_, options_)) {}

  ~ClientImpl() override {
    on_strand([](Connection& c) { c.release(); });
  }
  ClientImpl(const ClientImpl&) = delete;
  ClientImpl& operator=(const ClientImpl&) = delete;

  void on_push(std::function<void(MessagePtr)> handler) override {
    on_strand([h = std::move(handler)](Connection& c) mutable { c.set_push_handler(std::move(h)); });
  }
  void on_close(std::function<void(int code, std::string reason)> handler) override {
    on_strand([h = std::move(handler)](Connection& c) mutable { c.set_close_handler(std::move(h)); });
  }
  void connect(std::function<void(std::string error)> done) override {
    on_strand([d = std::move(done)](Connection& c) mutable { c.start_connect(std::move(d)); });
  }
  void hello(ReplyHandler done) override {
    std::string json = "{\"type\":\"hello\",\"session\":" + json_quote(options_.session) +
                       ",\"token\":" + json_quote(options_.token) + ",\"client\":" + json_quote(options_.client_name) +
                       "}";
    request(std::move(json), std::move(done));
  }
  void request(std::string json_object, ReplyHandler done) override {
    on_strand([j = std::move(json_object), d = std::move(done)](Connection& c) mutable {
      c.start_request(std::move(j), std::move(d));
    });
  }
  void send_text(std::string text) override {
    on_strand([t = std::move(text)](Connection& c) mutable { c.enqueue(std::move(t), false); });
  }
  void send_binary(std::string bytes) override {
    on_strand([b = std::move(bytes)](Connection& c) mutable { c.enqueue(std::move(b), true); });
  }
  void close(int code) override {
    on_strand([code](Connection& c) { c.start_close(code); });
  }
  bool is_open() const override { return connection_->is_open(); }

 private:
  // Always post, never dispatch: a call from inside a callback must not
  // re-enter the connection while it is iterating its own state. Once the
  // Runtime is gone nothing would run the call: it is dropped, and a
  // blocking helper waiting on it sees its promise broken.
  template <typename F>
  void on_strand(F&& f) {
    if (ioc_->stopped()) return;
    asio::post(connection_->strand(), [c = connection_, f = std::forward<F>(f)]() mutable { f(*c); });
  }

  std::shared_ptr<asio::io_context> ioc_;  // outlives connection_ (declared first)
  std::shared_ptr<Connection> connection_;
};

}  // namespace

std::shared_ptr<Client> Client::create(Runtime& runtime, Options options) {
  return std::make_shared<ClientImpl>(runtime.impl().ioc, std::move(options));
}

}  // namespace possync::client
