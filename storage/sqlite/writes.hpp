// The SQLite rows of the order engine (storage/engine/batch.hpp): the
// writer's transaction, the batch's reads and its writes, on the writer's
// connection. SQLite runs in this process, so a "set-based" operation is a
// loop over one prepared statement: no round trips to save. Failures throw
// SqliteError. Writer thread only.
#pragma once

#include <cstdint>
#include <vector>

#include "storage/engine/batch.hpp"
#include "storage/sqlite/db.hpp"

namespace possync::storage::sqlite {

class SqliteBatch final : public engine::WriteBackend {
 public:
  explicit SqliteBatch(Db& db) : db_(db) {}

  // BEGIN IMMEDIATE: the write lock for the whole batch (one writer).
  void begin() override;
  void commit() override;
  void rollback() noexcept override;

  void load(const engine::Wants& wants, engine::Found& found) override;
  // After the largest id any order ever had (AUTOINCREMENT's sqlite_sequence
  // included), and after those this transaction handed out already.
  std::vector<std::int64_t> new_order_ids(std::size_t count) override;
  void write(const engine::Changes& changes) override;

  // Transient errors (busy, full, I/O) and those after which SQLite rolled
  // the whole transaction back concern the batch; the rest its rows.
  engine::Failure classify_current() const noexcept override;

 private:
  Db& db_;
  std::int64_t next_order_id_ = 0;  // 0: not read in this transaction yet
};

}  // namespace possync::storage::sqlite
