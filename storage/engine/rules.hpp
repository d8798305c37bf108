// The rules of every write request, written once for both backends: the
// checks of a send (roles, shops, receivers), the idempotence of a repeated
// (sender, ref), the transitions of ack, deliver, reject and cancel (claim
// mode included), the history entry of each change, and the session writes.
// They work on RowOps (the engine's BatchRows, batch.hpp); the functions
// here decide what to read and write, and what to answer.
//
// Contract of every function: it reads before its first write, and returns
// an Error (forbidden, not_found, conflict, bad_request) only before that
// first write, so a refused request leaves nothing behind without a
// savepoint (the engine counts on it). RowOps failures throw and are the
// engine's to handle. Writer thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/store.hpp"

namespace possync::storage::engine {

// The rows the rules work on: one batch's view of the database
// (batch.hpp's BatchRows), its writes recorded for the backend.
class RowOps {
 public:
  virtual ~RowOps() = default;

  // ---- the backend's own refusals --------------------------------------------
  // Checked before any rule reads or writes (PostgreSQL: text cannot hold
  // U+0000, and must not be looked up truncated); nullopt: accepted.
  virtual std::optional<Error> refuse_send(const SendRequest& request) {
    (void)request;
    return std::nullopt;
  }
  virtual std::optional<Error> refuse_reason(const std::optional<std::string>& reason) {
    (void)reason;
    return std::nullopt;
  }
  // After the session and shop ids were found valid.
  virtual std::optional<Error> refuse_session_update(const SessionUpdate& update) {
    (void)update;
    return std::nullopt;
  }

  // ---- reads ---------------------------------------------------------------
  // The sessions among `ids` that exist, by id.
  virtual std::unordered_map<std::string, SessionEntry> sessions(const std::vector<std::string>& ids) = 0;
  virtual std::optional<SessionEntry> session(const std::string& id) = 0;
  virtual std::optional<std::int64_t> order_by_ref(const std::string& sender, const std::string& ref) = 0;
  // The order with every receiver, in `to` order (as stored, with the
  // batch's changes so far). Where several writers share the database, the
  // order's deliveries are locked until the transaction ends, before any
  // decision is made about them. nullptr: no such order. The record is the
  // batch's own: valid while the batch is decided, and move_delivery and
  // touch_order change it in place (no copy of the order's JSON per
  // transition).
  virtual const OrderRecord* order(std::int64_t order_id) = 0;

  // ---- writes --------------------------------------------------------------
  // The order's row (order_id not set yet); its id, or nullopt when another
  // writer stored the same (sender, ref) since order_by_ref looked.
  virtual std::optional<std::int64_t> insert_order(const OrderRecord& order) = 0;
  // One `sent` delivery per receiver, in `to` order, each with its creation
  // history entry (by the sender).
  virtual void insert_deliveries(std::int64_t order_id, const std::vector<std::string>& to, const std::string& by,
                                 const std::string& at) = 0;
  // One delivery from → to, and its history entry. Throws when the delivery
  // is not in `from` (something changed it under the writer).
  virtual void move_delivery(std::int64_t order_id, const std::string& receiver, Status from, Status to,
                             const std::string& by, const std::optional<std::string>& reason,
                             const std::string& at) = 0;
  // The order's updated_at, once per request that changed a delivery.
  virtual void touch_order(std::int64_t order_id, const std::string& at) = 0;

  // false when the session exists after all (another writer created it).
  virtual bool insert_session(const SessionEntry& entry, const std::string& token_hash, const std::string& at) = 0;
  virtual void update_session(const SessionEntry& entry, const std::string& at) = 0;
  // false when there is no such session.
  virtual bool update_token(const std::string& session, const std::string& token_hash, const std::string& at) = 0;
  virtual bool delete_session(const std::string& session) = 0;
};

Result<SendOutcome> send(RowOps& ops, const SendRequest& request);
Result<TransitionOutcome> ack(RowOps& ops, const std::string& receiver, std::int64_t order_id);
Result<TransitionOutcome> deliver(RowOps& ops, const std::string& receiver, std::int64_t order_id);
Result<TransitionOutcome> reject(RowOps& ops, const std::string& receiver, std::int64_t order_id,
                                 const std::optional<std::string>& reason);
Result<TransitionOutcome> cancel(RowOps& ops, const std::string& sender, std::int64_t order_id);

Result<PutSessionOutcome> put_session(RowOps& ops, const SessionUpdate& update);
Result<std::string> rotate_token(RowOps& ops, const std::string& session);
Result<Done> delete_session(RowOps& ops, const std::string& session);

}  // namespace possync::storage::engine
