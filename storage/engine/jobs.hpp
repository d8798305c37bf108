// The queued requests of a store (both backends): a request's work on the
// context its thread provides (the SQLite writer's connection, a PostgreSQL
// transaction …) and its callback, answered exactly once.
#pragma once

#include <cstdio>
#include <functional>
#include <optional>
#include <utility>

#include "storage/store.hpp"

namespace possync::storage::engine {

// One queued request.
template <class Context>
class Job {
 public:
  virtual ~Job() = default;
  // Runs the request; true when it succeeded (the writer then keeps its
  // changes, otherwise it rolls back what the request wrote).
  virtual bool execute(Context& context) = 0;
  // The request failed by an exception; complete() will answer `error`.
  virtual void set_error(Error error) = 0;
  // Answers the callback with the result of execute() (or set_error()).
  virtual void complete() noexcept = 0;
  // Answers the callback with `error`, whatever execute() produced.
  virtual void fail(Error error) noexcept = 0;
};

// A request of type T: its body and its callback.
template <class T, class Context>
class TypedJob final : public Job<Context> {
 public:
  TypedJob(std::function<Result<T>(Context&)> body, Callback<T> cb) : body_(std::move(body)), cb_(std::move(cb)) {}

  bool execute(Context& context) override {
    result_.emplace(body_(context));
    return result_->ok();
  }
  void set_error(Error error) override { result_.emplace(std::move(error)); }
  void complete() noexcept override {
    if (result_) {
      answer(std::move(*result_));
    } else {
      answer(Error{ErrorCode::internal, "store error: request completed without running"});
    }
  }
  void fail(Error error) noexcept override { answer(std::move(error)); }

 private:
  void answer(Result<T> result) noexcept {
    try {
      if (cb_) cb_(std::move(result));
    } catch (...) {
      // Callbacks must not throw (store.hpp); one that does must not take
      // the store's thread down with it.
      std::fputs("possync storage: a store callback threw an exception; ignored\n", stderr);
    }
  }

  std::function<Result<T>(Context&)> body_;
  Callback<T> cb_;
  std::optional<Result<T>> result_;
};

}  // namespace possync::storage::engine
