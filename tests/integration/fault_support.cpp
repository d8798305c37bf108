// The shared fault-test helpers of fault_support.hpp.
#include "tests/integration/fault_support.hpp"

#include <optional>

#include <rapidjson/document.h>

namespace possync::test::fault {

namespace {

possync::client::Runtime& load_runtime() {
  static possync::client::Runtime rt(2);
  return rt;
}

}  // namespace

std::shared_ptr<Client> make_client(std::uint16_t port, const std::string& session, const std::string& token) {
  possync::client::Options o;
  o.port = port;
  o.session = session;
  o.token = token;
  o.request_timeout = std::chrono::seconds(30);
  return Client::create(load_runtime(), o);
}

bool connect_hello(Client& c) { return c.connect_sync().empty() && c.hello_sync().ok(); }

std::vector<StoredOrder> list_all_orders(std::uint16_t port, const std::string& query) {
  std::vector<StoredOrder> out;
  std::optional<std::int64_t> before;
  for (int page = 0; page < 1000; ++page) {
    std::string target = "/api/orders?limit=500" + (query.empty() ? "" : "&" + query);
    if (before) target += "&before=" + std::to_string(*before);
    auto res = possync::client::http_request("127.0.0.1", port, "GET", target, kAdmin);
    REQUIRE(res.status == 200);
    rapidjson::Document d;
    d.Parse(res.body.c_str());
    REQUIRE(d.IsObject());
    for (const auto& o : d["orders"].GetArray()) {
      StoredOrder s;
      s.order_id = o["order_id"].GetInt64();
      s.ref = o["ref"].GetString();
      s.from = o["from"].GetString();
      for (const auto& r : o["receivers"].GetArray()) s.receivers[r["session"].GetString()] = r["status"].GetString();
      out.push_back(std::move(s));
    }
    if (!d["next_before"].IsInt64()) return out;
    before = d["next_before"].GetInt64();
  }
  FAIL("GET /api/orders did not reach its last page");
  return out;
}

void pump(const std::shared_ptr<SenderState>& st, const std::weak_ptr<Client>& weak) {
  auto c = weak.lock();
  if (!c) return;
  std::vector<std::string> refs;
  {
    std::lock_guard lock(st->mu);
    while (!st->stopped && st->outstanding < st->window && st->next < st->max) {
      refs.push_back(st->prefix + std::to_string(st->next++));
      st->attempted.push_back(refs.back());
      ++st->outstanding;
    }
  }
  for (const auto& ref : refs) {
    c->request(send_json(ref, st->to, "copy", st->order), [st, weak, ref](possync::client::Reply r) {
      {
        std::lock_guard lock(st->mu);
        --st->outstanding;
        if (r.ok()) {
          st->acked[ref] = r.message->int_field("order_id");
          ++*st->ok_total;
        } else if (r.message) {
          st->errors[ref] = r.message->error_code();
        } else {
          st->stopped = true;
        }
      }
      pump(st, weak);
    });
  }
}

}  // namespace possync::test::fault
