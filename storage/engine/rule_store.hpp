// The write half of Store, written once for both backends: each write
// method queues a request that the backend's writer thread runs through the
// engine (batch.hpp: run_batch), which applies the rule of rules.hpp. A
// backend derives from RuleStore<Itself> and provides
//   void enqueue_write(WriteJobPtr job);
// which queues the job for its writer or answers it at once (job->fail).
#pragma once

#include <utility>

#include "storage/engine/batch.hpp"
#include "storage/engine/rules.hpp"
#include "storage/store.hpp"

namespace possync::storage::engine {

// The requests: what each one reads (want) and its rule (decide).
namespace requests {

struct Send {
  using Value = SendOutcome;
  SendRequest request;
  void want(Wants& wants) const {
    wants.sessions.push_back(request.sender);
    wants.sessions.insert(wants.sessions.end(), request.to.begin(), request.to.end());
    wants.refs.push_back({request.sender, request.ref});
    ++wants.sends;
  }
  Result<SendOutcome> decide(RowOps& rows) const { return engine::send(rows, request); }
};

// ack, deliver, reject: a receiver's transition of one order.
struct Ack {
  using Value = TransitionOutcome;
  std::string receiver;
  std::int64_t order_id = 0;
  void want(Wants& wants) const {
    wants.sessions.push_back(receiver);
    wants.orders.push_back(order_id);
  }
  Result<TransitionOutcome> decide(RowOps& rows) const { return engine::ack(rows, receiver, order_id); }
};
struct Deliver : Ack {
  Result<TransitionOutcome> decide(RowOps& rows) const { return engine::deliver(rows, receiver, order_id); }
};
struct Reject : Ack {
  std::optional<std::string> reason;
  Result<TransitionOutcome> decide(RowOps& rows) const { return engine::reject(rows, receiver, order_id, reason); }
};

struct Cancel {
  using Value = TransitionOutcome;
  std::string sender;
  std::int64_t order_id = 0;
  void want(Wants& wants) const { wants.orders.push_back(order_id); }
  Result<TransitionOutcome> decide(RowOps& rows) const { return engine::cancel(rows, sender, order_id); }
};

struct PutSession {
  using Value = PutSessionOutcome;
  SessionUpdate update;
  void want(Wants& wants) const { wants.sessions.push_back(update.session); }
  Result<PutSessionOutcome> decide(RowOps& rows) const { return engine::put_session(rows, update); }
};

struct RotateToken {
  using Value = std::string;
  std::string session;
  void want(Wants& wants) const { wants.sessions.push_back(session); }
  Result<std::string> decide(RowOps& rows) const { return engine::rotate_token(rows, session); }
};

struct DeleteSession {
  using Value = Done;
  std::string session;
  void want(Wants& wants) const { wants.sessions.push_back(session); }
  Result<Done> decide(RowOps& rows) const { return engine::delete_session(rows, session); }
};

}  // namespace requests

template <class Derived>
class RuleStore : public Store {
 public:
  void send(SendRequest request, Callback<SendOutcome> cb) final {
    write(requests::Send{std::move(request)}, std::move(cb));
  }
  void ack(std::string receiver, std::int64_t order_id, Callback<TransitionOutcome> cb) final {
    write(requests::Ack{std::move(receiver), order_id}, std::move(cb));
  }
  void deliver(std::string receiver, std::int64_t order_id, Callback<TransitionOutcome> cb) final {
    write(requests::Deliver{{std::move(receiver), order_id}}, std::move(cb));
  }
  void reject(std::string receiver, std::int64_t order_id, std::optional<std::string> reason,
              Callback<TransitionOutcome> cb) final {
    write(requests::Reject{{std::move(receiver), order_id}, std::move(reason)}, std::move(cb));
  }
  void cancel(std::string sender, std::int64_t order_id, Callback<TransitionOutcome> cb) final {
    write(requests::Cancel{std::move(sender), order_id}, std::move(cb));
  }
  void put_session(SessionUpdate update, Callback<PutSessionOutcome> cb) final {
    write(requests::PutSession{std::move(update)}, std::move(cb));
  }
  void rotate_token(std::string session, Callback<std::string> cb) final {
    write(requests::RotateToken{std::move(session)}, std::move(cb));
  }
  void delete_session(std::string session, Callback<Done> cb) final {
    write(requests::DeleteSession{std::move(session)}, std::move(cb));
  }

 private:
  template <class Request>
  void write(Request request, Callback<typename Request::Value> cb) {
    static_cast<Derived&>(*this).enqueue_write(std::make_unique<RuleJob<Request>>(std::move(request), std::move(cb)));
  }
};

}  // namespace possync::storage::engine
