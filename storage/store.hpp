// The Store: the single source of truth for sessions, sync orders,
// deliveries and history. A narrow, asynchronous interface; backends live in
// storage/sqlite (embedded default) and storage/postgres, over what both
// share in storage/engine (the write rules, the job queues, the write
// methods).
//
// Threading contract (every backend):
//  * Every method may be called from any thread and never blocks the caller
//    on I/O: it only enqueues the request.
//  * Write methods (send … delete_session) go to the backend's writer, which
//    commits many queued requests in one transaction (group commit). The
//    callback runs on the writer thread *after* the commit returned — so a
//    success means durable — or after the batch failed (then `unavailable`,
//    and nothing of the request is stored).
//  * Read methods run on the backend's reader thread(s); the callback runs
//    there. A read issued after a write's callback sees that write.
//  * Callbacks must be quick and must not call back into the store
//    synchronously in a way that waits; post real work elsewhere.
//  * When a queue is full the callback is invoked at once, on the calling
//    thread, with `unavailable` (bounded queues; the caller retries).
//  * After close() returns, no callback runs any more.
//
// Error codes used: not_found, forbidden, conflict, unauthorized,
// bad_request, unavailable (store cannot write now; nothing stored),
// internal. Messages are safe to show to the client.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/types.hpp"

namespace possync::storage {

using protocol::Done;
using protocol::Error;
using protocol::ErrorCode;
using protocol::HistoryEntry;
using protocol::Mode;
using protocol::OrderRecord;
using protocol::ReceiverStatus;
using protocol::Result;
using protocol::SessionEntry;
using protocol::Status;
using protocol::StatusChange;

template <class T>
using Callback = std::function<void(Result<T>)>;

struct SendRequest {
  std::string sender;
  std::string ref;
  std::vector<std::string> to;
  Mode mode = Mode::copy;
  std::string order_json;
  int line_count = 0;
};
struct SendOutcome {
  OrderRecord order;       // receivers with their current statuses
  bool duplicate = false;  // true: (sender, ref) existed; nothing was written
};

// The result of ack / deliver / reject / cancel.
struct TransitionOutcome {
  std::int64_t order_id = 0;
  bool duplicate = false;                  // deliver/reject repeated by the same session
  std::string order_json;                  // deliver: the full order
  std::vector<ReceiverStatus> receivers;   // cancel: every receiver with its status after
  std::vector<StatusChange> changes;       // what this request changed (empty for no-ops)
};

struct ListQuery {
  std::string session;
  protocol::Box box = protocol::Box::inbox;
  std::vector<Status> statuses;  // empty: the box's default
  int limit = 100;
  std::optional<std::int64_t> before;
};

struct OrderFilter {
  std::optional<std::string> shop, sender, receiver, ref;
  std::vector<Status> statuses;  // with receiver: that receiver's delivery
  int limit = 100;
  std::optional<std::int64_t> before;
};
struct OrderPage {
  std::vector<OrderRecord> orders;           // newest first, receivers complete
  std::optional<std::int64_t> next_before;   // nullopt on the last page
};
struct OrderDetail {
  OrderRecord order;
  std::vector<HistoryEntry> history;  // oldest first
};

// PUT /api/sessions/{id}: fields left empty keep their value (update) or
// take the defaults (create: name = id, shop = main, roles false).
struct SessionUpdate {
  std::string session;
  std::optional<std::string> name, shop;
  std::optional<bool> sender, receiver;
};
struct PutSessionOutcome {
  SessionEntry session;
  bool created = false;
  std::optional<std::string> token;  // the new secret, only when created
  bool shop_changed = false;
};

struct StoreStats {
  std::size_t write_queue_depth = 0;
  std::size_t read_queue_depth = 0;
  bool writable = true;
  // Group commit: transactions committed, the write requests they carried
  // (refused ones included), and batches that failed as a whole (each of
  // their requests answered `unavailable`).
  std::uint64_t batches_committed = 0;
  std::uint64_t writes_committed = 0;
  std::uint64_t batches_failed = 0;
  // Checks of an idle writer whose last batch failed: has the cause gone?
  // (SQLite: a commit that writes, and room on the disk; PostgreSQL: the
  // connection answers.) `writable` turns true again only after one passes.
  std::uint64_t write_probes = 0;
};

// ---- cluster --------------------------------------------------------------
// A backend shared by several broker nodes (PostgreSQL) tells each node what
// the others committed, so it can push to its own connections. SQLite serves
// one node: it never emits events.

// One session's connection count on one node (0: none left there).
struct NodePresence {
  std::string node;
  std::string session;
  std::string shop;
  int connections = 0;
};

struct ClusterEvent {
  enum class Kind { order, changes, presence, revoke };
  Kind kind = Kind::order;
  OrderRecord order;                  // order: a new order, receivers all `sent`
  std::vector<StatusChange> changes;  // changes: delivery transitions, commit order
  NodePresence presence;              // presence: a remote node's count changed
                                      // (also emitted with 0 for each session of a
                                      // node that stopped heartbeating)
  // revoke: another node rotated, deleted or moved a session; this node closes
  // that session's connections with `close_code` (4401, or 1012 when moved).
  std::string revoked_session;
  int close_code = 4401;
};

struct ClusterOptions {
  std::string node_id;
  int heartbeat_ms = 1000;      // how often this node proves it is alive
  int node_timeout_ms = 10000;  // a node silent this long is dead: its sessions go offline
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- reads --------------------------------------------------------------
  // The session when the token matches its stored hash (constant-time
  // compare); `unauthorized` otherwise (unknown session included).
  virtual void authenticate(std::string session, std::string token, Callback<SessionEntry> cb) = 0;
  // Every configured session of a shop, ordered by id.
  virtual void directory(std::string shop, Callback<std::vector<SessionEntry>> cb) = 0;
  // Every session (of one shop when given), ordered by id.
  virtual void list_sessions(std::optional<std::string> shop, Callback<std::vector<SessionEntry>> cb) = 0;
  // Orders with a delivery to `receiver` still `sent` and an order_id above
  // `after_id`, oldest first, at most `limit`; each record's receivers holds
  // only that delivery. The replay after welcome, one page at a time.
  virtual void pending(std::string receiver, std::int64_t after_id, int limit,
                       Callback<std::vector<OrderRecord>> cb) = 0;
  // The `list` request: inbox (receivers = the caller's delivery only) or
  // outbox (receivers complete), newest first.
  virtual void list(ListQuery query, Callback<std::vector<OrderRecord>> cb) = 0;
  // The ops order list and detail; `not_found` for an unknown id.
  virtual void list_orders(OrderFilter filter, Callback<OrderPage> cb) = 0;
  virtual void get_order(std::int64_t order_id, Callback<OrderDetail> cb) = 0;

  // ---- writes (group commit) ----------------------------------------------
  // Idempotent per (sender, ref): a repeat returns the original with
  // duplicate=true and writes nothing, whatever its `to` or payload.
  // Otherwise: `forbidden` without the sender role; `not_found` naming the
  // first `to` entry that is unknown, not a receiver, or of another shop
  // (message "to[i]: unknown receiver session X"); `bad_request` when a
  // receiver is the sender itself. Writes the order, one `sent` delivery per
  // receiver and one creation history entry per delivery.
  virtual void send(SendRequest request, Callback<SendOutcome> cb) = 0;
  // sent → received; a no-op (no changes) when past `sent`. `forbidden`
  // without the receiver role, `not_found` when not addressed to `receiver`.
  virtual void ack(std::string receiver, std::int64_t order_id, Callback<TransitionOutcome> cb) = 0;
  // sent|received → delivered; in claim mode every other open delivery of the
  // order → taken (by = receiver), atomically in the same transaction.
  // Repeat by the same session: duplicate=true. `conflict` ("order N is
  // rejected|cancelled|taken") otherwise once final.
  virtual void deliver(std::string receiver, std::int64_t order_id, Callback<TransitionOutcome> cb) = 0;
  // sent|received → rejected with reason. Repeat: duplicate=true (first
  // reason kept). `conflict` when final otherwise.
  virtual void reject(std::string receiver, std::int64_t order_id, std::optional<std::string> reason,
                      Callback<TransitionOutcome> cb) = 0;
  // Every non-final delivery → cancelled. `forbidden` when `sender` is a
  // receiver of the order, `not_found` when neither; `conflict` when every
  // delivery is already final.
  virtual void cancel(std::string sender, std::int64_t order_id, Callback<TransitionOutcome> cb) = 0;

  // Creates (with a fresh 256-bit token, stored only as its SHA-256) or
  // updates a session.
  virtual void put_session(SessionUpdate update, Callback<PutSessionOutcome> cb) = 0;
  // A fresh token for an existing session (`not_found` otherwise).
  virtual void rotate_token(std::string session, Callback<std::string> cb) = 0;
  // Removes the session; its orders and history stay. `not_found` if absent.
  virtual void delete_session(std::string session, Callback<Done> cb) = 0;

  // ---- cluster (multi-node backends; no-ops for single-node ones) --------------
  // Starts following other nodes' commits. `handler` runs on a store thread,
  // in commit order, once per event committed by ANOTHER node (this node's
  // own commits already reach the router through the write callbacks).
  // After a gap in the notification stream (listener reconnect), the
  // backend re-reads what it may have missed and emits it; the broker
  // de-duplicates by order_id and by (order_id, session, status), so a
  // repeat is harmless, a loss is not. Call once, before serving.
  virtual void start_cluster(ClusterOptions options, std::function<void(const ClusterEvent&)> handler) {
    (void)options;
    (void)handler;
  }
  // This node now holds `connections` connections of `session` (0: none).
  // Fire-and-forget; other nodes receive it as a presence event.
  virtual void set_presence(std::string session, std::string shop, int connections) {
    (void)session;
    (void)shop;
    (void)connections;
  }
  // Tells the other nodes to close a session's connections (token rotated or
  // session deleted: 4401; moved to another shop: 1012). Fire-and-forget.
  virtual void revoke_session(std::string session, int close_code) {
    (void)session;
    (void)close_code;
  }
  // Sessions with connections on other live nodes (for `online` flags).
  virtual void remote_presence(Callback<std::vector<NodePresence>> cb) { cb(std::vector<NodePresence>{}); }
  virtual bool clustered() const { return false; }

  // ---- lifecycle ----------------------------------------------------------
  virtual StoreStats stats() const = 0;
  // Stops accepting requests, finishes (commits and calls back) everything
  // already queued, then stops the threads. Idempotent; blocks the caller.
  virtual void close() = 0;
};

struct StoreOptions {
  std::size_t max_write_queue = 10000;
  std::size_t max_read_queue = 10000;
  std::size_t max_batch = 512;   // requests per transaction
  int reader_threads = 2;
  // SQLite only. The WAL is copied into the database file by a checkpointer
  // thread of its own once this many pages were committed since its last
  // checkpoint (SQLite's own default would do it inside the committing
  // write, in the writer's batch latency), and by the writer itself only
  // when the WAL has grown to wal_max_pages (a checkpointer that cannot keep
  // up): the WAL file stays bounded.
  int wal_checkpoint_pages = 1000;
  int wal_max_pages = 16384;
};

// Opens the store named by a URL ("sqlite:PATH"), running migrations. On
// failure returns nullptr and sets `error` to one clear line.
std::unique_ptr<Store> open_store(const std::string& url, const StoreOptions& options, std::string& error);
// The store URL fit for logs and messages: a password in it shown as ***.
std::string redact_store_url(const std::string& url);

}  // namespace possync::storage
