// Realistic order payloads: lines drawn from a restaurant's product list
// with quantities, prices, discounts and notes, sometimes a customer and a
// table. A pool of bodies is generated once at start, so sending costs no
// generation work per order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace possync::load {

class OrderPool {
 public:
  // `variants` distinct order objects of `lines` lines each, from `seed`.
  OrderPool(int lines, int variants = 256, std::uint64_t seed = 42);
  // The n-th body (cycling through the pool): a JSON object text.
  const std::string& body(std::uint64_t n) const { return bodies_[n % bodies_.size()]; }
  std::size_t average_bytes() const { return average_bytes_; }

 private:
  std::vector<std::string> bodies_;
  std::size_t average_bytes_ = 0;
};

}  // namespace possync::load
