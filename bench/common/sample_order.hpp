// A POS order of the shape the possync benches send (a name, a timestamp and
// N lines of product, quantity, unit price and discount). The baselines use
// it so that the store limit stores, and the peers carry, what a possync run
// carries. Header-only: no library, no I/O.
#pragma once

#include <cstdint>
#include <string>

namespace possync::bench {

// The order JSON with `lines` lines; `stamp` fills the "t0" member (a
// send-time in nanoseconds, or any number of the same width).
inline std::string sample_order_json(int lines, std::int64_t stamp) {
  std::string json = R"({"name":"bench","t0":)" + std::to_string(stamp) + R"(,"lines":[)";
  for (int line = 0; line < lines; ++line) {
    if (line > 0) json += ',';
    json += R"({"product_id":)" + std::to_string(100 + line) + R"(,"name":"Item )" + std::to_string(line) +
            R"(","qty":1,"price_unit":4.5,"discount":0})";
  }
  json += "]}";
  return json;
}

}  // namespace possync::bench
