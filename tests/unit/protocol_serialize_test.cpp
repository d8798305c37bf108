// The serializers of replies.hpp: every output is parsed back and checked
// field by field; raw order JSON must come out byte for byte.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "protocol/replies.hpp"

using namespace possync::protocol;
using Catch::Matchers::Contains;

namespace {

rapidjson::Document json(const std::string& text) {
  CAPTURE(text);
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  return doc;
}

std::string str(const rapidjson::Value& v) {
  REQUIRE(v.IsString());
  return std::string(v.GetString(), v.GetStringLength());
}

const rapidjson::Value& at(const rapidjson::Value& object, const char* key) {
  INFO("member " << key);
  REQUIRE(object.IsObject());
  REQUIRE(object.HasMember(key));
  return object[key];
}

std::vector<std::string> keys(const rapidjson::Value& object) {
  std::vector<std::string> out;
  for (const auto& m : object.GetObject())
    out.emplace_back(m.name.GetString(), m.name.GetStringLength());
  return out;
}

// Parses back with RapidJSON (big integer → double is fine for that); the
// exact text is checked separately.
const std::string kRawOrder =
    R"({"name":"Order 1","big":123456789012345678901234567890,"d":0.1000000000000000000000001,)"
    R"("z":"a\u0000b","lines":[{"product_id":31,"name":"Água","qty":2,"price_unit":9.5}]})";

OrderRecord sample_order() {
  OrderRecord o;
  o.order_id = 42;
  o.ref = "Order 00012-003-0004";
  o.shop = "main";
  o.from = "bar-1";
  o.from_name = "Bar 1";
  o.mode = Mode::claim;
  o.created_at = "2026-11-27T04:16:43.123Z";
  o.updated_at = "2026-11-27T04:17:00.000Z";
  o.order_json = kRawOrder;
  o.line_count = 1;
  o.receivers = {{"kitchen-1", Status::sent, "2026-11-27T04:16:43.123Z"},
                 {"bar-2", Status::delivered, "2026-11-27T04:17:00.000Z"}};
  return o;
}

SessionEntry session(std::string id, std::string name, bool sender, bool receiver, bool online) {
  SessionEntry s;
  s.session = std::move(id);
  s.name = std::move(name);
  s.shop = "shop-9";
  s.sender = sender;
  s.receiver = receiver;
  s.online = online;
  s.connections = online ? 2 : 0;
  return s;
}

}  // namespace

TEST_CASE("serialize: error reply is the protocol's example, byte for byte",
          "[protocol][serialize]") {
  CHECK(
      error_reply("\"c7\"", ErrorCode::bad_request,
                  "order.lines[2].qty: must be a non-zero number") ==
      R"({"type":"error","id":"c7","code":"bad_request","message":"order.lines[2].qty: must be a non-zero number"})");
}

TEST_CASE("serialize: error reply omits an empty id, echoes numeric ids and escapes the message",
          "[protocol][serialize]") {
  const auto no_id = json(error_reply("", ErrorCode::bad_json, "not \"JSON\"\n"));
  CHECK_FALSE(no_id.HasMember("id"));
  CHECK(str(at(no_id, "code")) == "bad_json");
  CHECK(str(at(no_id, "message")) == "not \"JSON\"\n");
  const auto numeric = json(error_reply("5", ErrorCode::too_large, "to: more than 64 receivers"));
  CHECK(at(numeric, "id").GetInt() == 5);
  CHECK(str(at(numeric, "code")) == "too_large");
  CHECK(error_reply("\"a\\\"b\"", ErrorCode::internal, "x") ==
        R"({"type":"error","id":"a\"b","code":"internal","message":"x"})");
}

TEST_CASE("serialize: welcome carries the session, limits and the shop directory",
          "[protocol][serialize]") {
  WelcomeInfo info;
  info.self = session("kitchen-1", "Kitchen 1", false, true, true);
  info.heartbeat_ms = 15000;
  info.max_message_bytes = 262144;
  info.sessions = {session("bar-1", "Bar 1", true, true, true),
                   session("kitchen-1", "Kitchen 1", false, true, true),
                   session("tab-3", "Tablet", true, false, false)};
  const auto doc = json(welcome_reply("1", info));
  CHECK(keys(doc) == std::vector<std::string>{"type", "id", "session", "name", "shop", "sender",
                                              "receiver", "protocol", "heartbeat_ms",
                                              "max_message_bytes", "sessions"});
  CHECK(str(at(doc, "type")) == "welcome");
  CHECK(at(doc, "id").GetInt() == 1);
  CHECK(str(at(doc, "session")) == "kitchen-1");
  CHECK(str(at(doc, "name")) == "Kitchen 1");
  CHECK(str(at(doc, "shop")) == "shop-9");
  CHECK(at(doc, "sender").GetBool() == false);
  CHECK(at(doc, "receiver").GetBool() == true);
  CHECK(at(doc, "protocol").GetInt() == 1);
  CHECK(at(doc, "heartbeat_ms").GetInt() == 15000);
  CHECK(at(doc, "max_message_bytes").GetInt() == 262144);
  const auto& sessions = at(doc, "sessions");
  REQUIRE(sessions.Size() == 3);
  CHECK(keys(sessions[0]) ==
        std::vector<std::string>{"session", "name", "sender", "receiver", "online"});
  CHECK(str(at(sessions[0], "session")) == "bar-1");
  CHECK(str(at(sessions[0], "name")) == "Bar 1");
  CHECK(at(sessions[0], "sender").GetBool());
  CHECK(at(sessions[0], "receiver").GetBool());
  CHECK(at(sessions[0], "online").GetBool());
  CHECK(str(at(sessions[2], "session")) == "tab-3");
  CHECK_FALSE(at(sessions[2], "receiver").GetBool());
  CHECK_FALSE(at(sessions[2], "online").GetBool());
}

TEST_CASE("serialize: directory lists the same entries as welcome", "[protocol][serialize]") {
  const std::vector<SessionEntry> sessions = {session("bar-1", "Bar 1", true, true, false)};
  const auto doc = json(directory_reply("9", sessions));
  CHECK(str(at(doc, "type")) == "directory");
  CHECK(at(doc, "id").GetInt() == 9);
  REQUIRE(at(doc, "sessions").Size() == 1);
  CHECK(keys(at(doc, "sessions")[0]) ==
        std::vector<std::string>{"session", "name", "sender", "receiver", "online"});
  CHECK_FALSE(at(at(doc, "sessions")[0], "online").GetBool());
  CHECK(directory_reply("", {}) == R"({"type":"directory","sessions":[]})");
}

TEST_CASE("serialize: sent reply lists every receiver with its status", "[protocol][serialize]") {
  const auto doc = json(sent_reply("\"c7\"", sample_order(), true));
  CHECK(str(at(doc, "type")) == "sent");
  CHECK(str(at(doc, "id")) == "c7");
  CHECK(at(doc, "order_id").GetInt64() == 42);
  CHECK(str(at(doc, "ref")) == "Order 00012-003-0004");
  CHECK(at(doc, "duplicate").GetBool());
  CHECK(str(at(doc, "created_at")) == "2026-11-27T04:16:43.123Z");
  const auto& receivers = at(doc, "receivers");
  REQUIRE(receivers.Size() == 2);
  CHECK(keys(receivers[0]) == std::vector<std::string>{"session", "status"});
  CHECK(str(at(receivers[0], "session")) == "kitchen-1");
  CHECK(str(at(receivers[0], "status")) == "sent");
  CHECK(str(at(receivers[1], "session")) == "bar-2");
  CHECK(str(at(receivers[1], "status")) == "delivered");
  CHECK_FALSE(doc.HasMember("order"));
  CHECK_FALSE(json(sent_reply("1", sample_order(), false))["duplicate"].GetBool());
}

TEST_CASE("serialize: order push has the documented fields and the raw order verbatim",
          "[protocol][serialize]") {
  const std::string text = order_push(sample_order(), Status::received);
  CHECK_THAT(text, Contains(",\"order\":" + kRawOrder + "}"));
  const auto doc = json(text);
  CHECK(keys(doc) == std::vector<std::string>{"type", "order_id", "ref", "from", "from_name",
                                              "mode", "status", "created_at", "order"});
  CHECK(str(at(doc, "type")) == "order");
  CHECK(at(doc, "order_id").GetInt64() == 42);
  CHECK(str(at(doc, "ref")) == "Order 00012-003-0004");
  CHECK(str(at(doc, "from")) == "bar-1");
  CHECK(str(at(doc, "from_name")) == "Bar 1");
  CHECK(str(at(doc, "mode")) == "claim");
  CHECK(str(at(doc, "status")) == "received");
  CHECK(str(at(doc, "created_at")) == "2026-11-27T04:16:43.123Z");
  CHECK(str(at(at(doc, "order"), "z")) == std::string("a\0b", 3));
}

TEST_CASE("serialize: a raw order with numbers beyond double is still embedded unchanged",
          "[protocol][serialize]") {
  OrderRecord o = sample_order();
  o.order_json = R"({"x":1e400,"y":-0.00000000000000000000000000000000000001e-999,"lines":[]})";
  CHECK_THAT(order_push(o, Status::sent), Contains("\"order\":" + o.order_json + "}"));
  CHECK_THAT(delivered_reply("6", 42, false, o.order_json),
             Contains("\"order\":" + o.order_json + "}"));
}

TEST_CASE("serialize: inbox entries carry the caller's status and updated_at, no receivers",
          "[protocol][serialize]") {
  OrderRecord mine = sample_order();
  mine.receivers = {{"kitchen-1", Status::received, "2026-11-27T04:16:50.000Z"}};
  const std::string text = orders_reply("5", Box::inbox, {mine, mine});
  CHECK_THAT(text, Contains("\"order\":" + kRawOrder + "}"));
  const auto doc = json(text);
  CHECK(str(at(doc, "type")) == "orders");
  CHECK(at(doc, "id").GetInt() == 5);
  const auto& orders = at(doc, "orders");
  REQUIRE(orders.Size() == 2);
  const auto& entry = orders[0];
  CHECK(keys(entry) == std::vector<std::string>{"order_id", "ref", "from", "mode", "created_at",
                                                "updated_at", "status", "order"});
  CHECK(at(entry, "order_id").GetInt64() == 42);
  CHECK(str(at(entry, "from")) == "bar-1");
  CHECK(str(at(entry, "mode")) == "claim");
  CHECK(str(at(entry, "status")) == "received");
  CHECK(str(at(entry, "updated_at")) == "2026-11-27T04:16:50.000Z");
  CHECK(at(at(entry, "order"), "lines").Size() == 1);
}

TEST_CASE("serialize: outbox entries carry every receiver instead of a status",
          "[protocol][serialize]") {
  const auto doc = json(orders_reply("\"o\"", Box::outbox, {sample_order()}));
  CHECK(str(at(doc, "id")) == "o");
  const auto& entry = at(doc, "orders")[0];
  CHECK(keys(entry) == std::vector<std::string>{"order_id", "ref", "from", "mode", "created_at",
                                                "updated_at", "receivers", "order"});
  CHECK(str(at(entry, "updated_at")) == "2026-11-27T04:17:00.000Z");
  const auto& receivers = at(entry, "receivers");
  REQUIRE(receivers.Size() == 2);
  CHECK(keys(receivers[1]) == std::vector<std::string>{"session", "status", "updated_at"});
  CHECK(str(at(receivers[1], "session")) == "bar-2");
  CHECK(str(at(receivers[1], "status")) == "delivered");
  CHECK(str(at(receivers[1], "updated_at")) == "2026-11-27T04:17:00.000Z");
  CHECK(orders_reply("", Box::outbox, {}) == R"({"type":"orders","orders":[]})");
}

TEST_CASE("serialize: delivered, rejected and cancelled replies", "[protocol][serialize]") {
  const std::string delivered = delivered_reply("6", 42, true, kRawOrder);
  CHECK(delivered ==
        R"({"type":"delivered","id":6,"order_id":42,"duplicate":true,"order":)" + kRawOrder + "}");
  CHECK(rejected_reply("7", 42, false) ==
        R"({"type":"rejected","id":7,"order_id":42,"duplicate":false})");
  CHECK(json(rejected_reply("7", 42, true))["duplicate"].GetBool());
  const auto cancelled = json(cancelled_reply("8", 42, sample_order().receivers));
  CHECK(str(at(cancelled, "type")) == "cancelled");
  CHECK(at(cancelled, "id").GetInt() == 8);
  CHECK(at(cancelled, "order_id").GetInt64() == 42);
  const auto& receivers = at(cancelled, "receivers");
  REQUIRE(receivers.Size() == 2);
  CHECK(str(at(receivers[0], "session")) == "kitchen-1");
  CHECK(str(at(receivers[0], "status")) == "sent");
  CHECK(str(at(receivers[1], "status")) == "delivered");
}

TEST_CASE("serialize: status event with a null and with a string reason", "[protocol][serialize]") {
  StatusChange change;
  change.order_id = 42;
  change.shop = "main";
  change.sender = "bar-1";
  change.session = "kitchen-1";
  change.status = Status::delivered;
  change.at = "2026-11-27T04:17:00.000Z";
  change.by = "kitchen-1";
  CHECK(
      status_event(change) ==
      R"({"type":"status","order_id":42,"session":"kitchen-1","status":"delivered","at":"2026-11-27T04:17:00.000Z","by":"kitchen-1","reason":null})");
  change.status = Status::rejected;
  change.reason = "out of stock";
  const auto doc = json(status_event(change));
  CHECK(str(at(doc, "status")) == "rejected");
  CHECK(str(at(doc, "reason")) == "out of stock");
  CHECK_FALSE(doc.HasMember("shop"));
  CHECK_FALSE(doc.HasMember("sender"));
}

TEST_CASE("serialize: presence and pong", "[protocol][serialize]") {
  CHECK(presence_event("bar-1", true) == R"({"type":"presence","session":"bar-1","online":true})");
  CHECK(presence_event("bar-1", false) ==
        R"({"type":"presence","session":"bar-1","online":false})");
  CHECK(pong_reply("10") == R"({"type":"pong","id":10})");
  CHECK(pong_reply("\"p\"") == R"({"type":"pong","id":"p"})");
  CHECK(pong_reply("") == R"({"type":"pong"})");
}

TEST_CASE("serialize: http error body", "[protocol][serialize]") {
  CHECK(http_error_body("not_found", "no order 7") ==
        R"({"error":"not_found","message":"no order 7"})");
}

TEST_CASE("serialize: sessions body and session body, token only when given",
          "[protocol][serialize]") {
  const auto doc = json(sessions_body({session("bar-1", "Bar 1", true, false, true)}));
  REQUIRE(at(doc, "sessions").Size() == 1);
  const auto& s = at(doc, "sessions")[0];
  CHECK(keys(s) == std::vector<std::string>{"session", "name", "shop", "sender", "receiver",
                                            "online", "connections"});
  CHECK(str(at(s, "shop")) == "shop-9");
  CHECK(at(s, "sender").GetBool());
  CHECK_FALSE(at(s, "receiver").GetBool());
  CHECK(at(s, "connections").GetInt() == 2);
  CHECK(sessions_body({}) == R"({"sessions":[]})");

  const auto without = json(session_body(session("k", "K", false, true, false), std::nullopt));
  CHECK_FALSE(without.HasMember("token"));
  CHECK(str(at(without, "session")) == "k");
  const auto with =
      json(session_body(session("k", "K", false, true, false), std::string("tok-123")));
  CHECK(str(at(with, "token")) == "tok-123");
}

TEST_CASE("serialize: order list body with receivers, line_count and next_before",
          "[protocol][serialize]") {
  const auto doc = json(order_list_body({sample_order()}, 41));
  CHECK(at(doc, "next_before").GetInt64() == 41);
  const auto& entry = at(doc, "orders")[0];
  CHECK(keys(entry) == std::vector<std::string>{"order_id", "ref", "from", "mode", "created_at",
                                                "updated_at", "line_count", "receivers"});
  CHECK(at(entry, "line_count").GetInt() == 1);
  CHECK(str(at(entry, "updated_at")) == "2026-11-27T04:17:00.000Z");
  REQUIRE(at(entry, "receivers").Size() == 2);
  CHECK(keys(at(entry, "receivers")[0]) == std::vector<std::string>{"session", "status"});
  CHECK(str(at(at(entry, "receivers")[1], "status")) == "delivered");
  CHECK(at(json(order_list_body({}, std::nullopt)), "next_before").IsNull());
  CHECK(order_list_body({}, std::nullopt) == R"({"orders":[],"next_before":null})");
}

TEST_CASE(
    "serialize: order detail body has the raw order, deliveries and the history, creation from "
    "null",
    "[protocol][serialize]") {
  const std::vector<HistoryEntry> history = {
      {"2026-11-27T04:16:43.123Z", "kitchen-1", std::nullopt, Status::sent, "bar-1", std::nullopt},
      {"2026-11-27T04:16:50.000Z", "kitchen-1", Status::sent, Status::received, "kitchen-1",
       std::nullopt},
      {"2026-11-27T04:17:00.000Z", "kitchen-1", Status::received, Status::rejected, "kitchen-1",
       "out of stock"},
  };
  const std::string text = order_detail_body(sample_order(), history);
  CHECK_THAT(text, Contains("\"order\":" + kRawOrder + ","));
  const auto doc = json(text);
  CHECK(keys(doc) == std::vector<std::string>{"order_id", "ref", "from", "mode", "created_at",
                                              "updated_at", "order", "deliveries", "history"});
  CHECK(at(doc, "order_id").GetInt64() == 42);
  const auto& deliveries = at(doc, "deliveries");
  REQUIRE(deliveries.Size() == 2);
  CHECK(keys(deliveries[0]) == std::vector<std::string>{"session", "status", "updated_at"});
  CHECK(str(at(deliveries[1], "updated_at")) == "2026-11-27T04:17:00.000Z");
  const auto& h = at(doc, "history");
  REQUIRE(h.Size() == 3);
  CHECK(keys(h[0]) == std::vector<std::string>{"at", "session", "from", "to", "by", "reason"});
  CHECK(at(h[0], "from").IsNull());
  CHECK(str(at(h[0], "to")) == "sent");
  CHECK(str(at(h[0], "by")) == "bar-1");
  CHECK(at(h[0], "reason").IsNull());
  CHECK(str(at(h[1], "from")) == "sent");
  CHECK(str(at(h[1], "to")) == "received");
  CHECK(str(at(h[2], "from")) == "received");
  CHECK(str(at(h[2], "to")) == "rejected");
  CHECK(str(at(h[2], "reason")) == "out of stock");
  CHECK(str(at(h[2], "at")) == "2026-11-27T04:17:00.000Z");
}

TEST_CASE("serialize: strings with quotes, control characters and NUL are escaped",
          "[protocol][serialize]") {
  OrderRecord o = sample_order();
  o.ref = std::string("a\"b\\c\n\0d", 8);
  const std::string text = sent_reply("1", o, false);
  CHECK_THAT(text, Contains(R"("ref":"a\"b\\c\n\u0000d")"));
  CHECK(str(at(json(text), "ref")) == o.ref);
}

TEST_CASE("serialize: an order parsed from a send is pushed and delivered byte for byte",
          "[protocol][serialize]") {
  const std::string order =
      R"({"big":123456789012345678901234567890,"d":0.1000000000000000000000001,"z":"a\u0000b",)"
      R"( "lines" : [ {"product_id":1,"name":"x","qty":1,"price_unit":1,"n":1e400} ] })";
  const auto parsed =
      parse_request(R"({"type":"send","ref":"r","to":["k"],"order":)" + order + "}", Limits{});
  REQUIRE(parsed.request.has_value());
  OrderRecord record = sample_order();
  record.order_json = std::get<Send>(*parsed.request).order_json;
  CHECK_THAT(order_push(record, Status::sent), Contains("\"order\":" + order + "}"));
  CHECK_THAT(delivered_reply("1", 42, false, record.order_json),
             Contains("\"order\":" + order + "}"));
  CHECK_THAT(orders_reply("1", Box::inbox, {record}), Contains("\"order\":" + order + "}"));
}
