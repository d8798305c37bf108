// The write requests of the PostgreSQL backend, as plain functions of the
// writer's transaction. Each runs inside the writer's batch transaction, in
// its own SAVEPOINT: a returned Error (not_found, conflict, …) makes the
// writer roll back to it, so a refused request leaves nothing behind.
// Transitions lock the order's delivery rows first (SELECT … FOR UPDATE),
// so two nodes deciding about one order take turns. libpqxx failures throw.
// Writer thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "storage/store.hpp"

namespace possync::storage::postgres {

// What a write request works with.
struct WriteContext {
  pqxx::transaction_base& tx;
  std::optional<std::string> node;        // stored in history.node (this node's id once clustered)
  std::vector<std::int64_t> history_ids;  // history rows the request wrote (for pg_notify)
};

namespace writes {

Result<SendOutcome> send(WriteContext& ctx, const SendRequest& request);
Result<TransitionOutcome> ack(WriteContext& ctx, const std::string& receiver, std::int64_t order_id);
Result<TransitionOutcome> deliver(WriteContext& ctx, const std::string& receiver, std::int64_t order_id);
Result<TransitionOutcome> reject(WriteContext& ctx, const std::string& receiver, std::int64_t order_id,
                                 const std::optional<std::string>& reason);
Result<TransitionOutcome> cancel(WriteContext& ctx, const std::string& sender, std::int64_t order_id);

Result<PutSessionOutcome> put_session(WriteContext& ctx, const SessionUpdate& update);
Result<std::string> rotate_token(WriteContext& ctx, const std::string& session);
Result<Done> delete_session(WriteContext& ctx, const std::string& session);

}  // namespace writes
}  // namespace possync::storage::postgres
