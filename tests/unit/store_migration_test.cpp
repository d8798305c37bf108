// SQLite schema migrations on a database that already holds orders: a file
// made by schema 1 (only 0001 applied, rows written as that schema's
// writer left them), with orders in every status, opened by today's store.
// Every order, delivery and history row must still be there, and read as
// before (issue #14, item 2).
#include "tests/support/store_harness.hpp"

#include <map>

#include "storage/sqlite/db.hpp"
#include "storage/sqlite/migrations.hpp"

using namespace possync;
using namespace possync::storage;
using namespace possync::test;

namespace {

// One order of schema 1 as its writer left it: the order row (with its own
// updated_at, touched by every transition), one delivery per receiver and
// one history row per transition.
struct OldOrder {
  std::int64_t id;
  std::string mode;
  std::vector<std::pair<std::string, std::string>> deliveries;  // receiver, final status
};

std::string at(int second) {
  return "2026-12-01T10:00:" + std::string(second < 10 ? "0" : "") + std::to_string(second) + ".000Z";
}

}  // namespace

TEST_CASE("sqlite migrations: a schema-1 database with orders in every status keeps every row after the upgrade",
          "[store][sqlite][migration]") {
  auto location = std::make_shared<TestStore>(StoreBackend::sqlite);
  const std::vector<OldOrder> orders = {
      {1, "copy", {{"kitchen-1", "sent"}, {"bar-1", "sent"}}},
      {2, "copy", {{"kitchen-1", "received"}, {"bar-1", "sent"}}},
      {3, "copy", {{"kitchen-1", "delivered"}, {"bar-1", "rejected"}}},
      {4, "copy", {{"kitchen-1", "cancelled"}, {"bar-1", "cancelled"}}},
      {5, "claim", {{"kitchen-1", "delivered"}, {"bar-1", "taken"}}},
  };
  // The path of each final status from `sent` (history rows after the creation row).
  const std::map<std::string, std::vector<std::string>> path = {
      {"sent", {}},
      {"received", {"received"}},
      {"delivered", {"received", "delivered"}},
      {"rejected", {"rejected"}},
      {"cancelled", {"cancelled"}},
      {"taken", {"taken"}},
  };
  std::int64_t history_rows = 0;
  std::map<std::int64_t, std::string> last_change;  // order → its updated_at in schema 1
  {
    sqlite::Db db(location->sqlite_file().string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    db.exec("PRAGMA journal_mode=WAL");
    sqlite::migrate(db, sqlite::embedded_migrations().first(1));
    db.exec("BEGIN");
    for (const auto& [id, sender, receiver] : {std::tuple{"counter-1", 1, 0}, std::tuple{"kitchen-1", 0, 1},
                                               std::tuple{"bar-1", 0, 1}}) {
      db.query("INSERT INTO sessions VALUES (?1, ?1, 'main', ?2, ?3, 'x', ?4, ?4)")
          .bind_all(std::string(id), sender, receiver, at(0))
          .run();
    }
    for (const auto& order : orders) {
      int clock = 1;
      db.query(
            "INSERT INTO sync_orders (order_id, shop, sender, sender_name, ref, mode, order_json, line_count,"
            " created_at, updated_at) VALUES (?1, 'main', 'counter-1', 'Counter', ?2, ?3, ?4, 1, ?5, ?5)")
          .bind_all(order.id, "old-" + std::to_string(order.id), order.mode, kOrderJson, at(clock))
          .run();
      std::string newest = at(clock);
      for (std::size_t position = 0; position < order.deliveries.size(); ++position) {
        const auto& [receiver, status] = order.deliveries[position];
        db.query(
              "INSERT INTO history (order_id, receiver, from_status, to_status, by_session, reason, at)"
              " VALUES (?1, ?2, NULL, 'sent', 'counter-1', NULL, ?3)")
            .bind_all(order.id, receiver, at(1))
            .run();
        ++history_rows;
        std::string from = "sent";
        std::string when = at(1);
        for (const auto& to : path.at(status)) {
          when = at(++clock);
          db.query(
                "INSERT INTO history (order_id, receiver, from_status, to_status, by_session, reason, at)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
              .bind_all(order.id, receiver, from, to, to == "cancelled" ? "counter-1" : receiver,
                        to == "rejected" ? std::optional<std::string>("no stock") : std::nullopt, when)
              .run();
          ++history_rows;
          from = to;
        }
        db.query("INSERT INTO deliveries (order_id, receiver, position, status, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)")
            .bind_all(order.id, receiver, static_cast<std::int64_t>(position), status, when)
            .run();
        newest = std::max(newest, when);
      }
      db.query("UPDATE sync_orders SET updated_at = ?1 WHERE order_id = ?2").bind_all(newest, order.id).run();
      last_change[order.id] = newest;
    }
    db.exec("COMMIT");
  }

  Harness h({}, location);  // today's store: applies the migrations after 0001
  CHECK(h.count("SELECT COUNT(*) FROM schema_version") ==
        static_cast<std::int64_t>(sqlite::embedded_migrations().size()));
  CHECK(h.count("SELECT COUNT(*) FROM sync_orders") == static_cast<std::int64_t>(orders.size()));
  CHECK(h.count("SELECT COUNT(*) FROM deliveries") == static_cast<std::int64_t>(2 * orders.size()));
  CHECK(h.count("SELECT COUNT(*) FROM history") == history_rows);

  for (const auto& order : orders) {
    INFO("order " << order.id);
    auto detail = h.get(order.id);
    REQUIRE(detail.ok());
    const auto& record = detail.value().order;
    CHECK(record.ref == "old-" + std::to_string(order.id));
    CHECK(record.order_json == kOrderJson);
    CHECK(record.created_at == at(1));
    CHECK(record.updated_at == last_change[order.id]);  // the newest delivery's, as schema 1 kept it
    REQUIRE(record.receivers.size() == order.deliveries.size());
    std::size_t transitions = 0;
    for (std::size_t i = 0; i < order.deliveries.size(); ++i) {
      CHECK(record.receivers[i].session == order.deliveries[i].first);
      CHECK(std::string(protocol::to_string(record.receivers[i].status)) == order.deliveries[i].second);
      transitions += 1 + path.at(order.deliveries[i].second).size();
    }
    CHECK(detail.value().history.size() == transitions);
  }
  // The open deliveries replay; the store writes on the upgraded schema.
  auto pending = h.pending("bar-1");
  REQUIRE(pending.ok());
  REQUIRE(pending.value().size() == 2);
  CHECK(pending.value()[0].order_id == 1);
  CHECK(pending.value()[1].order_id == 2);
  REQUIRE(h.ack("bar-1", 2).ok());
  auto acked = h.get(2);
  REQUIRE(acked.ok());
  CHECK(acked.value().order.updated_at > last_change[2]);
  CHECK(acked.value().order.updated_at == acked.value().order.receivers[1].updated_at);
  auto fresh = h.send("counter-1", "new-after-upgrade", {"kitchen-1"});
  REQUIRE(fresh.ok());
  CHECK(fresh.value().order.order_id == 6);
  CHECK(fresh.value().order.updated_at == fresh.value().order.created_at);

  // Migration 0003 rebuilt sync_orders around one unique index on (ref,
  // sender): a send repeated from before the upgrade is still the same
  // order, the same ref from another sender is another, and the ops filter
  // by ref finds them through that index.
  auto repeated = h.send("counter-1", "old-3", {"kitchen-1"});
  REQUIRE(repeated.ok());
  CHECK(repeated.value().duplicate);
  CHECK(repeated.value().order.order_id == 3);
  h.create("counter-2", true, false);
  auto other_sender = h.send("counter-2", "old-3", {"kitchen-1"});
  REQUIRE(other_sender.ok());
  CHECK_FALSE(other_sender.value().duplicate);
  OrderFilter by_ref;
  by_ref.ref = "old-3";
  auto found = h.orders(by_ref);
  REQUIRE(found.ok());
  CHECK(ids_of(found.value().orders) == std::vector<std::int64_t>{other_sender.value().order.order_id, 3});
  CHECK(h.count("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('sync_orders_by_ref', 'sync_orders_new')") == 0);
  CHECK(h.count("SELECT COUNT(*) FROM pragma_foreign_key_check") == 0);
}

TEST_CASE("sqlite migrations: the rebuilt order table keeps the highest id ever handed out",
          "[store][sqlite][migration]") {
  // Schema 2 with orders 1..3 of which the newest was removed (as ops or a
  // retention might): AUTOINCREMENT never hands out 3 again, before or
  // after migration 0003.
  auto location = std::make_shared<TestStore>(StoreBackend::sqlite);
  {
    sqlite::Db db(location->sqlite_file().string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    db.exec("PRAGMA journal_mode=WAL");
    sqlite::migrate(db, sqlite::embedded_migrations().first(2));
    db.exec("BEGIN");
    db.exec("INSERT INTO sessions VALUES ('counter-1', 'c', 'main', 1, 0, 'x', 't', 't')");
    db.exec("INSERT INTO sessions VALUES ('kitchen-1', 'k', 'main', 0, 1, 'x', 't', 't')");
    for (int id = 1; id <= 3; ++id) {
      db.query(
            "INSERT INTO sync_orders (order_id, shop, sender, sender_name, ref, mode, order_json, line_count,"
            " created_at) VALUES (?1, 'main', 'counter-1', 'c', ?2, 'copy', '{}', 0, 't')")
          .bind_all(id, "r" + std::to_string(id))
          .run();
    }
    db.exec("DELETE FROM sync_orders WHERE order_id = 3");
    db.exec("COMMIT");
  }
  Harness h({}, location);
  auto fresh = h.send("counter-1", "after", {"kitchen-1"});
  REQUIRE(fresh.ok());
  CHECK(fresh.value().order.order_id == 4);
}
