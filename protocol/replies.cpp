// Serializers for PROTOCOL.md §4 replies, pushes and events, and the §6 ops
// API bodies. Field names and order follow the examples in the protocol.
// Raw JSON (the order as sent, the request id) goes in with RawValue so that
// it reaches the client byte for byte (clarification 9).
#include "protocol/replies.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace possync::protocol {
namespace {

using rapidjson::SizeType;

class JsonOut {
 public:
  JsonOut() : writer_(buffer_) {}

  JsonOut& key(std::string_view k) {
    writer_.Key(k.data(), static_cast<SizeType>(k.size()));
    return *this;
  }
  void string(std::string_view s) { writer_.String(s.data(), static_cast<SizeType>(s.size())); }
  void integer(std::int64_t n) { writer_.Int64(n); }
  void boolean(bool b) { writer_.Bool(b); }
  void null() { writer_.Null(); }
  // `json` must be one complete JSON value; the type only matters to the
  // writer's bookkeeping.
  void raw(std::string_view json, rapidjson::Type type) {
    writer_.RawValue(json.data(), json.size(), type);
  }
  void begin_object() { writer_.StartObject(); }
  void end_object() { writer_.EndObject(); }
  void begin_array() { writer_.StartArray(); }
  void end_array() { writer_.EndArray(); }

  std::string take() { return std::string(buffer_.GetString(), buffer_.GetSize()); }

 private:
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

void id_member(JsonOut& out, const RequestId& id) {
  if (id.empty()) return;
  out.key("id").raw(id, id.front() == '"' ? rapidjson::kStringType : rapidjson::kNumberType);
}

// Opens a broker → client message: {"type":…,"id":… (when given)
void begin_message(JsonOut& out, std::string_view type, const RequestId& id = {}) {
  out.begin_object();
  out.key("type").string(type);
  id_member(out, id);
}

void order_member(JsonOut& out, std::string_view order_json) {
  out.key("order");
  // An order record always has its raw text; null keeps the output valid JSON
  // should a caller pass an empty one.
  if (order_json.empty()) {
    out.null();
  } else {
    out.raw(order_json, rapidjson::kObjectType);
  }
}

void optional_string(JsonOut& out, const std::optional<std::string>& s) {
  if (s) {
    out.string(*s);
  } else {
    out.null();
  }
}

// {"session","name","sender","receiver","online"}: welcome and directory.
void directory_entry(JsonOut& out, const SessionEntry& s) {
  out.begin_object();
  out.key("session").string(s.session);
  out.key("name").string(s.name);
  out.key("sender").boolean(s.sender);
  out.key("receiver").boolean(s.receiver);
  out.key("online").boolean(s.online);
  out.end_object();
}

void directory_member(JsonOut& out, const std::vector<SessionEntry>& sessions) {
  out.key("sessions").begin_array();
  for (const auto& s : sessions) directory_entry(out, s);
  out.end_array();
}

// The ops API's full session entry.
void admin_session_fields(JsonOut& out, const SessionEntry& s) {
  out.key("session").string(s.session);
  out.key("name").string(s.name);
  out.key("shop").string(s.shop);
  out.key("sender").boolean(s.sender);
  out.key("receiver").boolean(s.receiver);
  out.key("online").boolean(s.online);
  out.key("connections").integer(s.connections);
}

// receivers:[{session,status}] or, with updated_at, [{session,status,updated_at}].
void receivers_member(JsonOut& out, std::string_view name,
                      const std::vector<ReceiverStatus>& receivers, bool with_updated_at) {
  out.key(name).begin_array();
  for (const auto& r : receivers) {
    out.begin_object();
    out.key("session").string(r.session);
    out.key("status").string(to_string(r.status));
    if (with_updated_at) out.key("updated_at").string(r.updated_at);
    out.end_object();
  }
  out.end_array();
}

// The fields every order listing starts with.
void order_head(JsonOut& out, const OrderRecord& order) {
  out.key("order_id").integer(order.order_id);
  out.key("ref").string(order.ref);
  out.key("from").string(order.from);
  out.key("mode").string(to_string(order.mode));
  out.key("created_at").string(order.created_at);
}

void list_entry(JsonOut& out, Box box, const OrderRecord& order) {
  out.begin_object();
  order_head(out, order);
  if (box == Box::inbox) {
    // The inbox record holds only the caller's own delivery.
    if (order.receivers.empty()) {
      out.key("updated_at").string(order.updated_at);
    } else {
      const ReceiverStatus& mine = order.receivers.front();
      out.key("updated_at").string(mine.updated_at.empty() ? order.updated_at : mine.updated_at);
      out.key("status").string(to_string(mine.status));
    }
  } else {
    out.key("updated_at").string(order.updated_at);
    receivers_member(out, "receivers", order.receivers, true);
  }
  order_member(out, order.order_json);
  out.end_object();
}

}  // namespace

std::string error_reply(const RequestId& id, ErrorCode code, std::string_view message) {
  JsonOut out;
  begin_message(out, "error", id);
  out.key("code").string(to_string(code));
  out.key("message").string(message);
  out.end_object();
  return out.take();
}

std::string welcome_reply(const RequestId& id, const WelcomeInfo& info) {
  JsonOut out;
  begin_message(out, "welcome", id);
  out.key("session").string(info.self.session);
  out.key("name").string(info.self.name);
  out.key("shop").string(info.self.shop);
  out.key("sender").boolean(info.self.sender);
  out.key("receiver").boolean(info.self.receiver);
  out.key("protocol").integer(kProtocolVersion);
  out.key("heartbeat_ms").integer(info.heartbeat_ms);
  out.key("max_message_bytes").integer(static_cast<std::int64_t>(info.max_message_bytes));
  directory_member(out, info.sessions);
  out.end_object();
  return out.take();
}

std::string directory_reply(const RequestId& id, const std::vector<SessionEntry>& sessions) {
  JsonOut out;
  begin_message(out, "directory", id);
  directory_member(out, sessions);
  out.end_object();
  return out.take();
}

std::string sent_reply(const RequestId& id, const OrderRecord& order, bool duplicate) {
  JsonOut out;
  begin_message(out, "sent", id);
  out.key("order_id").integer(order.order_id);
  out.key("ref").string(order.ref);
  out.key("duplicate").boolean(duplicate);
  out.key("created_at").string(order.created_at);
  receivers_member(out, "receivers", order.receivers, false);
  out.end_object();
  return out.take();
}

std::string order_push(const OrderRecord& order, Status status) {
  JsonOut out;
  begin_message(out, "order");
  out.key("order_id").integer(order.order_id);
  out.key("ref").string(order.ref);
  out.key("from").string(order.from);
  out.key("from_name").string(order.from_name);
  out.key("mode").string(to_string(order.mode));
  out.key("status").string(to_string(status));
  out.key("created_at").string(order.created_at);
  order_member(out, order.order_json);
  out.end_object();
  return out.take();
}

std::string orders_reply(const RequestId& id, Box box, const std::vector<OrderRecord>& orders) {
  JsonOut out;
  begin_message(out, "orders", id);
  out.key("orders").begin_array();
  for (const auto& order : orders) list_entry(out, box, order);
  out.end_array();
  out.end_object();
  return out.take();
}

std::string delivered_reply(const RequestId& id, std::int64_t order_id, bool duplicate,
                            std::string_view order_json) {
  JsonOut out;
  begin_message(out, "delivered", id);
  out.key("order_id").integer(order_id);
  out.key("duplicate").boolean(duplicate);
  order_member(out, order_json);
  out.end_object();
  return out.take();
}

std::string rejected_reply(const RequestId& id, std::int64_t order_id, bool duplicate) {
  JsonOut out;
  begin_message(out, "rejected", id);
  out.key("order_id").integer(order_id);
  out.key("duplicate").boolean(duplicate);
  out.end_object();
  return out.take();
}

std::string cancelled_reply(const RequestId& id, std::int64_t order_id,
                            const std::vector<ReceiverStatus>& receivers) {
  JsonOut out;
  begin_message(out, "cancelled", id);
  out.key("order_id").integer(order_id);
  receivers_member(out, "receivers", receivers, false);
  out.end_object();
  return out.take();
}

std::string status_event(const StatusChange& change) {
  JsonOut out;
  begin_message(out, "status");
  out.key("order_id").integer(change.order_id);
  out.key("session").string(change.session);
  out.key("status").string(to_string(change.status));
  out.key("at").string(change.at);
  out.key("by").string(change.by);
  out.key("reason");
  optional_string(out, change.reason);
  out.end_object();
  return out.take();
}

std::string presence_event(std::string_view session, bool online) {
  JsonOut out;
  begin_message(out, "presence");
  out.key("session").string(session);
  out.key("online").boolean(online);
  out.end_object();
  return out.take();
}

std::string pong_reply(const RequestId& id) {
  JsonOut out;
  begin_message(out, "pong", id);
  out.end_object();
  return out.take();
}

// ---- ops HTTP API bodies -----------------------------------------------------

std::string http_error_body(std::string_view code, std::string_view message) {
  JsonOut out;
  out.begin_object();
  out.key("error").string(code);
  out.key("message").string(message);
  out.end_object();
  return out.take();
}

std::string sessions_body(const std::vector<SessionEntry>& sessions) {
  JsonOut out;
  out.begin_object();
  out.key("sessions").begin_array();
  for (const auto& s : sessions) {
    out.begin_object();
    admin_session_fields(out, s);
    out.end_object();
  }
  out.end_array();
  out.end_object();
  return out.take();
}

std::string session_body(const SessionEntry& session, const std::optional<std::string>& token) {
  JsonOut out;
  out.begin_object();
  admin_session_fields(out, session);
  if (token) out.key("token").string(*token);
  out.end_object();
  return out.take();
}

std::string order_list_body(const std::vector<OrderRecord>& orders,
                            std::optional<std::int64_t> next_before) {
  JsonOut out;
  out.begin_object();
  out.key("orders").begin_array();
  for (const auto& order : orders) {
    out.begin_object();
    order_head(out, order);
    out.key("updated_at").string(order.updated_at);
    out.key("line_count").integer(order.line_count);
    receivers_member(out, "receivers", order.receivers, false);
    out.end_object();
  }
  out.end_array();
  out.key("next_before");
  if (next_before) {
    out.integer(*next_before);
  } else {
    out.null();
  }
  out.end_object();
  return out.take();
}

std::string order_detail_body(const OrderRecord& order, const std::vector<HistoryEntry>& history) {
  JsonOut out;
  out.begin_object();
  order_head(out, order);
  out.key("updated_at").string(order.updated_at);
  order_member(out, order.order_json);
  receivers_member(out, "deliveries", order.receivers, true);
  out.key("history").begin_array();
  for (const auto& h : history) {
    out.begin_object();
    out.key("at").string(h.at);
    out.key("session").string(h.session);
    out.key("from");
    if (h.from) {
      out.string(to_string(*h.from));
    } else {
      out.null();
    }
    out.key("to").string(to_string(h.to));
    out.key("by").string(h.by);
    out.key("reason");
    optional_string(out, h.reason);
    out.end_object();
  }
  out.end_array();
  out.end_object();
  return out.take();
}

}  // namespace possync::protocol
