#include "storage/engine/batch.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace possync::storage::engine {

namespace {

std::string current_reason() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown failure";
  }
}

std::string delivery_name(std::int64_t order_id, const std::string& receiver) {
  return "delivery of order " + std::to_string(order_id) + " to " + receiver;
}

}  // namespace

// ---------------------------------------------------------------------------
// BatchRows

BatchRows::BatchRows(WriteBackend& backend, const Wants& wants, Found found) : backend_(backend) {
  remember(wants, std::move(found));
  if (wants.sends > 0) {
    free_ids_ = backend_.new_order_ids(wants.sends);
    std::reverse(free_ids_.begin(), free_ids_.end());  // the smallest is used first
  }
}

// What load() found is known to exist, what it did not is known not to.
// Entries the batch already has (and may have changed) stay as they are.
void BatchRows::remember(const Wants& wants, Found found) {
  for (auto& entry : found.sessions) {
    std::string id = entry.session;
    sessions_.emplace(std::move(id), std::move(entry));
  }
  for (auto& [key, id] : found.refs) refs_.emplace(std::move(key), id);
  for (auto& order : found.orders) {
    const std::int64_t id = order.order_id;
    orders_.emplace(id, std::move(order));
  }
  for (const auto& id : wants.sessions) sessions_.emplace(id, std::nullopt);
  for (const auto& key : wants.refs) refs_.emplace(key, std::nullopt);
  for (const auto id : wants.orders) orders_.emplace(id, std::nullopt);
}

// A row the batch did not name in advance: one more load.
void BatchRows::fetch(const Wants& missing) {
  Found found;
  backend_.load(missing, found);
  remember(missing, std::move(found));
}

std::unordered_map<std::string, SessionEntry> BatchRows::sessions(const std::vector<std::string>& ids) {
  Wants missing;
  for (const auto& id : ids) {
    if (sessions_.count(id) == 0) missing.sessions.push_back(id);
  }
  if (!missing.sessions.empty()) fetch(missing);
  std::unordered_map<std::string, SessionEntry> out;
  for (const auto& id : ids) {
    const auto& entry = sessions_.at(id);
    if (entry) out.emplace(id, *entry);
  }
  return out;
}

std::optional<SessionEntry> BatchRows::session(const std::string& id) {
  auto it = sessions_.find(id);
  if (it != sessions_.end()) return it->second;
  sessions({id});  // loads it, or learns that it does not exist
  return sessions_.at(id);
}

std::optional<std::int64_t> BatchRows::order_by_ref(const std::string& sender, const std::string& ref) {
  RefKey key{sender, ref};
  auto it = refs_.find(key);
  if (it == refs_.end()) {
    Wants missing;
    missing.refs.push_back(key);
    fetch(missing);
    it = refs_.find(key);
  }
  return it->second;
}

OrderRecord* BatchRows::cached_order(std::int64_t order_id) {
  auto it = orders_.find(order_id);
  if (it == orders_.end()) {
    Wants missing;
    missing.orders.push_back(order_id);
    fetch(missing);
    it = orders_.find(order_id);
  }
  return it->second ? &*it->second : nullptr;
}

const OrderRecord* BatchRows::order(std::int64_t order_id) { return cached_order(order_id); }

std::optional<std::int64_t> BatchRows::insert_order(const OrderRecord& order) {
  std::int64_t id = 0;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = backend_.new_order_ids(1).at(0);
  }
  refs_[RefKey{order.from, order.ref}] = id;
  OrderRecord stored = order;
  stored.order_id = id;
  stored.updated_at = order.created_at;
  stored.receivers.clear();
  orders_[id] = std::move(stored);
  new_orders_.push_back(id);
  new_ids_.insert(id);
  return id;
}

void BatchRows::insert_deliveries(std::int64_t order_id, const std::vector<std::string>& to, const std::string& by,
                                  const std::string& at) {
  OrderRecord* order = cached_order(order_id);
  if (!order || new_ids_.count(order_id) == 0) {
    throw std::logic_error("deliveries for order " + std::to_string(order_id) + ", not one of this batch's");
  }
  for (const auto& receiver : to) {
    order->receivers.push_back({receiver, Status::sent, at});
    history_.push_back({order_id, receiver, std::nullopt, Status::sent, by, std::nullopt, at});
  }
}

void BatchRows::move_delivery(std::int64_t order_id, const std::string& receiver, Status from, Status to,
                              const std::string& by, const std::optional<std::string>& reason,
                              const std::string& at) {
  OrderRecord* order = cached_order(order_id);
  if (!order) throw std::logic_error(delivery_name(order_id, receiver) + ": no such order");
  auto delivery = std::find_if(order->receivers.begin(), order->receivers.end(),
                               [&](const ReceiverStatus& d) { return d.session == receiver; });
  if (delivery == order->receivers.end() || delivery->status != from) {
    throw std::logic_error(delivery_name(order_id, receiver) + " changed under the writer");
  }
  delivery->status = to;
  delivery->updated_at = at;
  if (new_ids_.count(order_id) == 0) {
    // One update of the stored row: from its stored status to the last.
    auto [it, first] = moves_.try_emplace({order_id, receiver}, DeliveryMove{order_id, receiver, from, to, at});
    if (!first) {
      it->second.to = to;
      it->second.at = at;
    }
  }
  history_.push_back({order_id, receiver, from, to, by, reason, at});
}

void BatchRows::touch_order(std::int64_t order_id, const std::string& at) {
  OrderRecord* order = cached_order(order_id);
  if (!order) return;
  order->updated_at = at;
  if (new_ids_.count(order_id) == 0) touched_[order_id] = at;
}

bool BatchRows::insert_session(const SessionEntry& entry, const std::string& token_hash, const std::string& at) {
  sessions_[entry.session] = entry;
  session_writes_.push_back({SessionWrite::Kind::insert, entry, token_hash, at});
  return true;
}

void BatchRows::update_session(const SessionEntry& entry, const std::string& at) {
  sessions_[entry.session] = entry;
  session_writes_.push_back({SessionWrite::Kind::update, entry, {}, at});
}

bool BatchRows::update_token(const std::string& session, const std::string& token_hash, const std::string& at) {
  if (!this->session(session)) return false;
  SessionWrite write{SessionWrite::Kind::token, {}, token_hash, at};
  write.entry.session = session;
  session_writes_.push_back(std::move(write));
  return true;
}

bool BatchRows::delete_session(const std::string& session) {
  if (!this->session(session)) return false;
  sessions_[session] = std::nullopt;
  SessionWrite write{SessionWrite::Kind::remove, {}, {}, {}};
  write.entry.session = session;
  session_writes_.push_back(std::move(write));
  return true;
}

Changes BatchRows::take_changes() {
  if (taken_) throw std::logic_error("a batch's changes taken twice");
  taken_ = true;
  Changes out;
  out.sessions = std::move(session_writes_);
  out.orders.reserve(new_orders_.size());
  for (const auto id : new_orders_) out.orders.push_back(std::move(*orders_.at(id)));
  out.moves.reserve(moves_.size());
  for (auto& [key, move] : moves_) out.moves.push_back(std::move(move));
  out.history = std::move(history_);
  out.touched.assign(std::make_move_iterator(touched_.begin()), std::make_move_iterator(touched_.end()));
  return out;
}

// ---------------------------------------------------------------------------
// The writer

namespace {

Error unavailable(const std::string& reason) { return {ErrorCode::unavailable, "store unavailable: " + reason}; }

enum class Step { committed, again, careful, retry, lost, in_doubt, failed };

// One run of the jobs in one transaction. `again`: one request failed on
// its own and is settled, the others run again without it; `careful`: the
// write failed for rows that cannot be told apart.
Step attempt(WriteBackend& backend, const std::vector<WriteJob*>& jobs, std::string& reason) {
  bool committing = false;
  WriteJob* deciding = nullptr;
  try {
    backend.begin();
    Wants wants;
    for (const WriteJob* job : jobs) job->want(wants);
    // Each row once: a batch of one sender's orders names it in each.
    std::sort(wants.sessions.begin(), wants.sessions.end());
    wants.sessions.erase(std::unique(wants.sessions.begin(), wants.sessions.end()), wants.sessions.end());
    std::sort(wants.orders.begin(), wants.orders.end());
    wants.orders.erase(std::unique(wants.orders.begin(), wants.orders.end()), wants.orders.end());
    Found found;
    backend.load(wants, found);
    BatchRows rows(backend, wants, std::move(found));
    for (WriteJob* job : jobs) {
      deciding = job;
      job->decide(rows);
    }
    deciding = nullptr;
    const Changes changes = rows.take_changes();
    if (!changes.empty()) backend.write(changes);
    committing = true;
    backend.commit();
    return Step::committed;
  } catch (...) {
    reason = current_reason();
    Failure failure = Failure::request;
    try {
      throw;
    } catch (const Overtaken&) {
      failure = Failure::retry;
    } catch (...) {
      failure = backend.classify_current();
    }
    backend.rollback();
    switch (failure) {
      case Failure::connection:
        return committing ? Step::in_doubt : Step::lost;
      case Failure::retry:
        return Step::retry;
      case Failure::batch:
        return Step::failed;
      case Failure::request:
        if (committing) return Step::failed;
        if (deciding) {
          deciding->settle({ErrorCode::internal, "store error: " + reason});
          return Step::again;
        }
        return Step::careful;
    }
    return Step::failed;
  }
}

void fail_all(const std::vector<WriteJob*>& jobs, WriterStats& stats, const std::string& reason) {
  ++stats.batches_failed;
  stats.last_batch_failed = true;
  const Error error = unavailable(reason);
  for (WriteJob* job : jobs) {
    if (job->settled()) {
      job->complete();
    } else {
      job->fail(error);
    }
  }
}

void run_jobs(WriteBackend& backend, const std::vector<WriteJob*>& jobs, WriterStats& stats,
              const BatchPolicy& policy) {
  bool reconnected = false;
  int attempts = 0;
  std::string reason;
  for (;;) {
    std::vector<WriteJob*> live;
    for (WriteJob* job : jobs) {
      if (!job->settled()) live.push_back(job);
    }
    const Step step = live.empty() ? Step::committed : attempt(backend, live, reason);
    switch (step) {
      case Step::committed:
        if (!live.empty()) ++stats.batches_committed;
        stats.writes_committed += jobs.size();
        stats.last_batch_failed = false;
        for (WriteJob* job : jobs) job->complete();
        return;
      case Step::again:
        continue;
      case Step::careful:
        if (live.size() == 1) {
          live.front()->settle({ErrorCode::internal, "store error: " + reason});
          continue;
        }
        // Which request's rows were refused cannot be told: each runs alone.
        for (WriteJob* job : jobs) {
          if (job->settled()) {
            job->complete();
          } else {
            run_jobs(backend, {job}, stats, policy);
          }
        }
        return;
      case Step::retry:
        // Another node holds rows this batch needs, or stored the same ref
        // first, or the two deadlocked: running it again usually passes.
        if (++attempts < policy.max_attempts) continue;
        fail_all(jobs, stats, reason + " (gave up after " + std::to_string(attempts) + " attempts)");
        return;
      case Step::lost:
        // Lost before COMMIT was sent: nothing of the batch is stored, and a
        // fresh connection may serve it at once (one backend killed).
        backend.connection_lost(reason);
        if (!reconnected && backend.reconnect()) {
          reconnected = true;
          continue;
        }
        fail_all(jobs, stats, reason);
        return;
      case Step::in_doubt:
        backend.connection_lost(reason);
        fail_all(jobs, stats,
                 "the connection broke during COMMIT; the outcome is unknown, retry (" + reason + ")");
        return;
      case Step::failed:
        fail_all(jobs, stats, reason);
        return;
    }
  }
}

}  // namespace

void run_batch(WriteBackend& backend, std::vector<WriteJobPtr>& batch, WriterStats& stats,
               const BatchPolicy& policy) {
  std::vector<WriteJob*> jobs;
  jobs.reserve(batch.size());
  for (auto& job : batch) jobs.push_back(job.get());
  run_jobs(backend, jobs, stats, policy);
}

}  // namespace possync::storage::engine
