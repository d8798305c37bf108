// Message accessors, JSON text helpers and the typed requests of Client.
// No Beast here: the typed requests only build JSON text and call the
// virtual transport methods implemented in client.cpp.
#include "clients/cpp/client.hpp"
#include "protocol/json.hpp"

#include <future>

namespace possync::client {

namespace {

const rapidjson::Value* member(const rapidjson::Document& doc, const char* name) {
  if (!doc.IsObject()) return nullptr;
  auto it = doc.FindMember(name);
  return it == doc.MemberEnd() ? nullptr : &it->value;
}

std::string string_of(const rapidjson::Value* v) {
  if (v == nullptr || !v->IsString()) return {};
  return std::string(v->GetString(), v->GetStringLength());
}

// `"name":` with a leading comma, the shape every builder below appends.
void append_key(std::string& out, std::string_view key) {
  out += ",\"";
  out += key;
  out += "\":";
}

void append_int(std::string& out, std::int64_t value) { out += std::to_string(value); }

void append_string_array(std::string& out, const std::vector<std::string>& items) {
  out += '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ',';
    out += json_quote(items[i]);
  }
  out += ']';
}

std::string with_order_id(std::string_view type, std::int64_t order_id) {
  std::string out = "{\"type\":";
  out += json_quote(type);
  append_key(out, "order_id");
  append_int(out, order_id);
  out += '}';
  return out;
}

// Runs `start(handler)` and waits for the handler's value. A handler that is
// destroyed without being called (the Runtime stopped) yields `on_broken`.
template <typename T, typename Start>
T wait_for(Start&& start, T on_broken) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  // The handler must be the promise's only owner, so that dropping it breaks the promise.
  start([promise = std::move(promise)](T value) { promise->set_value(std::move(value)); });
  try {
    return future.get();
  } catch (const std::future_error&) {
    return on_broken;
  }
}

}  // namespace

// ---- Message -------------------------------------------------------------

std::string Message::type() const { return string_of(member(doc, "type")); }

std::string Message::error_code() const {
  if (!is_error()) return {};
  return string_of(member(doc, "code"));
}

std::int64_t Message::int_field(const char* name, std::int64_t fallback) const {
  const rapidjson::Value* v = member(doc, name);
  if (v == nullptr || !v->IsInt64()) return fallback;
  return v->GetInt64();
}

std::string Message::string_field(const char* name) const { return string_of(member(doc, name)); }

MessagePtr parse_message(std::string text) {
  auto message = std::make_shared<Message>();
  message->text = std::move(text);
  // The broker's own reader: pushes may carry free numbers (1e400, 30-digit
  // integers) that a plain RapidJSON parse refuses.
  if (protocol::parse_json(message->text, message->doc)) message->doc.SetNull();
  return message;
}

// ---- JSON text -------------------------------------------------------------

std::string json_quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (byte < 0x20) {
          out += "\\u00";
          out += kHex[byte >> 4];
          out += kHex[byte & 0xF];
        } else {
          out += c;  // UTF-8 passes through unchanged
        }
    }
  }
  out += '"';
  return out;
}

// ---- typed requests --------------------------------------------------------

void Client::send_order(std::string_view ref, const std::vector<std::string>& to, std::string_view mode,
                        std::string_view order_json, ReplyHandler done) {
  std::string out;
  out.reserve(order_json.size() + ref.size() + 64 + to.size() * 24);
  out += "{\"type\":\"send\"";
  append_key(out, "ref");
  out += json_quote(ref);
  append_key(out, "to");
  append_string_array(out, to);
  if (!mode.empty()) {
    append_key(out, "mode");
    out += json_quote(mode);
  }
  append_key(out, "order");
  out += order_json;  // raw JSON text, kept verbatim
  out += '}';
  request(std::move(out), std::move(done));
}

void Client::ack(std::int64_t order_id) { send_text(with_order_id("ack", order_id)); }

void Client::list(std::string_view box, const std::vector<std::string>& statuses, int limit,
                  std::optional<std::int64_t> before, ReplyHandler done) {
  std::string out = "{\"type\":\"list\"";
  if (!box.empty()) {
    append_key(out, "box");
    out += json_quote(box);
  }
  if (!statuses.empty()) {
    append_key(out, "status");
    append_string_array(out, statuses);
  }
  if (limit > 0) {
    append_key(out, "limit");
    append_int(out, limit);
  }
  if (before) {
    append_key(out, "before");
    append_int(out, *before);
  }
  out += '}';
  request(std::move(out), std::move(done));
}

void Client::deliver(std::int64_t order_id, ReplyHandler done) {
  request(with_order_id("deliver", order_id), std::move(done));
}

void Client::reject(std::int64_t order_id, std::optional<std::string> reason, ReplyHandler done) {
  std::string out = with_order_id("reject", order_id);
  if (reason) {
    out.pop_back();  // reopen the object
    append_key(out, "reason");
    out += json_quote(*reason);
    out += '}';
  }
  request(std::move(out), std::move(done));
}

void Client::cancel(std::int64_t order_id, ReplyHandler done) {
  request(with_order_id("cancel", order_id), std::move(done));
}

void Client::sessions(ReplyHandler done) { request("{\"type\":\"sessions\"}", std::move(done)); }

void Client::ping(ReplyHandler done) { request("{\"type\":\"ping\"}", std::move(done)); }

// ---- blocking helpers --------------------------------------------------------

std::string Client::connect_sync() {
  return wait_for<std::string>([this](auto handler) { connect(std::move(handler)); },
                               "runtime stopped before the connection completed");
}

Reply Client::call(std::string json_object) {
  return wait_for<Reply>(
      [this, &json_object](auto handler) { request(std::move(json_object), std::move(handler)); },
      Reply{nullptr, "closed: runtime stopped"});
}

Reply Client::hello_sync() {
  return wait_for<Reply>([this](auto handler) { hello(std::move(handler)); },
                         Reply{nullptr, "closed: runtime stopped"});
}

}  // namespace possync::client
