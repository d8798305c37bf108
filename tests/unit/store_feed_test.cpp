// The cluster feed's NOTIFY payloads (storage/postgres/feed.hpp): pure
// functions, no server. Every payload stays under PostgreSQL's limit, and
// what is encoded decodes to the same records in the same order.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "storage/postgres/feed.hpp"

using namespace possync::storage;
using namespace possync::storage::postgres;

TEST_CASE("feed: a large transaction's history ids are split over payloads under the limit, in order", "[feed]") {
  std::vector<std::int64_t> ids;
  for (std::int64_t i = 0; i < 5000; ++i) ids.push_back(1'000'000'000'000 + i);
  const auto payloads = feed::encode({feed::history_record("node-a", ids)});
  REQUIRE(payloads.size() > 1);
  std::vector<std::int64_t> decoded;
  for (const auto& payload : payloads) {
    CHECK(payload.size() <= feed::kMaxPayload);
    auto records = feed::decode(payload);
    REQUIRE(records);
    for (const auto& r : *records) {
      CHECK(r.kind == feed::Record::Kind::history);
      CHECK(r.node == "node-a");
      decoded.insert(decoded.end(), r.ids.begin(), r.ids.end());
    }
  }
  CHECK(decoded == ids);
}

TEST_CASE("feed: presence and revocations round-trip, any node id included", "[feed]") {
  const std::string odd_node = "node\twith\nodd %bytes";
  std::vector<feed::Record> records = {
      feed::presence_record({odd_node, "bar-1", "main", 3}),
      feed::history_record(odd_node, {7, 8}),
      feed::revoke_record(odd_node, "kitchen-1", 4401, 9000000001),
      feed::presence_record({"node-b", "kitchen-1", "shop:2", 0}),
  };
  const auto payloads = feed::encode(records);
  REQUIRE(payloads.size() == 1);
  CHECK(payloads[0].find("odd %bytes") == std::string::npos);  // escaped
  auto decoded = feed::decode(payloads[0]);
  REQUIRE(decoded);
  REQUIRE(decoded->size() == 4);
  CHECK((*decoded)[0].kind == feed::Record::Kind::presence);
  CHECK((*decoded)[0].node == odd_node);
  CHECK((*decoded)[0].presence.node == odd_node);
  CHECK((*decoded)[0].presence.session == "bar-1");
  CHECK((*decoded)[0].presence.connections == 3);
  CHECK((*decoded)[1].ids == std::vector<std::int64_t>{7, 8});
  CHECK((*decoded)[2].kind == feed::Record::Kind::revoke);
  CHECK((*decoded)[2].session == "kitchen-1");
  CHECK((*decoded)[2].close_code == 4401);
  CHECK((*decoded)[2].revocation_id == 9000000001);
  CHECK((*decoded)[3].presence.shop == "shop:2");
  CHECK((*decoded)[3].presence.connections == 0);
}

TEST_CASE("feed: a revocation from a node without revocation rows (four fields) still decodes, with id 0",
          "[feed]") {
  auto decoded = feed::decode("r\tnode-old\tbar-1\t1012");
  REQUIRE(decoded);
  REQUIRE(decoded->size() == 1);
  CHECK((*decoded)[0].kind == feed::Record::Kind::revoke);
  CHECK((*decoded)[0].session == "bar-1");
  CHECK((*decoded)[0].close_code == 1012);
  CHECK((*decoded)[0].revocation_id == 0);
  CHECK_FALSE(feed::decode("r\tnode-old\tbar-1\t1012\t-5"));  // a negative row id is malformed
}

TEST_CASE("feed: malformed payloads are refused, malformed lines skipped", "[feed]") {
  CHECK_FALSE(feed::decode("hello"));
  CHECK_FALSE(feed::decode("h\tnode\t1,x"));
  CHECK_FALSE(feed::decode("p\tnode\tbar-1\tmain\t-1"));
  CHECK_FALSE(feed::decode("h\tbad%4"));
  auto mixed = feed::decode("garbage\nh\tnode-a\t5");
  REQUIRE(mixed);
  REQUIRE(mixed->size() == 1);
  CHECK((*mixed)[0].ids == std::vector<std::int64_t>{5});
  auto empty = feed::decode("");
  REQUIRE(empty);
  CHECK(empty->empty());
}
