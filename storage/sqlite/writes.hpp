// The SQLite rows behind the write rules (storage/engine/rules.hpp): each
// operation runs on the writer's connection, inside its open transaction,
// and throws SqliteError on failure. Writer thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/engine/rules.hpp"
#include "storage/sqlite/db.hpp"

namespace possync::storage::sqlite {

class SqliteRows final : public engine::RowOps {
 public:
  explicit SqliteRows(Db& db) : db_(db) {}

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
  void insert_history(std::int64_t order_id, const std::string& receiver, std::optional<Status> from, Status to,
                      const std::string& by, const std::optional<std::string>& reason, const std::string& at);

  Db& db_;
};

}  // namespace possync::storage::sqlite
