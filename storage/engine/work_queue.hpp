// A store's bounded queue of jobs (both backends, writes and reads): the
// calling threads put requests in, the store's own threads take one at a
// time (readers) or a whole group-commit batch (the writer). Intake is
// refused, never blocked, when the queue is full or closed; after close()
// the store threads drain what is left and then learn that it is over.
// Thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/store.hpp"

namespace possync::storage::engine {

// What push() did with a job.
enum class Intake { queued, closed, full, down };
// What take() found.
enum class Taken { jobs, timed_out, finished };

// The `unavailable` answer to a job the queue refused; `down_reason` says
// why the store cannot serve (Intake::down).
inline Error refused(Intake intake, std::string_view queue, const std::string& down_reason = "") {
  switch (intake) {
    case Intake::closed:
      return {ErrorCode::unavailable, "store is closed"};
    case Intake::full:
      return {ErrorCode::unavailable, "store " + std::string(queue) + " queue is full"};
    case Intake::down:
    case Intake::queued:
      break;
  }
  return {ErrorCode::unavailable, "store unavailable: " + down_reason};
}

template <class Job>
class WorkQueue {
 public:
  using Ptr = std::unique_ptr<Job>;

  explicit WorkQueue(std::size_t capacity) : capacity_(capacity) {}

  // Queues `job` (then moved from) unless the queue is closed, full, or
  // `up()`, asked under the queue's lock, says the store cannot serve now.
  template <class Up>
  Intake push(Ptr& job, Up&& up) {
    std::unique_lock lock(mutex_);
    if (closed_) return Intake::closed;
    if (!up()) return Intake::down;
    if (jobs_.size() >= capacity_) return Intake::full;
    jobs_.push_back(std::move(job));
    lock.unlock();
    cv_.notify_one();
    return Intake::queued;
  }
  Intake push(Ptr& job) {
    return push(job, [] { return true; });
  }

  // Waits for a job (at most `timeout` when given) and moves up to `max`
  // of them, oldest first, into `out`. `finished` once closed and empty.
  Taken take(std::vector<Ptr>& out, std::size_t max, std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    std::unique_lock lock(mutex_);
    const auto ready = [this] { return !jobs_.empty() || closed_; };
    if (timeout) {
      if (!cv_.wait_for(lock, *timeout, ready)) return Taken::timed_out;
    } else {
      cv_.wait(lock, ready);
    }
    if (jobs_.empty()) return Taken::finished;
    const std::size_t count = std::min(jobs_.size(), std::max<std::size_t>(1, max));
    for (std::size_t i = 0; i < count; ++i) {
      out.push_back(std::move(jobs_.front()));
      jobs_.pop_front();
    }
    return Taken::jobs;
  }

  // Waits at most `timeout` for close(); true when closed.
  bool closed_within(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return closed_; });
  }

  // Everything queued, taken out (to be refused by the caller).
  std::deque<Ptr> take_all() {
    std::deque<Ptr> out;
    std::lock_guard lock(mutex_);
    out.swap(jobs_);
    return out;
  }

  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return jobs_.size();
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Ptr> jobs_;
  bool closed_ = false;
};

}  // namespace possync::storage::engine
