// Broker → client messages (PROTOCOL.md §4) and the ops HTTP API bodies
// (§6), serialized to compact JSON text. Raw order JSON is embedded
// verbatim. Every function returns one complete JSON object.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/requests.hpp"
#include "protocol/types.hpp"

namespace possync::protocol {

// {"type":"error","id":…,"code":…,"message":…}; id omitted when empty.
std::string error_reply(const RequestId& id, ErrorCode code, std::string_view message);

struct WelcomeInfo {
  SessionEntry self;
  int heartbeat_ms = 15000;
  std::size_t max_message_bytes = 262144;
  std::vector<SessionEntry> sessions;  // the caller's shop, caller included
};
std::string welcome_reply(const RequestId& id, const WelcomeInfo& info);
std::string directory_reply(const RequestId& id, const std::vector<SessionEntry>& sessions);

// {"type":"sent",…,"receivers":[{"session","status"}]}
std::string sent_reply(const RequestId& id, const OrderRecord& order, bool duplicate);
// {"type":"order",…} for one receiver; `status` is that receiver's delivery status.
std::string order_push(const OrderRecord& order, Status status);
// {"type":"orders","orders":[…]}. Inbox entries carry `status` (and
// `updated_at`) of receivers[0] — the caller's delivery; outbox entries carry
// `receivers:[{session,status,updated_at}]`.
std::string orders_reply(const RequestId& id, Box box, const std::vector<OrderRecord>& orders);
std::string delivered_reply(const RequestId& id, std::int64_t order_id, bool duplicate,
                            std::string_view order_json);
std::string rejected_reply(const RequestId& id, std::int64_t order_id, bool duplicate);
std::string cancelled_reply(const RequestId& id, std::int64_t order_id,
                            const std::vector<ReceiverStatus>& receivers);
std::string status_event(const StatusChange& change);
std::string presence_event(std::string_view session, bool online);
std::string pong_reply(const RequestId& id);

// ---- ops HTTP API bodies -------------------------------------------------
std::string http_error_body(std::string_view code, std::string_view message);
// {"sessions":[{"session","name","shop","sender","receiver","online","connections"}]}
std::string sessions_body(const std::vector<SessionEntry>& sessions);
// One session; with "token" only when token is given (create and rotate replies).
std::string session_body(const SessionEntry& session, const std::optional<std::string>& token);
// {"orders":[{order_id,ref,from,mode,created_at,updated_at,line_count,receivers:[{session,status}]}],
//  "next_before":int|null}
std::string order_list_body(const std::vector<OrderRecord>& orders,
                            std::optional<std::int64_t> next_before);
// {order_id,ref,from,mode,created_at,updated_at,order,deliveries:[{session,status,updated_at}],
//  history:[{at,session,from,to,by,reason}]}
std::string order_detail_body(const OrderRecord& order, const std::vector<HistoryEntry>& history);

}  // namespace possync::protocol
