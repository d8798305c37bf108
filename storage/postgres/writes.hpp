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
#include <unordered_map>
#include <vector>

#include <pqxx/pqxx>

#include "storage/engine/rules.hpp"
#include "storage/store.hpp"

namespace possync::storage::postgres {

// What a write request works with.
struct WriteContext {
  pqxx::transaction_base& tx;
  std::optional<std::string> node;        // stored in history.node (this node's id once clustered)
  std::vector<std::int64_t> history_ids;  // history rows the request wrote (for pg_notify)
};

// The PostgreSQL rows behind the write rules (storage/engine/rules.hpp), on
// the writer's transaction. order_state() locks the order's deliveries
// (SELECT … FOR UPDATE), so two nodes deciding about one order take turns;
// inserts that another node may have made first (ON CONFLICT) say so.
// libpqxx failures throw.
class PgRows final : public engine::RowOps {
 public:
  explicit PgRows(WriteContext& ctx) : ctx_(ctx) {}

  std::optional<Error> refuse_send(const SendRequest& request) override;
  std::optional<Error> refuse_reason(const std::optional<std::string>& reason) override;
  std::optional<Error> refuse_session_update(const SessionUpdate& update) override;
  std::unordered_map<std::string, SessionEntry> sessions(const std::vector<std::string>& ids) override;
  std::optional<SessionEntry> session(const std::string& id) override;
  std::optional<std::int64_t> order_by_ref(const std::string& sender, const std::string& ref) override;
  std::optional<OrderRecord> order(std::int64_t order_id) override;
  std::optional<engine::OrderState> order_state(std::int64_t order_id) override;
  std::string order_json(std::int64_t order_id) override;
  std::vector<ReceiverStatus> receivers(std::int64_t order_id) override;
  std::optional<std::int64_t> insert_order(const OrderRecord& order) override;
  void insert_deliveries(std::int64_t order_id, const std::vector<std::string>& to, const std::string& by,
                         const std::string& at) override;
  void move_delivery(std::int64_t order_id, const std::string& receiver, Status from, Status to,
                     const std::string& by, const std::optional<std::string>& reason, const std::string& at) override;
  void touch_order(std::int64_t order_id, const std::string& at) override;
  bool insert_session(const SessionEntry& entry, const std::string& token_hash, const std::string& at) override;
  void update_session(const SessionEntry& entry, const std::string& at) override;
  bool update_token(const std::string& session, const std::string& token_hash, const std::string& at) override;
  bool delete_session(const std::string& session) override;

 private:
  WriteContext& ctx_;
};
}  // namespace possync::storage::postgres
