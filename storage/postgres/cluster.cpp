#include "storage/postgres/cluster.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <unordered_map>

#include "storage/postgres/connection.hpp"
#include "storage/postgres/records.hpp"
#include "storage/postgres/statements.hpp"
#include "storage/engine/thread_name.hpp"

namespace possync::storage::postgres {

namespace {

using Clock = std::chrono::steady_clock;

// Recovery reads history in pages of this many rows.
constexpr int kRecoveryPage = 5000;

void log_line(const std::string& text) { std::fprintf(stderr, "possync storage: %s\n", text.c_str()); }

}  // namespace

void RecentIds::insert(std::int64_t id) {
  if (!set_.insert(id).second) return;
  order_.push_back(id);
  if (order_.size() > capacity_) {
    set_.erase(order_.front());
    order_.pop_front();
  }
}

// Collects the payloads of the store's channel during get_notifs().
class Cluster::Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, const std::string& channel, std::vector<std::string>& sink)
      : pqxx::notification_receiver(conn, channel), sink_(sink) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override { sink_.push_back(payload); }

 private:
  std::vector<std::string>& sink_;
};

struct Cluster::HistoryRow {
  std::int64_t id = 0;
  std::int64_t order_id = 0;
  std::string receiver;
  std::optional<protocol::Status> from;
  protocol::Status to = protocol::Status::sent;
  std::string by;
  std::optional<std::string> reason;
  std::string at;
  std::string shop;
  std::string sender;
};

Cluster::Cluster(std::string url, std::string channel, ClusterOptions options,
                 std::function<void(const ClusterEvent&)> handler)
    : url_(std::move(url)),
      channel_(std::move(channel)),
      options_(std::move(options)),
      handler_(std::move(handler)),
      started_unix_ms_(protocol::now_unix_ms()) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  std::future<void> first_attempt = first_attempt_done_.get_future();
  thread_ = std::thread([this] { run(); });
  first_attempt.wait_for(std::chrono::milliseconds(kFirstJoinWaitMs));
}

Cluster::~Cluster() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Cluster::set_presence(std::string session, std::string shop, int connections) {
  {
    std::lock_guard lock(mutex_);
    NodePresence presence{options_.node_id, session, std::move(shop), std::max(0, connections)};
    if (presence.connections > 0) {
      desired_[session] = presence;
    } else {
      desired_.erase(session);
    }
    dirty_[session] = std::move(presence);
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
}

void Cluster::revoke_session(std::string session, int close_code) {
  {
    std::lock_guard lock(mutex_);
    revocations_.emplace_back(std::move(session), close_code);
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
}

void Cluster::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

// ---------------------------------------------------------------------------
// The thread

void Cluster::run() {
  engine::name_this_thread("pg-listener");
  Backoff backoff;
  auto next_heartbeat = Clock::now();
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    if (!conn_) {
      const bool first = !joined_once_ && !first_attempt_failed_;
      const bool joined = connect_and_join();
      if (first) {
        first_attempt_failed_ = !joined;
        first_attempt_done_.set_value();
      }
      if (!joined) {
        wait_for_work(static_cast<int>(backoff.next().count()));
        continue;
      }
      backoff.reset();
      next_heartbeat = Clock::now() + std::chrono::milliseconds(options_.heartbeat_ms);
    }
    try {
      const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(next_heartbeat - Clock::now());
      wait_for_work(static_cast<int>(std::max<std::int64_t>(0, until.count())));
      sync_presence();
      send_revocations();
      if (Clock::now() >= next_heartbeat) {
        heartbeat();
        reap();
        next_heartbeat = Clock::now() + std::chrono::milliseconds(std::max(1, options_.heartbeat_ms));
      }
      // Last, and until none is left: libpq also buffers notifications that
      // arrive during the queries above (and during the fetches), which
      // poll() would not report again.
      while (process_notifications()) {
      }
    } catch (...) {
      const std::string reason = current_reason();
      if (classify_current() == Failure::connection) {
        log_line("cluster listener lost its connection (" + reason + "); reconnecting");
      } else {
        log_line("cluster listener: " + reason + "; reconnecting");
      }
      drop_connection();
      wait_for_work(static_cast<int>(backoff.next().count()));
    }
  }
  leave();
  drop_connection();
}

bool Cluster::connect_and_join() {
  try {
    conn_ = connect(url_);
    {
      // Named, so that an operator (or a test) can tell the listener apart
      // in pg_stat_activity.
      pqxx::nontransaction tx(*conn_);
      tx.exec_params("SELECT set_config('application_name', $1, false)",
                     ("possync cluster " + options_.node_id).substr(0, 63));
    }
    receiver_ = std::make_unique<Receiver>(*conn_, channel_, payloads_);  // LISTEN
    if (!joined_once_) {
      // A restart under the same node id: what the previous process held is
      // gone. Delete it (telling the others) and announce this node.
      pqxx::work tx(*conn_);
      std::vector<feed::Record> gone;
      for (const auto& row : tx.exec_prepared(stmt::kDeletePresenceOfNode, options_.node_id)) {
        gone.push_back(feed::presence_record(
            {options_.node_id, row[0].as<std::string>(), row[1].as<std::string>(), 0}));
      }
      notify(tx, gone);
      const std::string joined_at = tx.exec_prepared1(stmt::kJoinNode, options_.node_id)[0].as<std::string>();
      // What the other nodes hold now; later changes arrive as events.
      remote_.clear();
      for (const auto& row : tx.exec_prepared(stmt::kRemotePresence, options_.node_id, options_.node_timeout_ms)) {
        NodePresence p{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                       row[3].as<int>()};
        remote_[{p.node, p.session}] = p;
      }
      tx.commit();
      if (first_attempt_failed_) {
        // start_cluster() returned before this LISTEN: what other nodes
        // committed since then (this node's clock; the margin covers skew).
        watermark_ = protocol::format_time_ms(started_unix_ms_);
        recover();
      }
      watermark_ = joined_at;
      joined_once_ = true;
    } else {
      log_line("cluster listener reconnected; re-reading what it may have missed");
      recover();
      heartbeat();
    }
    // Whatever set_presence() said before (or while away) is written now.
    std::lock_guard lock(mutex_);
    for (const auto& [session, presence] : desired_) dirty_.try_emplace(session, presence);
    return true;
  } catch (...) {
    drop_connection();
    return false;
  }
}

void Cluster::drop_connection() {
  receiver_.reset();  // before its connection
  conn_.reset();
  payloads_.clear();  // the recovery after the reconnect re-reads them
}

void Cluster::wait_for_work(int timeout_ms) {
  pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {conn_ ? conn_->sock() : -1, POLLIN, 0}};
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || !dirty_.empty() || (conn_ && !revocations_.empty())) timeout_ms = 0;
  }
  ::poll(fds, 2, timeout_ms);
  if (fds[0].revents & POLLIN) {
    std::uint64_t count = 0;
    [[maybe_unused]] auto read = ::read(wake_fd_, &count, sizeof count);
  }
}

void Cluster::notify(pqxx::transaction_base& tx, const std::vector<feed::Record>& records) {
  for (const std::string& payload : feed::encode(records)) tx.exec_prepared(stmt::kNotify, channel_, payload);
}

void Cluster::emit(const ClusterEvent& event) noexcept {
  if (!handler_) return;
  try {
    handler_(event);
  } catch (...) {
    log_line("a cluster event handler threw an exception; ignored");
  }
}

// ---------------------------------------------------------------------------
// Notifications → events

bool Cluster::process_notifications() {
  conn_->get_notifs();  // throws when the connection is gone
  if (payloads_.empty()) return false;
  std::vector<feed::Record> records;
  for (const std::string& payload : payloads_) {
    auto decoded = feed::decode(payload);
    if (!decoded) {
      log_line("cluster listener: ignored a malformed notification");
      continue;
    }
    for (auto& record : *decoded) {
      // This node's own commits reached its router through the callbacks.
      if (record.node == options_.node_id) continue;
      records.push_back(std::move(record));
    }
  }
  payloads_.clear();
  handle_records(records);
  return true;
}

void Cluster::handle_records(const std::vector<feed::Record>& records) {
  std::vector<std::int64_t> wanted;
  for (const auto& record : records) {
    if (record.kind != feed::Record::Kind::history) continue;
    for (std::int64_t id : record.ids) {
      if (!emitted_history_.contains(id)) wanted.push_back(id);
    }
  }
  std::unordered_map<std::int64_t, HistoryRow> fetched;
  std::unique_ptr<pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>> tx;
  if (!wanted.empty()) {
    tx = std::make_unique<pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>>(*conn_);
    for (const auto& row : tx->exec_prepared(stmt::kHistoryByIds, id_array(wanted))) {
      HistoryRow h{row[0].as<std::int64_t>(), row[1].as<std::int64_t>(), row[2].as<std::string>(),
                   optional_status_field(row[3]), status_field(row[4]), row[5].as<std::string>(),
                   optional_text(row[6]), row[7].as<std::string>(), row[8].as<std::string>(),
                   row[9].as<std::string>()};
      fetched.emplace(h.id, std::move(h));
    }
  }
  // Emit in the order the notifications came (commit order): runs of
  // history rows between presence records.
  std::vector<HistoryRow> run;
  const auto flush = [&] {
    if (!run.empty() && tx) emit_history(*tx, run);
    run.clear();
  };
  for (const auto& record : records) {
    if (record.kind == feed::Record::Kind::presence) {
      flush();
      apply_presence(record.presence);
      continue;
    }
    if (record.kind == feed::Record::Kind::revoke) {
      flush();
      emit_revocation(record);
      continue;
    }
    for (std::int64_t id : record.ids) {
      auto it = fetched.find(id);
      if (it != fetched.end()) run.push_back(it->second);
    }
  }
  flush();
  if (tx) tx->commit();
}

void Cluster::emit_history(pqxx::transaction_base& tx, const std::vector<HistoryRow>& rows) {
  // The orders whose creation rows are here and that were not announced yet.
  std::vector<std::int64_t> new_orders;
  for (const auto& row : rows) {
    if (!row.from && !emitted_orders_.contains(row.order_id) &&
        std::find(new_orders.begin(), new_orders.end(), row.order_id) == new_orders.end()) {
      new_orders.push_back(row.order_id);
    }
  }
  std::unordered_map<std::int64_t, OrderRecord> orders;
  if (!new_orders.empty()) {
    std::vector<OrderRecord> loaded;
    for (const auto& row : tx.exec_prepared(stmt::kOrdersByIds, id_array(new_orders))) {
      loaded.push_back(read_order(row));
    }
    fill_receivers(tx, loaded);
    for (auto& order : loaded) {
      // As it was created: every delivery `sent`, nothing updated yet.
      order.updated_at = order.created_at;
      for (auto& r : order.receivers) {
        r.status = protocol::Status::sent;
        r.updated_at = order.created_at;
      }
      orders.emplace(order.order_id, std::move(order));
    }
  }

  ClusterEvent changes;
  changes.kind = ClusterEvent::Kind::changes;
  const auto flush_changes = [&] {
    if (changes.changes.empty()) return;
    emit(changes);
    changes.changes.clear();
  };
  for (const auto& row : rows) {
    if (emitted_history_.contains(row.id)) continue;
    emitted_history_.insert(row.id);
    if (!row.from) {
      if (emitted_orders_.contains(row.order_id)) continue;
      auto it = orders.find(row.order_id);
      if (it == orders.end()) continue;
      flush_changes();
      emitted_orders_.insert(row.order_id);
      ClusterEvent event;
      event.kind = ClusterEvent::Kind::order;
      event.order = std::move(it->second);
      orders.erase(it);
      emit(event);
      continue;
    }
    StatusChange change;
    change.order_id = row.order_id;
    change.shop = row.shop;
    change.sender = row.sender;
    change.session = row.receiver;
    change.status = row.to;
    change.at = row.at;
    change.by = row.by;
    change.reason = row.reason;
    changes.changes.push_back(std::move(change));
  }
  flush_changes();
}

// Once per revocation row: the live notification and the re-read after a
// gap may both bring it (an older node's record has no row id: emitted).
void Cluster::emit_revocation(const feed::Record& record) {
  if (record.revocation_id != 0) {
    if (emitted_revocations_.contains(record.revocation_id)) return;
    emitted_revocations_.insert(record.revocation_id);
  }
  ClusterEvent event;
  event.kind = ClusterEvent::Kind::revoke;
  event.revoked_session = record.session;
  event.close_code = record.close_code;
  emit(event);
}

void Cluster::apply_presence(const NodePresence& presence) {
  const auto key = std::make_pair(presence.node, presence.session);
  if (presence.connections > 0) {
    remote_[key] = presence;
  } else {
    remote_.erase(key);
  }
  ClusterEvent event;
  event.kind = ClusterEvent::Kind::presence;
  event.presence = presence;
  emit(event);
}

// ---------------------------------------------------------------------------
// After a gap

void Cluster::recover() {
  // (a) History other nodes logged since the last round trip known live,
  // minus the margin, in pages; ids already emitted are skipped.
  if (!watermark_.empty()) {
    std::int64_t after = 0;
    for (;;) {
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn_);
      std::vector<HistoryRow> rows;
      for (const auto& row : tx.exec_prepared(stmt::kHistorySince, watermark_, kRecoveryMarginMs, options_.node_id,
                                              after, kRecoveryPage)) {
        rows.push_back({row[0].as<std::int64_t>(), row[1].as<std::int64_t>(), row[2].as<std::string>(),
                        optional_status_field(row[3]), status_field(row[4]), row[5].as<std::string>(),
                        optional_text(row[6]), row[7].as<std::string>(), row[8].as<std::string>(),
                        row[9].as<std::string>()});
      }
      if (rows.empty()) break;
      after = rows.back().id;
      emit_history(tx, rows);
      tx.commit();
      if (rows.size() < static_cast<std::size_t>(kRecoveryPage)) break;
    }
  }

  // (b) Revocations other nodes logged since the same point, oldest first.
  if (!watermark_.empty()) {
    std::vector<feed::Record> revoked;
    {
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn_);
      for (const auto& row :
           tx.exec_prepared(stmt::kRevocationsSince, watermark_, kRecoveryMarginMs, options_.node_id)) {
        revoked.push_back(feed::revoke_record(row[1].as<std::string>(), row[2].as<std::string>(), row[3].as<int>(),
                                              row[0].as<std::int64_t>()));
      }
      tx.commit();
    }
    for (const auto& record : revoked) emit_revocation(record);
  }

  // (c) Presence: the table against what this node believed.
  std::map<std::pair<std::string, std::string>, NodePresence> now;
  {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn_);
    for (const auto& row : tx.exec_prepared(stmt::kRemotePresence, options_.node_id, options_.node_timeout_ms)) {
      NodePresence p{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(), row[3].as<int>()};
      now[{p.node, p.session}] = p;
    }
    tx.commit();
  }
  std::vector<NodePresence> changed;
  for (const auto& [key, presence] : remote_) {
    if (!now.count(key)) changed.push_back({presence.node, presence.session, presence.shop, 0});
  }
  for (const auto& [key, presence] : now) {
    auto it = remote_.find(key);
    if (it == remote_.end() || it->second.connections != presence.connections || it->second.shop != presence.shop) {
      changed.push_back(presence);
    }
  }
  for (const auto& presence : changed) apply_presence(presence);
}

// ---------------------------------------------------------------------------
// This node's rows

void Cluster::sync_presence() {
  std::vector<NodePresence> rows;
  {
    std::lock_guard lock(mutex_);
    if (dirty_.empty()) return;
    for (auto& [session, presence] : dirty_) rows.push_back(std::move(presence));
    dirty_.clear();
  }
  try {
    pqxx::work tx(*conn_);
    std::vector<feed::Record> records;
    for (const auto& row : rows) {
      if (row.connections > 0) {
        tx.exec_prepared(stmt::kUpsertPresence, row.node, row.session, row.shop, row.connections);
      } else {
        tx.exec_prepared(stmt::kDeletePresence, row.node, row.session);
      }
      records.push_back(feed::presence_record(row));
    }
    notify(tx, records);
    tx.commit();
  } catch (...) {
    // Written again after the reconnect, unless set_presence() said newer.
    std::lock_guard lock(mutex_);
    for (auto& row : rows) dirty_.try_emplace(row.session, std::move(row));
    throw;
  }
}

void Cluster::send_revocations() {
  std::vector<std::pair<std::string, int>> pending;
  {
    std::lock_guard lock(mutex_);
    pending.swap(revocations_);
  }
  if (pending.empty()) return;
  try {
    pqxx::work tx(*conn_);
    std::vector<feed::Record> records;
    // A row each, in the transaction of the notification: a node that is
    // not listening now reads it after its reconnect (recover()).
    for (auto& [session, code] : pending) {
      const auto id = tx.exec_prepared1(stmt::kInsertRevocation, options_.node_id, session, code)[0].as<std::int64_t>();
      records.push_back(feed::revoke_record(options_.node_id, session, code, id));
    }
    notify(tx, records);
    tx.commit();
  } catch (...) {
    std::lock_guard lock(mutex_);
    revocations_.insert(revocations_.begin(), pending.begin(), pending.end());
    throw;
  }
}

void Cluster::heartbeat() {
  pqxx::work tx(*conn_);
  pqxx::result r = tx.exec_prepared(stmt::kHeartbeat, options_.node_id);
  bool rejoined = false;
  if (r.empty()) {
    // Another node found this one silent too long and reaped it: come back,
    // and write every presence row again (the others learn it from the
    // notifications).
    r = tx.exec_prepared(stmt::kJoinNode, options_.node_id);
    rejoined = true;
  }
  const std::string now = r[0][0].as<std::string>();
  tx.commit();
  watermark_ = now;
  if (rejoined) {
    std::lock_guard lock(mutex_);
    for (const auto& [session, presence] : desired_) dirty_.try_emplace(session, presence);
  }
}

void Cluster::reap() {
  std::vector<std::string> dead;
  {
    pqxx::nontransaction tx(*conn_);
    tx.exec_prepared(stmt::kPruneRevocations);
    for (const auto& row : tx.exec_prepared(stmt::kDeadNodes, options_.node_id, options_.node_timeout_ms)) {
      dead.push_back(row[0].as<std::string>());
    }
  }
  for (const std::string& node : dead) {
    pqxx::work tx(*conn_);
    // Only the node whose DELETE still finds the stale row reaps (two nodes
    // may see it at once; the second waits for the first, then finds none).
    if (tx.exec_prepared(stmt::kReapNode, node, options_.node_timeout_ms).affected_rows() != 1) continue;
    std::vector<feed::Record> gone;
    for (const auto& row : tx.exec_prepared(stmt::kDeletePresenceOfNode, node)) {
      gone.push_back(feed::presence_record({node, row[0].as<std::string>(), row[1].as<std::string>(), 0}));
    }
    notify(tx, gone);
    tx.commit();
  }
}

void Cluster::leave() noexcept {
  if (!conn_) return;
  try {
    pqxx::work tx(*conn_);
    std::vector<feed::Record> gone;
    for (const auto& row : tx.exec_prepared(stmt::kDeletePresenceOfNode, options_.node_id)) {
      gone.push_back(
          feed::presence_record({options_.node_id, row[0].as<std::string>(), row[1].as<std::string>(), 0}));
    }
    notify(tx, gone);
    tx.exec_prepared(stmt::kLeaveNode, options_.node_id);
    tx.commit();
  } catch (...) {
    // The others reap this node after node_timeout_ms instead.
  }
}

}  // namespace possync::storage::postgres
