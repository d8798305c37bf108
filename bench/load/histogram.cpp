#include "bench/load/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace possync::load {

namespace {
constexpr std::int64_t kMaxValue = (std::int64_t{1} << kMaxValueBits) - 1;

std::int64_t clamp_value(std::int64_t v) { return std::clamp<std::int64_t>(v, 0, kMaxValue); }

void raise_to(std::atomic<std::int64_t>& target, std::int64_t value) {
  auto seen = target.load(std::memory_order_relaxed);
  while (value > seen && !target.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}
}  // namespace

// Values below 64 have a bucket each. Above, a value with its highest bit
// at position m keeps its top 7 bits: shift = m - 6 drops the rest, and the
// bucket is (shift + 1)·64 plus the 6 bits under the leading one.
std::size_t bucket_of(std::int64_t value_ns) {
  const auto v = static_cast<std::uint64_t>(clamp_value(value_ns));
  if (v < static_cast<std::uint64_t>(kSubBuckets)) return static_cast<std::size_t>(v);
  const int msb = 63 - std::countl_zero(v);
  const int shift = msb - kSubBucketBits;
  const auto sub = (v >> shift) - static_cast<std::uint64_t>(kSubBuckets);
  return static_cast<std::size_t>((static_cast<std::uint64_t>(shift) + 1) * static_cast<std::uint64_t>(kSubBuckets) + sub);
}

std::int64_t bucket_upper(std::size_t index) {
  const auto i = static_cast<std::int64_t>(index);
  if (i < kSubBuckets) return i;
  const std::int64_t shift = i / kSubBuckets - 1;
  const std::int64_t sub = i % kSubBuckets;
  return ((kSubBuckets + sub) << shift) + (std::int64_t{1} << shift) - 1;
}

void Histogram::record(std::int64_t value_ns) {
  const auto v = clamp_value(value_ns);
  ++counts_[bucket_of(v)];
  ++count_;
  max_ = std::max(max_, v);
  sum_ += v;
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::clear() { *this = Histogram{}; }

std::int64_t Histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(bucket_upper(i), max_);
  }
  return max_;
}

AtomicHistogram::AtomicHistogram() : counts_(new std::atomic<std::uint64_t>[kBucketCount]) {
  for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void AtomicHistogram::record(std::int64_t value_ns) {
  const auto v = clamp_value(value_ns);
  counts_[bucket_of(v)].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  raise_to(max_, v);
}

void AtomicHistogram::copy_into(Histogram& out) const {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    const auto n = counts_[i].load(std::memory_order_relaxed);
    out.counts_[i] += n;
    total += n;
  }
  out.count_ += total;
  out.sum_ += sum_.load(std::memory_order_relaxed);
  out.max_ = std::max(out.max_, max_.load(std::memory_order_relaxed));
}

void AtomicHistogram::take_into(Histogram& out) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < kBucketCount; ++i) {
    const auto n = counts_[i].exchange(0, std::memory_order_relaxed);
    out.counts_[i] += n;
    total += n;
  }
  out.count_ += total;
  out.sum_ += sum_.exchange(0, std::memory_order_relaxed);
  out.max_ = std::max(out.max_, max_.exchange(0, std::memory_order_relaxed));
}

}  // namespace possync::load
