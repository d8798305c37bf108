// The ops HTTP API: health, credentials, sessions and the order list/detail.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "tests/integration/harness.hpp"

using namespace possync::test;

namespace {

rapidjson::Document parse(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str());
  return d;
}

}  // namespace

TEST_CASE("ops api: healthz and readyz need no credentials, readyz follows the store", "[admin]") {
  TestBroker broker;
  auto h = broker.http("GET", "/healthz", "", "");
  CHECK(h.status == 200);
  CHECK(h.body == R"({"status":"ok"})");
  CHECK(broker.http("GET", "/readyz", "", "").status == 200);
  broker.faults().fail_writes(true);
  CHECK(broker.http("GET", "/readyz", "", "").status == 503);
  broker.faults().fail_writes(false);
  CHECK(broker.http("GET", "/readyz", "", "").status == 200);
}

TEST_CASE("ops api: 401 without the bearer token, 403 with a wrong one, 404 JSON for unknown routes", "[admin]") {
  TestBroker broker;
  auto none = broker.http("GET", "/api/sessions", "", "");
  CHECK(none.status == 401);
  CHECK(parse(none.body)["error"].GetString() == std::string("unauthorized"));
  auto wrong = broker.http("GET", "/api/sessions", "", "wrong-token-wrong-token");
  CHECK(wrong.status == 403);
  auto unknown = broker.http("GET", "/api/nothing");
  CHECK(unknown.status == 404);
  CHECK(parse(unknown.body).HasMember("error"));
}

TEST_CASE("ops api: sessions are created, updated, listed, rotated and deleted, tokens only when made", "[admin]") {
  TestBroker broker;
  auto created = broker.http("PUT", "/api/sessions/till-7", R"({"sender":true})");
  REQUIRE(created.status == 201);
  auto c = parse(created.body);
  CHECK(std::string(c["session"].GetString()) == "till-7");
  CHECK(std::string(c["name"].GetString()) == "till-7");  // name defaults to the id
  CHECK(std::string(c["shop"].GetString()) == "main");
  CHECK(c["sender"].GetBool());
  CHECK_FALSE(c["receiver"].GetBool());
  std::string token = c["token"].GetString();
  CHECK(token.size() == 64);

  auto updated = broker.http("PUT", "/api/sessions/till-7", R"({"name":"Till 7","receiver":true})");
  REQUIRE(updated.status == 200);
  auto u = parse(updated.body);
  CHECK(std::string(u["name"].GetString()) == "Till 7");
  CHECK(u["sender"].GetBool());  // unchanged
  CHECK(u["receiver"].GetBool());
  CHECK_FALSE(u.HasMember("token"));
  TestClient still(broker.port(), "till-7", token);  // the token survives an update
  REQUIRE(still.connect_and_hello().ok());

  auto list = broker.http("GET", "/api/sessions");
  REQUIRE(list.status == 200);
  auto l = parse(list.body);
  REQUIRE(l["sessions"].Size() == 1);
  CHECK(l["sessions"][0]["online"].GetBool());
  CHECK(l["sessions"][0]["connections"].GetInt() == 1);
  CHECK(list.body.find(token) == std::string::npos);

  CHECK(broker.http("PUT", "/api/sessions/till-7", "[1]").status == 400);
  CHECK(broker.http("PUT", "/api/sessions/till-7", R"({"sender":"yes"})").status == 400);
  CHECK(broker.http("PUT", "/api/sessions/bad%20id", "{}").status == 400);
  CHECK(broker.http("POST", "/api/sessions/nobody/token").status == 404);
  CHECK(broker.http("DELETE", "/api/sessions/nobody").status == 404);
  CHECK(broker.http("DELETE", "/api/sessions/till-7").status == 204);
  CHECK(parse(broker.http("GET", "/api/sessions").body)["sessions"].Size() == 0);
}

TEST_CASE("ops api: the order list filters and pages, the detail has deliveries and history oldest first",
          "[admin]") {
  TestBroker broker;
  auto c = broker.add_session("counter-1", true, false);
  broker.add_session("kitchen-1", false, true);
  broker.add_session("bar-1", true, true);
  TestClient counter(broker.port(), "counter-1", c);
  REQUIRE(counter.connect_and_hello().ok());
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = counter.call(send_json("O-" + std::to_string(i), i % 2 ? std::vector<std::string>{"kitchen-1"}
                                                                    : std::vector<std::string>{"kitchen-1", "bar-1"}));
    REQUIRE(r.ok());
    ids.push_back(r.message->doc["order_id"].GetInt64());
  }
  auto page = parse(broker.http("GET", "/api/orders?limit=2").body);
  REQUIRE(page["orders"].Size() == 2);
  CHECK(page["orders"][0]["order_id"].GetInt64() == ids[4]);
  CHECK(page["orders"][0]["line_count"].GetInt() == 2);
  CHECK(std::string(page["orders"][0]["from"].GetString()) == "counter-1");
  REQUIRE(page["next_before"].IsInt64());
  auto page2 = parse(broker.http("GET", "/api/orders?limit=2&before=" +
                                            std::to_string(page["next_before"].GetInt64()))
                         .body);
  REQUIRE(page2["orders"].Size() == 2);
  CHECK(page2["orders"][0]["order_id"].GetInt64() == ids[2]);
  auto last = parse(broker.http("GET", "/api/orders?limit=2&before=" + std::to_string(ids[1])).body);
  REQUIRE(last["orders"].Size() == 1);
  CHECK(last["next_before"].IsNull());

  auto to_bar = parse(broker.http("GET", "/api/orders?receiver=bar-1").body);
  CHECK(to_bar["orders"].Size() == 3);
  auto by_ref = parse(broker.http("GET", "/api/orders?ref=O-3").body);
  REQUIRE(by_ref["orders"].Size() == 1);
  CHECK(by_ref["orders"][0]["order_id"].GetInt64() == ids[3]);
  CHECK(parse(broker.http("GET", "/api/orders?status=delivered").body)["orders"].Size() == 0);
  CHECK(broker.http("GET", "/api/orders?status=lost").status == 400);
  CHECK(broker.http("GET", "/api/orders?limit=abc").status == 400);
  CHECK(broker.http("GET", "/api/orders?before=-1").status == 400);
  CHECK(broker.http("GET", "/api/orders/999999").status == 404);

  auto rot = parse(broker.http("POST", "/api/sessions/kitchen-1/token").body);
  TestClient k(broker.port(), "kitchen-1", rot["token"].GetString());
  REQUIRE(k.connect_and_hello().ok());
  REQUIRE(k.call(R"({"type":"reject","order_id":)" + std::to_string(ids[0]) + R"(,"reason":"no stock"})").ok());
  auto delivered = parse(broker.http("GET", "/api/orders?status=rejected&receiver=kitchen-1").body);
  REQUIRE(delivered["orders"].Size() == 1);
  CHECK(parse(broker.http("GET", "/api/orders?status=rejected&receiver=bar-1").body)["orders"].Size() == 0);

  auto detail = parse(broker.http("GET", "/api/orders/" + std::to_string(ids[0])).body);
  CHECK(detail["order_id"].GetInt64() == ids[0]);
  CHECK(std::string(detail["ref"].GetString()) == "O-0");
  CHECK(detail["order"]["lines"].Size() == 2);
  REQUIRE(detail["deliveries"].Size() == 2);
  const auto& h = detail["history"];
  REQUIRE(h.Size() == 3);  // a creation entry per delivery, then the reject
  CHECK(h[0]["from"].IsNull());
  CHECK(std::string(h[0]["to"].GetString()) == "sent");
  CHECK(std::string(h[0]["by"].GetString()) == "counter-1");
  CHECK(std::string(h[2]["from"].GetString()) == "sent");
  CHECK(std::string(h[2]["to"].GetString()) == "rejected");
  CHECK(std::string(h[2]["by"].GetString()) == "kitchen-1");
  CHECK(std::string(h[2]["reason"].GetString()) == "no stock");
  CHECK(std::string(h[0]["at"].GetString()) <= std::string(h[2]["at"].GetString()));
}
