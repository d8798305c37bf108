// Latency histograms for possync-load: log-linear buckets in the manner of
// HdrHistogram, small enough to write here. Every power of two is split
// into 64 linear sub-buckets, so any recorded value is reported within
// 1/64 (1.6 %) of itself; values are nanoseconds up to about 73 minutes.
//
// AtomicHistogram is recorded into from any thread (relaxed atomic adds, no
// lock); Histogram is a plain snapshot for percentiles and merging, owned by
// one thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>

namespace possync::load {

inline constexpr int kSubBucketBits = 6;
inline constexpr std::int64_t kSubBuckets = std::int64_t{1} << kSubBucketBits;
inline constexpr int kMaxValueBits = 42;  // 2^42 ns ≈ 73 min; larger values are clamped
inline constexpr std::size_t kBucketCount = static_cast<std::size_t>((kMaxValueBits - kSubBucketBits + 1) * kSubBuckets);

std::size_t bucket_of(std::int64_t value_ns);
// The largest value that falls into bucket `index` (what percentiles report).
std::int64_t bucket_upper(std::size_t index);

class Histogram {
 public:
  void record(std::int64_t value_ns);
  void merge(const Histogram& other);
  void clear();

  std::uint64_t count() const { return count_; }
  std::int64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The value at quantile q (0..1): the upper bound of the bucket holding
  // the ceil(q·count)-th value, capped by the exact maximum; 0 when empty.
  std::int64_t quantile(double q) const;

 private:
  friend class AtomicHistogram;
  std::array<std::uint64_t, kBucketCount> counts_{};
  std::uint64_t count_ = 0;
  std::int64_t max_ = 0;
  std::int64_t sum_ = 0;  // ns; overflows only after ~292 years of recorded time
};

class AtomicHistogram {
 public:
  AtomicHistogram();
  void record(std::int64_t value_ns);
  // Adds the current counts to `out`.
  void copy_into(Histogram& out) const;
  // Moves the counts into `out` and leaves this one empty; a value recorded
  // concurrently lands either in `out` or in the next take, never twice.
  void take_into(Histogram& out);

 private:
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<std::int64_t> max_{0};
  std::atomic<std::int64_t> sum_{0};
};

// Milliseconds, for reports.
inline double to_ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace possync::load
