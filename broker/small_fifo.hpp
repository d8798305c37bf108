// SmallFifo: a FIFO queue that owns no memory while it is empty.
//
// std::deque allocates a 512-byte node and a 64-byte map even when empty
// (libstdc++), which every idle connection paid for twice (its outgoing
// frame queue and the replay buffer): bench/results/profiles-2026-11-27.md.
// This ring buffer allocates on the first push, grows by doubling, and
// frees its storage whenever it becomes empty again, so a connection whose
// writes have drained holds nothing. Bounds are the caller's (as with
// std::deque): size() is what it compares against its limits.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

namespace possync::broker {

template <class T>
class SmallFifo {
 public:
  SmallFifo() = default;
  SmallFifo(const SmallFifo&) = delete;
  SmallFifo& operator=(const SmallFifo&) = delete;

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  T& front() noexcept { return slots_[head_]; }
  const T& front() const noexcept { return slots_[head_]; }

  void push_back(T value) {
    if (size_ == capacity_) grow();
    slots_[(head_ + size_) & (capacity_ - 1)] = std::move(value);
    ++size_;
  }

  void pop_front() noexcept {
    slots_[head_] = T{};  // release what the slot holds now, not at the next lap
    head_ = (head_ + 1) & (capacity_ - 1);
    if (--size_ == 0) clear();
  }

  // Drops every element and frees the storage.
  void clear() noexcept {
    slots_.reset();
    capacity_ = 0;
    head_ = 0;
    size_ = 0;
  }

 private:
  static constexpr std::size_t kFirstCapacity = 4;  // a power of two, as every capacity

  void grow() {
    const std::size_t capacity = capacity_ == 0 ? kFirstCapacity : 2 * capacity_;
    auto slots = std::make_unique<T[]>(capacity);
    for (std::size_t i = 0; i < size_; ++i) slots[i] = std::move(slots_[(head_ + i) & (capacity_ - 1)]);
    slots_ = std::move(slots);
    capacity_ = capacity;
    head_ = 0;
  }

  std::unique_ptr<T[]> slots_;
  std::size_t capacity_ = 0;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace possync::broker
