// The PostgreSQL rows of the order engine (storage/engine/batch.hpp): a
// batch of any size costs a fixed handful of statements, each a set-based
// one over array parameters (unnest), never one per request:
//   load:  sessions, refs, and the orders with their deliveries, locked
//          (FOR UPDATE, in order_id order: two nodes deciding about one
//          order take turns, and never deadlock over a batch's orders);
//   ids:   the new orders' ids from the identity's sequence;
//   write: one statement (data-modifying CTEs): the orders, their
//          deliveries, the moves of stored deliveries, the stored orders'
//          updated_at and the history rows (RETURNING id); then the
//          pg_notify of the history ids for the cluster feed, in the same
//          transaction (delivered only if, and when, it commits).
// A ref or session that another node stored (or removed) since load throws
// engine::Overtaken: the engine runs the batch again. libpqxx failures
// throw. Writer thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "storage/engine/batch.hpp"

namespace possync::storage::postgres {

class PgBatch final : public engine::WriteBackend {
 public:
  // Sets up a connection for the writer. Its statements take array
  // parameters (unnest, ANY), whose custom plans PostgreSQL would make again
  // at every execution (1-4 ms of planning each, more than running them, on
  // the 2-core test machine): the writer uses the generic plan, which is
  // the index lookup for every one of them (EXPLAIN in
  // bench/results/2026-12-08-order-engine.md).
  static void set_up(pqxx::connection_base& conn);

  struct Hooks {
    std::function<std::optional<std::string>()> node;  // stored in history.node (this node's id once clustered)
    std::function<void(const std::string&)> lost;       // the connection broke (dropped by then)
    std::function<bool()> reconnect;                    // a fresh connection in `conn`
  };
  // `conn` is the writer's connection, which `hooks.reconnect` replaces.
  PgBatch(std::unique_ptr<pqxx::connection>& conn, std::string channel, Hooks hooks)
      : conn_(conn), channel_(std::move(channel)), hooks_(std::move(hooks)) {}

  // Text cannot hold U+0000 here, and must not be looked up truncated.
  std::optional<Error> refuse_send(const SendRequest& request) override;
  std::optional<Error> refuse_reason(const std::optional<std::string>& reason) override;
  std::optional<Error> refuse_session_update(const SessionUpdate& update) override;

  void begin() override;
  void commit() override;
  void rollback() noexcept override;

  void load(const engine::Wants& wants, engine::Found& found) override;
  std::vector<std::int64_t> new_order_ids(std::size_t count) override;
  void write(const engine::Changes& changes) override;

  engine::Failure classify_current() const noexcept override;
  void connection_lost(const std::string& reason) override;
  bool reconnect() override;

 private:
  pqxx::work& tx();

  std::unique_ptr<pqxx::connection>& conn_;
  const std::string channel_;
  Hooks hooks_;
  std::optional<pqxx::work> tx_;
  std::optional<std::string> node_;  // for this transaction
};

}  // namespace possync::storage::postgres
