// The queued reads of a store (both backends): a request's work on the
// context its reader thread provides (a SQLite connection, a PostgreSQL
// transaction) and its callback, answered exactly once. Writes are the
// order engine's (batch.hpp).
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
  // Runs the request; true when it succeeded.
  virtual bool execute(Context& context) = 0;
  // The request failed by an exception; complete() will answer `error`.
  virtual void set_error(Error error) = 0;
  // Answers the callback with the result of execute() (or set_error()).
  virtual void complete() noexcept = 0;
  // Answers the callback with `error`, whatever execute() produced.
  virtual void fail(Error error) noexcept = 0;
};

// Answers a store callback, which must not throw (store.hpp); one that does
// must not take the store's thread down with it.
template <class T>
void answer(Callback<T>& cb, Result<T> result) noexcept {
  try {
    if (cb) cb(std::move(result));
  } catch (...) {
    std::fputs("possync storage: a store callback threw an exception; ignored\n", stderr);
  }
}

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
      answer(cb_, std::move(*result_));
    } else {
      answer<T>(cb_, Error{ErrorCode::internal, "store error: request completed without running"});
    }
  }
  void fail(Error error) noexcept override { answer<T>(cb_, std::move(error)); }

 private:
  std::function<Result<T>(Context&)> body_;
  Callback<T> cb_;
  std::optional<Result<T>> result_;
};

}  // namespace possync::storage::engine
