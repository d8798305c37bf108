// The Store, part 3: the reads (pending, list, list_orders). Both backends.
#include "tests/support/store_harness.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/fault_store.hpp"
#include "storage/tokens.hpp"

using namespace possync;
using namespace possync::storage;
using namespace possync::test;
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// Reads

TEST_CASE("store: pending lists the receiver's sent deliveries, oldest first, with only its delivery",
          "[store]") {
  Harness h;
  populate(h);
  const auto a = h.sent("counter-1", "a", {"kitchen-1", "bar-1"});
  const auto b = h.sent("counter-1", "b", {"bar-1"});
  const auto c = h.sent("counter-1", "c", {"kitchen-1"});
  const auto d = h.sent("counter-1", "d", {"bar-1", "kitchen-1"});
  REQUIRE(h.ack("kitchen-1", c).ok());

  auto pending = h.pending("kitchen-1");
  REQUIRE(pending.ok());
  CHECK(ids_of(pending.value()) == std::vector<std::int64_t>{a, d});
  for (const auto& order : pending.value()) {
    CHECK(receivers_of(order) == std::vector<std::string>{"kitchen-1=sent"});
    CHECK(order.order_json == kOrderJson);
    CHECK(order.from == "counter-1");
    CHECK(order.from_name == "Name of counter-1");
  }
  auto none = h.pending("idle-1");
  REQUIRE(none.ok());
  CHECK(none.value().empty());
  CHECK(b > a);
}

TEST_CASE("store: pending reads a page at a time, above the last order replayed", "[store]") {
  Harness h;
  populate(h);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 7; ++i) ids.push_back(h.sent("counter-1", "p" + std::to_string(i), {"kitchen-1"}));
  REQUIRE(h.ack("kitchen-1", ids[3]).ok());  // no longer `sent`: skipped, not counted in a page
  const std::vector<std::int64_t> expected{ids[0], ids[1], ids[2], ids[4], ids[5], ids[6]};

  std::vector<std::int64_t> replayed;
  std::int64_t after = 0;
  int pages = 0;
  for (;;) {
    auto page = h.pending("kitchen-1", after, 4);
    REQUIRE(page.ok());
    REQUIRE(page.value().size() <= 4);
    ++pages;
    for (const auto& order : page.value()) replayed.push_back(order.order_id);
    if (page.value().size() < 4) break;
    after = page.value().back().order_id;
    REQUIRE(pages < 10);
  }
  CHECK(replayed == expected);
  CHECK(pages == 2);
  auto past_the_end = h.pending("kitchen-1", ids[6], 4);
  REQUIRE(past_the_end.ok());
  CHECK(past_the_end.value().empty());
}

TEST_CASE("store: list shows the inbox and the outbox, newest first, with status filters and paging",
          "[store]") {
  Harness h;
  populate(h);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(h.sent("counter-1", "o-" + std::to_string(i), {"kitchen-1", "bar-1"}));
  const auto from_bar = h.sent("bar-1", "from-bar", {"kitchen-1"});
  REQUIRE(h.ack("kitchen-1", ids[1]).ok());
  REQUIRE(h.deliver("kitchen-1", ids[2]).ok());
  REQUIRE(h.reject("bar-1", ids[3], std::nullopt).ok());

  ListQuery inbox;
  inbox.session = "kitchen-1";
  auto all_open = h.list(inbox);
  REQUIRE(all_open.ok());
  CHECK(ids_of(all_open.value()) == std::vector<std::int64_t>{from_bar, ids[5], ids[4], ids[3], ids[1], ids[0]});
  for (const auto& order : all_open.value()) {
    REQUIRE(order.receivers.size() == 1);
    CHECK(order.receivers[0].session == "kitchen-1");
  }
  CHECK(all_open.value()[4].receivers[0].status == Status::received);

  inbox.statuses = {Status::delivered};
  auto delivered = h.list(inbox);
  REQUIRE(delivered.ok());
  CHECK(ids_of(delivered.value()) == std::vector<std::int64_t>{ids[2]});

  inbox.statuses = {};
  inbox.limit = 2;
  inbox.before = ids[4];
  auto page = h.list(inbox);
  REQUIRE(page.ok());
  CHECK(ids_of(page.value()) == std::vector<std::int64_t>{ids[3], ids[1]});

  ListQuery outbox;
  outbox.session = "counter-1";
  outbox.box = protocol::Box::outbox;
  auto sent = h.list(outbox);
  REQUIRE(sent.ok());
  CHECK(ids_of(sent.value()) == std::vector<std::int64_t>{ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]});
  CHECK(receivers_of(sent.value()[2]) == std::vector<std::string>{"kitchen-1=sent", "bar-1=rejected"});

  outbox.statuses = {Status::rejected, Status::delivered};
  auto finals = h.list(outbox);
  REQUIRE(finals.ok());
  CHECK(ids_of(finals.value()) == std::vector<std::int64_t>{ids[3], ids[2]});
  CHECK(receivers_of(finals.value()[1]) == std::vector<std::string>{"kitchen-1=delivered", "bar-1=sent"});

  ListQuery bar_outbox;
  bar_outbox.session = "bar-1";
  bar_outbox.box = protocol::Box::outbox;
  auto bars = h.list(bar_outbox);
  REQUIRE(bars.ok());
  CHECK(ids_of(bars.value()) == std::vector<std::int64_t>{from_bar});
}

TEST_CASE("store: list_orders filters by shop, sender, receiver, ref and status, and pages", "[store]") {
  Harness h;
  populate(h);
  h.create("counter-9", true, false, "other-shop");
  std::vector<std::int64_t> main_ids;
  for (int i = 0; i < 5; ++i) main_ids.push_back(h.sent("counter-1", "m-" + std::to_string(i), {"kitchen-1"}));
  const auto by_bar = h.sent("bar-1", "m-0", {"kitchen-1"});
  const auto other = h.sent("counter-9", "x-0", {"kitchen-9"});
  const auto to_bar = h.sent("counter-1", "to-bar", {"bar-1", "kitchen-1"});
  REQUIRE(h.deliver("bar-1", to_bar).ok());
  REQUIRE(h.reject("kitchen-1", main_ids[0], "no").ok());

  auto query = [&](OrderFilter f) {
    auto page = h.orders(std::move(f));
    REQUIRE(page.ok());
    return page.value();
  };

  OrderFilter everything;
  auto all = query(everything);
  CHECK(ids_of(all.orders) ==
        std::vector<std::int64_t>{to_bar, other, by_bar, main_ids[4], main_ids[3], main_ids[2], main_ids[1],
                                  main_ids[0]});
  CHECK_FALSE(all.next_before.has_value());
  CHECK(all.orders[0].line_count == 1);
  CHECK(receivers_of(all.orders[0]) == std::vector<std::string>{"bar-1=delivered", "kitchen-1=sent"});

  OrderFilter shop;
  shop.shop = "other-shop";
  CHECK(ids_of(query(shop).orders) == std::vector<std::int64_t>{other});

  OrderFilter sender;
  sender.sender = "bar-1";
  CHECK(ids_of(query(sender).orders) == std::vector<std::int64_t>{by_bar});

  OrderFilter ref;
  ref.ref = "m-0";
  CHECK(ids_of(query(ref).orders) == std::vector<std::int64_t>{by_bar, main_ids[0]});
  ref.sender = "counter-1";
  CHECK(ids_of(query(ref).orders) == std::vector<std::int64_t>{main_ids[0]});

  OrderFilter receiver;
  receiver.receiver = "bar-1";
  CHECK(ids_of(query(receiver).orders) == std::vector<std::int64_t>{to_bar});

  OrderFilter status;
  status.statuses = {Status::delivered, Status::rejected};
  CHECK(ids_of(query(status).orders) == std::vector<std::int64_t>{to_bar, main_ids[0]});

  // With a receiver the status applies to that receiver's delivery.
  OrderFilter receiver_status;
  receiver_status.receiver = "kitchen-1";
  receiver_status.statuses = {Status::delivered};
  CHECK(query(receiver_status).orders.empty());
  receiver_status.statuses = {Status::sent};
  CHECK(ids_of(query(receiver_status).orders) ==
        std::vector<std::int64_t>{to_bar, by_bar, main_ids[4], main_ids[3], main_ids[2], main_ids[1]});

  OrderFilter paged;
  paged.shop = "main";
  paged.limit = 3;
  std::vector<std::int64_t> seen;
  int pages = 0;
  for (;;) {
    auto page = query(paged);
    ++pages;
    for (auto id : ids_of(page.orders)) seen.push_back(id);
    if (!page.next_before) break;
    CHECK(*page.next_before == page.orders.back().order_id);
    paged.before = page.next_before;
  }
  CHECK(pages == 3);
  CHECK(seen == std::vector<std::int64_t>{to_bar, by_bar, main_ids[4], main_ids[3], main_ids[2], main_ids[1],
                                          main_ids[0]});

  OrderFilter exact;  // a page that ends exactly at the last order has no next
  exact.limit = 8;
  CHECK_FALSE(query(exact).next_before.has_value());
  exact.limit = 7;
  CHECK(query(exact).next_before == main_ids[1]);
}
