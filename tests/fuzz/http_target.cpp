// fuzz_http: the broker's HTTP request handling without a socket (targets.hpp).
//
// The bytes go where a connection's bytes go in http_session.cpp: a Beast
// request parser bounded by limit_request_parser(), then upgrade_route() for
// WebSocket upgrades (with the origin check the WebSocket sessions make) or
// api_request() and AdminApi::handle() for everything else. Several requests
// in one input are read one after the other, like a keep-alive connection
// with pipelined requests. The store is a real SQLite file, shared by every
// input of the process (its state grows as the fuzzer creates sessions).
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <rapidjson/document.h>

#include "broker/admin_api.hpp"
#include "broker/log.hpp"
#include "broker/http_request.hpp"
#include "broker/router.hpp"
#include "protocol/json.hpp"
#include "storage/store.hpp"
#include "tests/fuzz/targets.hpp"

namespace possync::fuzz {
namespace {

namespace http = boost::beast::http;

constexpr std::string_view kAdminToken = "fuzz-admin-token";
constexpr int kMaxRequestsPerInput = 8;

void require(bool ok, const char* what) {
  if (!ok) broken("http", what);
}

// Waits for a store callback on the calling thread.
template <class T>
protocol::Result<T> wait_for(const std::function<void(storage::Callback<T>)>& call) {
  std::promise<protocol::Result<T>> promise;
  auto result = promise.get_future();
  call([&promise](protocol::Result<T> value) { promise.set_value(std::move(value)); });
  return result.get();
}

// A broker's HTTP side without the network: store, router, configuration
// and the ops API, as Server::Impl wires them.
class World {
 public:
  World() : router_(broker::RouterLimits{}) {
    // Store errors are expected here (unknown ids, conflicts); keep stderr for crashes.
    broker::logger().configure("text", "error");
    const std::filesystem::path base =
        std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    dir_ = base / ("possync-fuzz-http-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::string error;
    store_ = storage::open_store("sqlite:" + (dir_ / "fuzz.db").string(), storage::StoreOptions{}, error);
    if (!store_) broken("http", ("cannot open the store: " + error).c_str());
    config_.admin_token = std::string(kAdminToken);
    config_.allowed_origins = {"https://pos.example"};
    services_ = std::make_unique<broker::Services>(broker::Services{*store_, router_, config_});
    api_ = std::make_unique<broker::AdminApi>(*services_);
    seed();
  }

  ~World() {
    api_.reset();
    store_->close();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const broker::Config& config() const { return config_; }

  // One request through the ops API; the response, waited for.
  broker::HttpResponseData handle(const broker::HttpRequestData& request) {
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto promise = std::make_shared<std::promise<broker::HttpResponseData>>();
    auto response = promise->get_future();
    api_->handle(request, [calls, promise](broker::HttpResponseData r) {
      if (calls->fetch_add(1) != 0) broken("http", "the response callback ran twice");
      promise->set_value(std::move(r));
    });
    return response.get();
  }

 private:
  // Two sessions and an order, so that the order and session routes find
  // something behind the ids the seed corpus uses (counter-1, kitchen-1, 1).
  void seed() {
    for (auto [id, sender, receiver] : {std::tuple{"counter-1", true, false}, std::tuple{"kitchen-1", false, true}}) {
      storage::SessionUpdate update;
      update.session = id;
      update.sender = sender;
      update.receiver = receiver;
      auto r = wait_for<storage::PutSessionOutcome>(
          [&](auto cb) { store_->put_session(std::move(update), std::move(cb)); });
      if (!r.ok()) broken("http", "seed session refused");
    }
    storage::SendRequest send;
    send.sender = "counter-1";
    send.ref = "Order 00012-003-0004";
    send.to = {"kitchen-1"};
    send.order_json = R"({"lines":[{"product_id":31,"name":"Margherita","qty":2,"price_unit":9.5}]})";
    send.line_count = 1;
    auto r = wait_for<storage::SendOutcome>(
        [&](auto cb) { store_->send(std::move(send), std::move(cb)); });
    if (!r.ok()) broken("http", "seed order refused");
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  broker::Config config_;
  broker::Router router_;
  std::unique_ptr<broker::Services> services_;
  std::unique_ptr<broker::AdminApi> api_;
};

World& world() {
  // The logger first, so that it outlives the world's store threads at exit.
  (void)broker::logger();
  static World w;
  return w;
}

bool is_json_type(std::string_view content_type) { return content_type.starts_with("application/json"); }

void check_response(const broker::HttpRequestData& request, const broker::HttpResponseData& response) {
  require(response.status >= 200 && response.status <= 599, "a valid HTTP status");
  if (response.status == 204) return;
  require(!response.content_type.empty(), "a content type");
  if (is_json_type(response.content_type)) {
    rapidjson::Document doc;
    require(!protocol::parse_json(response.body, doc) && doc.IsObject(), "a JSON body is a JSON object");
    if (response.status >= 400) {
      require(doc.HasMember("error") && doc["error"].IsString() && doc.HasMember("message"),
              "an error body has error and message");
    }
    // Clarification 22: no response but create and rotate carries a token.
    const bool may_carry_token =
        (request.method == "PUT" && response.status == 201) ||
        (request.method == "POST" && request.target.find("/token") != std::string::npos);
    if (!may_carry_token) require(!doc.HasMember("token"), "no token outside create and rotate");
  }
  if (request.target.starts_with("/api/") && response.status != 404) {
    const bool authorized = request.authorization == "Bearer " + std::string(kAdminToken);
    if (!authorized) require(response.status == 401 || response.status == 403, "/api/ needs the admin token");
  }
}

// Reads one request from the front of `input`; false when no complete
// request could be read (what the connection would do then — 413, 431 or
// a close — needs no ops API).
bool read_request(boost::asio::const_buffer& input, const broker::Config& config,
                  broker::HttpRequest& out) {
  broker::HttpRequestParser parser;
  broker::limit_request_parser(parser, config);
  parser.eager(true);
  boost::beast::error_code ec;
  while (!parser.is_done()) {
    if (input.size() == 0) {
      // The input ends here: a body that runs to the end of the stream is
      // complete, anything else is cut short.
      parser.put_eof(ec);
      if (ec || !parser.is_done()) return false;
      break;
    }
    const std::size_t used = parser.put(input, ec);
    input += used;
    if (ec == http::error::need_more) ec = {};
    if (ec) return false;
    // No progress on all that is left (Beast wants a whole header in one
    // buffer): the input ends inside this request.
    if (used == 0) input = {};
  }
  out = parser.release();
  return true;
}

}  // namespace

std::vector<HttpAnswer> http_answers(std::string_view text) {
  World& w = world();
  std::vector<HttpAnswer> answers;
  boost::asio::const_buffer input(text.data(), text.size());
  for (int i = 0; i < kMaxRequestsPerInput && input.size() > 0; ++i) {
    broker::HttpRequest request;
    if (!read_request(input, w.config(), request)) break;
    if (boost::beast::websocket::is_upgrade(request)) {
      const std::string_view route = broker::upgrade_route(request);
      require(route.empty() || route == "/ws" || route == "/api/live", "an upgrade goes to /ws, /api/live or 404");
      (void)broker::origin_allowed(w.config(), request[http::field::origin], request[http::field::host]);
      continue;
    }
    const bool keep_alive = request.keep_alive();
    const broker::HttpRequestData api_request = broker::api_request(request);
    broker::HttpResponseData response = w.handle(api_request);
    check_response(api_request, response);
    answers.push_back({response.status, std::move(response.body)});
    if (!keep_alive) break;
  }
  return answers;
}

int http_one(const std::uint8_t* data, std::size_t size) {
  (void)http_answers(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

}  // namespace possync::fuzz
