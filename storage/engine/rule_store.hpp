// The write half of Store, written once for both backends: each write
// method queues a job that, on the backend's writer thread, runs the rule
// of rules.hpp over the backend's rows. A backend derives from
// RuleStore<Itself, Context, Rows> and provides
//   template <class T, class Body> void enqueue_write(Body body, Callback<T> cb);
// whose Body is called as Result<T>(Context&) inside the writer's
// transaction, and Rows, an engine::RowOps constructed from that Context&.
#pragma once

#include <utility>

#include "storage/engine/rules.hpp"
#include "storage/store.hpp"

namespace possync::storage::engine {

template <class Derived, class Context, class Rows>
class RuleStore : public Store {
 public:
  void send(SendRequest request, Callback<SendOutcome> cb) final {
    write<SendOutcome>([request = std::move(request)](Rows& rows) { return engine::send(rows, request); },
                       std::move(cb));
  }
  void ack(std::string receiver, std::int64_t order_id, Callback<TransitionOutcome> cb) final {
    write<TransitionOutcome>(
        [receiver = std::move(receiver), order_id](Rows& rows) { return engine::ack(rows, receiver, order_id); },
        std::move(cb));
  }
  void deliver(std::string receiver, std::int64_t order_id, Callback<TransitionOutcome> cb) final {
    write<TransitionOutcome>(
        [receiver = std::move(receiver), order_id](Rows& rows) { return engine::deliver(rows, receiver, order_id); },
        std::move(cb));
  }
  void reject(std::string receiver, std::int64_t order_id, std::optional<std::string> reason,
              Callback<TransitionOutcome> cb) final {
    write<TransitionOutcome>([receiver = std::move(receiver), order_id, reason = std::move(reason)](
                                 Rows& rows) { return engine::reject(rows, receiver, order_id, reason); },
                             std::move(cb));
  }
  void cancel(std::string sender, std::int64_t order_id, Callback<TransitionOutcome> cb) final {
    write<TransitionOutcome>(
        [sender = std::move(sender), order_id](Rows& rows) { return engine::cancel(rows, sender, order_id); },
        std::move(cb));
  }
  void put_session(SessionUpdate update, Callback<PutSessionOutcome> cb) final {
    write<PutSessionOutcome>([update = std::move(update)](Rows& rows) { return engine::put_session(rows, update); },
                             std::move(cb));
  }
  void rotate_token(std::string session, Callback<std::string> cb) final {
    write<std::string>([session = std::move(session)](Rows& rows) { return engine::rotate_token(rows, session); },
                       std::move(cb));
  }
  void delete_session(std::string session, Callback<Done> cb) final {
    write<Done>([session = std::move(session)](Rows& rows) { return engine::delete_session(rows, session); },
                std::move(cb));
  }

 private:
  template <class T, class Rule>
  void write(Rule rule, Callback<T> cb) {
    static_cast<Derived&>(*this).template enqueue_write<T>(
        [rule = std::move(rule)](Context& context) {
          Rows rows(context);
          return rule(rows);
        },
        std::move(cb));
  }
};

}  // namespace possync::storage::engine
