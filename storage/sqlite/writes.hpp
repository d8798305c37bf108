// The write requests of the SQLite backend, as plain functions of the writer's
// connection. Each runs inside the writer's transaction, in its own SAVEPOINT:
// a returned Error (not_found, conflict, …) makes the writer roll back to it,
// so a refused request leaves nothing behind. SQLite failures throw
// SqliteError. Writer thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "storage/sqlite/db.hpp"
#include "storage/store.hpp"

namespace possync::storage::sqlite::writes {

Result<SendOutcome> send(Db& db, const SendRequest& request);
Result<TransitionOutcome> ack(Db& db, const std::string& receiver, std::int64_t order_id);
Result<TransitionOutcome> deliver(Db& db, const std::string& receiver, std::int64_t order_id);
Result<TransitionOutcome> reject(Db& db, const std::string& receiver, std::int64_t order_id,
                                 const std::optional<std::string>& reason);
Result<TransitionOutcome> cancel(Db& db, const std::string& sender, std::int64_t order_id);

Result<PutSessionOutcome> put_session(Db& db, const SessionUpdate& update);
Result<std::string> rotate_token(Db& db, const std::string& session);
Result<Done> delete_session(Db& db, const std::string& session);

}  // namespace possync::storage::sqlite::writes
