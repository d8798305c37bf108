// Request validation (PROTOCOL.md §3, §4, §7). The JSON reading itself, with
// its depth limit and the verbatim `order` range, is in json_reader.cpp.
//
// Every check names the field path in its message. Rule of thumb for the code
// (clarification 3): a count or length over its maximum is too_large; a value
// missing, of the wrong type, under its minimum or otherwise out of range is
// bad_request. `null` on an optional field means the field is absent.
#include "protocol/requests.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>

#include "protocol/json_reader.hpp"

namespace possync::protocol {

std::size_t utf8_length(std::string_view s) noexcept {
  // Valid UTF-8 (the reader guarantees it) has exactly one non-continuation
  // byte per code point.
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

namespace {

using detail::JsonFrame;
using rapidjson::SizeType;
using rapidjson::Value;
using MaybeError = std::optional<Error>;

std::string index_path(std::string_view base, std::size_t index) {
  return std::string(base) + "[" + std::to_string(index) + "]";
}

// A field's path ("order.lines[2].qty"), spelled out only when an error names
// it: every send checks a handful of fields per line, and building each path
// up front cost several heap allocations per line on the hot path.
class Field {
 public:
  Field(const char* path) : base_(path) {}  // NOLINT(google-explicit-constructor): a plain path
  Field(std::string_view base, std::size_t index, std::string_view leaf = {})
      : base_(base), index_(index), leaf_(leaf) {}

  std::string str() const {
    std::string path = index_ ? index_path(base_, *index_) : std::string(base_);
    path += leaf_;
    return path;
  }

 private:
  std::string_view base_;
  std::optional<std::size_t> index_;
  std::string_view leaf_;
};

Error bad_request(const Field& field, std::string_view what) {
  return Error{ErrorCode::bad_request, field.str() + ": " + std::string(what)};
}

Error too_large(const Field& field, std::string_view what) {
  return Error{ErrorCode::too_large, field.str() + ": " + std::string(what)};
}

std::string longer_than(std::size_t max_chars) {
  return "longer than " + std::to_string(max_chars) + " characters";
}

// Client text quoted into an error message, cut (on a code point boundary)
// so that a 200 KB value does not come back whole.
std::string quoted(std::string_view s) {
  constexpr std::size_t kMaxChars = 40;
  std::size_t chars = 0;
  std::size_t cut = 0;
  for (; cut < s.size(); ++cut) {
    if ((static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) continue;
    if (chars == kMaxChars) break;
    ++chars;
  }
  return "\"" + std::string(s.substr(0, cut)) + (cut < s.size() ? "…\"" : "\"");
}

std::string_view text_of(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

const Value* member(const Value& object, std::string_view name) {
  const Value key(rapidjson::StringRef(name.data(), static_cast<SizeType>(name.size())));
  const auto it = object.FindMember(key);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

bool absent(const Value* v) { return v == nullptr || v->IsNull(); }

std::string json_string_literal(std::string_view s) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(s.data(), static_cast<SizeType>(s.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

// ---- field checks -----------------------------------------------------------

MaybeError check_text_length(const Value& v, const Field& path, std::size_t max_chars) {
  if (utf8_length(text_of(v)) > max_chars) return too_large(path, longer_than(max_chars));
  return std::nullopt;
}

MaybeError check_required_text(const Value* v, const Field& path, std::size_t max_chars) {
  if (v == nullptr) return bad_request(path, "is required");
  if (!v->IsString()) return bad_request(path, "must be a string");
  return check_text_length(*v, path, max_chars);
}

MaybeError check_optional_text(const Value* v, const Field& path, std::size_t max_chars) {
  if (absent(v)) return std::nullopt;
  if (!v->IsString()) return bad_request(path, "must be a string or null");
  return check_text_length(*v, path, max_chars);
}

// product_id and customer.id: an integer literal (within 64 bits) or a string.
MaybeError check_integer_or_string(const Value* v, const Field& path, const JsonFrame& json) {
  if (v == nullptr) return bad_request(path, "is required");
  if (v->IsString() || v->IsInt64() || v->IsUint64()) return std::nullopt;
  if (v->IsDouble() && json.is_wide_integer(path.str())) {
    return bad_request(path, "integer beyond 64 bits; send it as a string");
  }
  return bad_request(path, "must be an integer or a string");
}

// A number the broker may do arithmetic with: present, numeric, finite.
MaybeError check_finite_number(const Value* v, const Field& path) {
  if (v == nullptr) return bad_request(path, "is required");
  if (!v->IsNumber()) return bad_request(path, "must be a number");
  if (!std::isfinite(v->GetDouble())) return bad_request(path, "must be a finite number");
  return std::nullopt;
}

std::optional<std::int64_t> positive_integer(const Value* v) {
  if (v != nullptr && v->IsInt64() && v->GetInt64() > 0) return v->GetInt64();
  return std::nullopt;
}

Result<std::int64_t> required_order_id(const Value& root) {
  if (auto id = positive_integer(member(root, "order_id"))) return *id;
  return bad_request("order_id", "must be a positive integer");
}

Result<RequestId> parse_id(const Value& id, const JsonFrame& json, const Limits& limits) {
  if (id.IsString()) {
    if (auto e = check_text_length(id, "id", limits.max_id_chars)) return *e;
    return json_string_literal(text_of(id));
  }
  if (id.IsInt64()) return std::to_string(id.GetInt64());
  if (id.IsUint64()) return std::to_string(id.GetUint64());
  if (id.IsDouble() && json.is_wide_integer("id")) {
    return bad_request("id", "must be a string or an integer of at most 64 bits");
  }
  return bad_request("id", "must be a string or an integer");
}

// ---- send -------------------------------------------------------------------

MaybeError check_line(const Value& line, std::size_t index, const JsonFrame& json,
                      const Limits& limits) {
  const auto field = [index](std::string_view leaf) { return Field("order.lines", index, leaf); };
  if (!line.IsObject()) return bad_request(field({}), "must be an object");
  if (auto e = check_integer_or_string(member(line, "product_id"), field(".product_id"), json)) {
    return e;
  }
  if (auto e = check_required_text(member(line, "name"), field(".name"), limits.max_text_chars)) {
    return e;
  }
  const Value* qty = member(line, "qty");
  if (qty != nullptr && !qty->IsNumber()) return bad_request(field(".qty"), "must be a non-zero number");
  if (auto e = check_finite_number(qty, field(".qty"))) return e;
  if (qty->GetDouble() == 0.0) return bad_request(field(".qty"), "must be a non-zero number");
  if (auto e = check_finite_number(member(line, "price_unit"), field(".price_unit"))) return e;
  const Value* discount = member(line, "discount");
  if (!absent(discount)) {
    if (!discount->IsNumber()) return bad_request(field(".discount"), "must be a number or null");
    const double d = discount->GetDouble();
    if (!std::isfinite(d)) return bad_request(field(".discount"), "must be a finite number");
    if (d < 0.0 || d > 100.0) return bad_request(field(".discount"), "must be between 0 and 100");
  }
  return check_optional_text(member(line, "note"), field(".note"), limits.max_text_chars);
}

MaybeError check_order(const Value* order, const JsonFrame& json, const Limits& limits) {
  if (order == nullptr) return bad_request("order", "is required");
  if (!order->IsObject()) return bad_request("order", "must be an object");
  const Value* lines = member(*order, "lines");
  if (lines == nullptr) return bad_request("order.lines", "is required");
  if (!lines->IsArray()) return bad_request("order.lines", "must be an array");
  if (lines->Empty()) return bad_request("order.lines", "must have at least 1 line");
  if (lines->Size() > limits.max_lines) {
    return too_large("order.lines", "more than " + std::to_string(limits.max_lines) + " lines");
  }
  for (SizeType i = 0; i < lines->Size(); ++i) {
    if (auto e = check_line((*lines)[i], i, json, limits)) return e;
  }
  const Value* customer = member(*order, "customer");
  if (!absent(customer)) {
    if (!customer->IsObject()) return bad_request("order.customer", "must be an object or null");
    if (auto e = check_integer_or_string(member(*customer, "id"), "order.customer.id", json))
      return e;
    if (auto e = check_required_text(member(*customer, "name"), "order.customer.name",
                                     limits.max_text_chars)) {
      return e;
    }
  }
  if (auto e = check_optional_text(member(*order, "name"), "order.name", limits.max_text_chars)) {
    return e;
  }
  return check_optional_text(member(*order, "note"), "order.note", limits.max_text_chars);
}

Result<Request> parse_send(const Value& root, std::string_view frame, const JsonFrame& json,
                           const Limits& limits) {
  Send send;
  const Value* ref = member(root, "ref");
  if (ref == nullptr) return bad_request("ref", "is required");
  if (!ref->IsString()) return bad_request("ref", "must be a string");
  if (ref->GetStringLength() == 0) return bad_request("ref", "must not be empty");
  if (auto e = check_text_length(*ref, "ref", limits.max_ref_chars)) return *e;
  send.ref = std::string(text_of(*ref));

  const Value* to = member(root, "to");
  if (to == nullptr) return bad_request("to", "is required");
  if (!to->IsArray()) return bad_request("to", "must be an array of session ids");
  if (to->Empty()) return bad_request("to", "must have at least 1 receiver");
  if (to->Size() > limits.max_receivers) {
    return too_large("to", "more than " + std::to_string(limits.max_receivers) + " receivers");
  }
  for (SizeType i = 0; i < to->Size(); ++i) {
    const Value& entry = (*to)[i];
    if (!entry.IsString()) return bad_request(Field("to", i), "must be a session id string");
    const std::string_view session = text_of(entry);
    if (!valid_session_id(session)) {
      return bad_request(Field("to", i), "not a valid session id: " + quoted(session));
    }
    if (std::find(send.to.begin(), send.to.end(), session) != send.to.end()) {
      return bad_request(Field("to", i), "duplicate receiver " + quoted(session));
    }
    send.to.emplace_back(session);
  }

  const Value* mode = member(root, "mode");
  if (!absent(mode)) {
    const auto parsed = mode->IsString() ? parse_mode(text_of(*mode)) : std::nullopt;
    if (!parsed) return bad_request("mode", R"(must be "copy" or "claim")");
    send.mode = *parsed;
  }

  const Value* order = member(root, "order");
  if (auto e = check_order(order, json, limits)) return *e;
  if (!json.order_begin || json.order_end <= *json.order_begin || json.order_end > frame.size()) {
    return Error{ErrorCode::internal, "order: raw text range not recorded"};
  }
  send.order_json =
      std::string(frame.substr(*json.order_begin, json.order_end - *json.order_begin));
  send.line_count = static_cast<int>((*order)["lines"].Size());
  return Request{std::move(send)};
}

// ---- the other requests -------------------------------------------------------

Result<Request> parse_hello(const Value& root, const Limits& limits) {
  Hello hello;
  // A missing or non-string session/token is left empty: the broker answers
  // unauthorized and closes (clarification 6), not bad_request.
  if (const Value* session = member(root, "session"); session && session->IsString()) {
    hello.session = std::string(text_of(*session));
  }
  if (const Value* token = member(root, "token"); token && token->IsString()) {
    hello.token = std::string(text_of(*token));
  }
  const Value* client = member(root, "client");
  if (auto e = check_optional_text(client, "client", limits.max_text_chars)) return *e;
  if (!absent(client)) hello.client = std::string(text_of(*client));
  return Request{std::move(hello)};
}

Result<Request> parse_reject(const Value& root, const Limits& limits) {
  auto order_id = required_order_id(root);
  if (!order_id) return order_id.error();
  Reject reject{order_id.value(), std::nullopt};
  const Value* reason = member(root, "reason");
  if (auto e = check_optional_text(reason, "reason", limits.max_reason_chars)) return *e;
  if (!absent(reason)) reject.reason = std::string(text_of(*reason));
  return Request{std::move(reject)};
}

MaybeError parse_list_limit(const Value* limit, const JsonFrame& json, const Limits& limits,
                            int& out) {
  if (absent(limit)) {
    out = limits.default_list_limit;
    return std::nullopt;
  }
  const std::string range = "must be an integer from 1 to " + std::to_string(limits.max_list_limit);
  if (limit->IsInt64()) {
    const std::int64_t n = limit->GetInt64();
    if (n < 1) return bad_request("limit", range);
    if (n > limits.max_list_limit) return too_large("limit", range);
    out = static_cast<int>(n);
    return std::nullopt;
  }
  const bool huge_integer =
      limit->IsUint64() ||
      (limit->IsDouble() && json.is_wide_integer("limit") && limit->GetDouble() > 0);
  if (huge_integer) return too_large("limit", range);
  return bad_request("limit", range);
}

Result<Request> parse_list(const Value& root, const JsonFrame& json, const Limits& limits) {
  List list;
  const Value* box = member(root, "box");
  if (!absent(box)) {
    const std::string_view name = box->IsString() ? text_of(*box) : std::string_view{};
    if (name == "inbox") {
      list.box = Box::inbox;
    } else if (name == "outbox") {
      list.box = Box::outbox;
    } else {
      return bad_request("box", R"(must be "inbox" or "outbox")");
    }
  }
  const Value* statuses = member(root, "status");
  if (!absent(statuses)) {
    if (!statuses->IsArray()) return bad_request("status", "must be an array of statuses");
    for (SizeType i = 0; i < statuses->Size(); ++i) {
      const Value& entry = (*statuses)[i];
      if (!entry.IsString()) return bad_request(Field("status", i), "must be a status name");
      const auto status = parse_status(text_of(entry));
      if (!status) {
        return bad_request(Field("status", i), "unknown status " + quoted(text_of(entry)));
      }
      if (std::find(list.statuses.begin(), list.statuses.end(), *status) == list.statuses.end()) {
        list.statuses.push_back(*status);
      }
    }
  }
  if (auto e = parse_list_limit(member(root, "limit"), json, limits, list.limit)) return *e;
  const Value* before = member(root, "before");
  if (!absent(before)) {
    list.before = positive_integer(before);
    if (!list.before) return bad_request("before", "must be a positive integer");
  }
  return Request{std::move(list)};
}

constexpr std::array<std::string_view, 9> kRequestTypes = {
    "hello", "send", "ack", "list", "deliver", "reject", "cancel", "sessions", "ping"};

Result<Request> parse_body(std::string_view type, const Value& root, std::string_view frame,
                           const JsonFrame& json, const Limits& limits) {
  if (type == "hello") return parse_hello(root, limits);
  if (type == "send") return parse_send(root, frame, json, limits);
  if (type == "list") return parse_list(root, json, limits);
  if (type == "reject") return parse_reject(root, limits);
  if (type == "sessions") return Request{SessionsQuery{}};
  if (type == "ping") return Request{Ping{}};
  auto order_id = required_order_id(root);
  if (!order_id) return order_id.error();
  if (type == "ack") return Request{Ack{order_id.value()}};
  if (type == "deliver") return Request{Deliver{order_id.value()}};
  return Request{Cancel{order_id.value()}};
}

}  // namespace

ParseResult parse_request(std::string_view frame, const Limits& limits) {
  ParseResult result;
  const auto fail = [&result](Error error) {
    result.error = std::move(error);
    return std::move(result);
  };

  detail::JsonFrame json;
  if (auto message = detail::read_json_frame(frame, limits.max_depth, json)) {
    return fail(Error{ErrorCode::bad_json, std::move(*message)});
  }
  const Value& root = json.doc;
  if (!root.IsObject()) return fail(Error{ErrorCode::bad_json, "the frame is not a JSON object"});

  // The id first: an envelope error is still answered with the id when the id
  // itself is fine, and without it when it is not (clarification 5).
  if (const Value* id = member(root, "id")) {
    auto parsed = parse_id(*id, json, limits);
    if (!parsed) return fail(parsed.error());
    result.id = std::move(parsed).value();
  }
  const Value* type = member(root, "type");
  if (type == nullptr) return fail(bad_request("type", "is required"));
  if (!type->IsString()) return fail(bad_request("type", "must be a string"));
  const std::string_view name = text_of(*type);
  if (std::find(kRequestTypes.begin(), kRequestTypes.end(), name) == kRequestTypes.end()) {
    return fail(bad_request("type", "unknown type " + quoted(name)));
  }
  result.type = std::string(name);

  auto body = parse_body(name, root, frame, json, limits);
  if (!body) return fail(body.error());
  result.request = std::move(body).value();
  return result;
}

}  // namespace possync::protocol
