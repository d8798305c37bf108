// fuzz_request: the protocol parser and validator (targets.hpp).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include <rapidjson/document.h>

#include "protocol/json.hpp"
#include "protocol/replies.hpp"
#include "protocol/requests.hpp"
#include "tests/fuzz/targets.hpp"

namespace possync::fuzz {

void broken(const char* target, const char* what) {
  std::fprintf(stderr, "fuzz %s: invariant broken: %s\n", target, what);
  std::abort();
}

namespace {

void require(bool ok, const char* what) {
  if (!ok) broken("request", what);
}

// What the broker writes back must be JSON a strict client reads (valid
// UTF-8 included: parse_json validates the encoding).
void require_json_object(const std::string& text, const char* what) {
  rapidjson::Document doc;
  require(!protocol::parse_json(text, doc) && doc.IsObject(), what);
}

void check_send(const protocol::Send& send, const protocol::Limits& limits) {
  require(!send.ref.empty() && protocol::utf8_length(send.ref) <= limits.max_ref_chars, "send.ref length");
  require(!send.to.empty() && send.to.size() <= limits.max_receivers, "send.to count");
  for (const auto& to : send.to) require(protocol::valid_session_id(to), "send.to holds a valid id");
  require(send.line_count >= 1 && static_cast<std::size_t>(send.line_count) <= limits.max_lines,
          "send.line_count in range");
  require(send.order_json.size() >= 2 && send.order_json.front() == '{' && send.order_json.back() == '}',
          "order_json is the raw object text");
  rapidjson::Document order;
  require(!protocol::parse_json(send.order_json, order, limits.max_depth) && order.IsObject(),
          "order_json reads back as an object");
  require(order["lines"].IsArray() && order["lines"].Size() == static_cast<unsigned>(send.line_count),
          "order_json holds the lines that were counted");

  // The push and the delivered reply embed the raw text verbatim.
  protocol::OrderRecord record;
  record.order_id = 1;
  record.ref = send.ref;
  record.from = "fuzz-sender";
  record.mode = send.mode;
  record.order_json = send.order_json;
  record.line_count = send.line_count;
  for (const auto& to : send.to) record.receivers.push_back({to, protocol::Status::sent, ""});
  const std::string push = protocol::order_push(record, protocol::Status::sent);
  require(push.find(send.order_json) != std::string::npos, "the push carries the order verbatim");
  require_json_object(push, "order push is valid JSON");
  require_json_object(protocol::sent_reply("\"c7\"", record, false), "sent reply is valid JSON");
  require_json_object(protocol::delivered_reply("1", 1, false, send.order_json), "delivered reply is valid JSON");
}

void check(std::string_view frame, const protocol::Limits& limits) {
  const protocol::ParseResult r = protocol::parse_request(frame, limits);
  require(r.request.has_value() != r.error.has_value(), "exactly one of request and error");
  if (!r.id.empty()) {
    rapidjson::Document id;
    require(!protocol::parse_json(r.id, id) && (id.IsString() || id.IsInt64() || id.IsUint64()),
            "the echoed id is a JSON string or integer");
  }
  if (r.error) {
    require(r.error->code != protocol::ErrorCode::internal, "malformed input is never an internal error");
    require_json_object(protocol::error_reply(r.id, r.error->code, r.error->message), "error reply is valid JSON");
    return;
  }
  require(!r.type.empty(), "a request has its type");
  std::visit(
      [&](const auto& request) {
        using T = std::decay_t<decltype(request)>;
        if constexpr (std::is_same_v<T, protocol::Send>) {
          check_send(request, limits);
        } else if constexpr (std::is_same_v<T, protocol::List>) {
          require(request.limit >= 1 && request.limit <= limits.max_list_limit, "list.limit in range");
          require(!request.before || *request.before > 0, "list.before positive");
        } else if constexpr (std::is_same_v<T, protocol::Reject>) {
          require(request.order_id > 0, "reject.order_id positive");
          require(!request.reason || protocol::utf8_length(*request.reason) <= limits.max_reason_chars,
                  "reject.reason length");
        } else if constexpr (std::is_same_v<T, protocol::Ack> || std::is_same_v<T, protocol::Deliver> ||
                             std::is_same_v<T, protocol::Cancel>) {
          require(request.order_id > 0, "order_id positive");
        } else if constexpr (std::is_same_v<T, protocol::Hello>) {
          require(protocol::utf8_length(request.client) <= limits.max_text_chars, "hello.client length");
        }
      },
      *r.request);
  require_json_object(protocol::pong_reply(r.id), "a reply echoing the id is valid JSON");
}

}  // namespace

int request_one(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  check(frame, protocol::Limits{});
  // Small limits reach every "too many / too long / too deep" branch with
  // inputs short enough for the fuzzer to find.
  protocol::Limits small;
  small.max_lines = 2;
  small.max_receivers = 2;
  small.max_ref_chars = 4;
  small.max_text_chars = 4;
  small.max_reason_chars = 4;
  small.max_id_chars = 4;
  small.max_depth = 4;
  small.max_list_limit = 3;
  small.default_list_limit = 2;
  check(frame, small);
  return 0;
}

}  // namespace possync::fuzz
