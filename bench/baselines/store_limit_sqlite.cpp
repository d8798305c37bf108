// store-limit-sqlite: how many orders per second the disk lets SQLite store
// with possync's schema and pragmas, without the broker around it. The
// baseline for "durable throughput" in issue #6.
//
// The database is created and migrated exactly as the broker does it
// (SqliteStore::open: WAL, synchronous=FULL, the embedded migrations), then
// closed and reopened on one writer connection with the same pragmas. Each
// transaction is one group-commit batch of the broker's size
// (StoreOptions::max_batch requests) and holds, for each order:
//
//   --mode raw     only the rows: the sync_orders row, one deliveries row and
//                  one history row per receiver; with --ack also each
//                  receiver's ack (delivery update, history row; PostgreSQL
//                  also touches the order row, SQLite no longer: migration 0002).
//   --mode broker  the broker's own order engine (storage/engine/batch.hpp:
//                  load what the batch's sends and acks name, decide each by
//                  its rule, write it all) on SqliteBatch, as the writer
//                  thread runs a batch: lookups and checks included.
//
// With --ack a batch holds half sends, half acks of the previous batch's
// orders, as the broker's queue does in a steady pairs run.
//
// --senders S spreads the orders over S senders in turn, each with its own R
// receivers, in shops of 5 senders and their receivers: the sessions of a
// `pairs` run of S senders (R = 1) or of a fanout (S = 1), so that the rows
// land in the same places of the indexes as the broker's. The default (one
// sender, one receiver) writes every index at one place.
//
//   store-limit-sqlite --db PATH [--mode raw|broker] [--seconds S] [--batch B]
//                      [--senders S] [--receivers R] [--lines L] [--ack] [--json FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/common/sample_order.hpp"
#include "storage/sqlite/db.hpp"
#include "storage/sqlite/sqlite_store.hpp"
#include "storage/engine/rule_store.hpp"
#include "storage/sqlite/writes.hpp"

namespace {

using namespace possync;
using storage::sqlite::Db;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string db;
  std::string mode = "raw";
  double seconds = 5;
  std::size_t batch = storage::StoreOptions{}.max_batch;
  int senders = 1;
  int receivers = 1;
  int lines = 5;
  bool ack = false;
  std::string json;
};

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "--ack") {
      a.ack = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    if (key == "--db") a.db = value;
    else if (key == "--mode") a.mode = value;
    else if (key == "--seconds") a.seconds = std::stod(value);
    else if (key == "--batch") a.batch = std::stoul(value);
    else if (key == "--senders") a.senders = std::stoi(value);
    else if (key == "--receivers") a.receivers = std::stoi(value);
    else if (key == "--lines") a.lines = std::stoi(value);
    else if (key == "--json") a.json = value;
    else return false;
  }
  return !a.db.empty() && (a.mode == "raw" || a.mode == "broker") && a.seconds > 0 && a.batch > 0 &&
         a.senders > 0 && a.receivers > 0 && a.lines > 0 && (!a.ack || a.batch >= 2);
}

// Row writes per request, counted as the statements below make them.
struct Tally {
  std::int64_t orders = 0;
  std::int64_t acks = 0;
  std::int64_t rows = 0;  // rows inserted or updated
};

std::string shop_name(int sender) { return "bench-" + std::to_string(sender / 5); }
std::string sender_name(int sender) { return "limit-tx-" + std::to_string(sender); }
std::string receiver_name(int sender, int i) { return "limit-rx-" + std::to_string(sender) + "-" + std::to_string(i); }

// One order's rows, as engine::send leaves them, without its lookups.
std::int64_t raw_send(Db& db, const std::string& shop, const std::string& sender, const std::string& ref,
                      const std::vector<std::string>& to, const std::string& order, int lines, Tally& tally) {
  const std::string at = protocol::format_time_ms(protocol::now_unix_ms());
  db.query(
        "INSERT INTO sync_orders (shop, sender, sender_name, ref, mode, order_json, line_count, created_at)"
        " VALUES (?1, ?2, ?2, ?3, 'copy', ?4, ?5, ?6)")
      .bind_all(shop, sender, ref, order, lines, at)
      .run();
  const std::int64_t order_id = db.last_insert_rowid();
  for (std::size_t i = 0; i < to.size(); ++i) {
    db.query("INSERT INTO deliveries (order_id, receiver, position, status, updated_at) VALUES (?1, ?2, ?3, 'sent', ?4)")
        .bind_all(order_id, to[i], static_cast<std::int64_t>(i), at)
        .run();
    db.query("INSERT INTO history (order_id, receiver, to_status, by_session, at) VALUES (?1, ?2, 'sent', ?3, ?4)")
        .bind_all(order_id, to[i], sender, at)
        .run();
  }
  tally.rows += 1 + 2 * static_cast<std::int64_t>(to.size());
  return order_id;
}

// One receiver's ack, as engine::ack leaves it (sent → received).
void raw_ack(Db& db, std::int64_t order_id, const std::string& receiver, Tally& tally) {
  const std::string at = protocol::format_time_ms(protocol::now_unix_ms());
  db.query("UPDATE deliveries SET status = 'received', updated_at = ?1 WHERE order_id = ?2 AND receiver = ?3")
      .bind_all(at, order_id, receiver)
      .run();
  db.query(
        "INSERT INTO history (order_id, receiver, from_status, to_status, by_session, at)"
        " VALUES (?1, ?2, 'sent', 'received', ?2, ?3)")
      .bind_all(order_id, receiver, at)
      .run();
  tally.rows += 2;
}

struct Ack {
  std::int64_t order_id;
  std::string receiver;
};

// Bytes this process has caused to be written to storage so far
// (/proc/self/io write_bytes: the WAL, the checkpoints into the database
// file, anything else), -1 where the kernel does not count them.
long long written_bytes() {
  std::FILE* f = std::fopen("/proc/self/io", "r");
  if (f == nullptr) return -1;
  char line[128];
  long long out = -1;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "write_bytes:", 12) == 0) out = std::atoll(line + 12);
  }
  std::fclose(f);
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  try {
    if (!parse(argc, argv, a)) throw std::invalid_argument("bad arguments");
  } catch (const std::exception&) {
    std::fprintf(stderr,
                 "usage: store-limit-sqlite --db PATH [--mode raw|broker] [--seconds S] [--batch B]\n"
                 "                          [--senders S] [--receivers R] [--lines L] [--ack] [--json FILE]\n");
    return 2;
  }

  // The broker's own open: pragmas and migrations exactly as in production.
  {
    std::string error;
    auto store = storage::sqlite::SqliteStore::open(a.db, storage::StoreOptions{}, error);
    if (!store) {
      std::fprintf(stderr, "store-limit-sqlite: %s\n", error.c_str());
      return 2;
    }
    store->close();
  }

  try {
    Db db(a.db, SQLITE_OPEN_READWRITE);
    // The pragmas SqliteStore::open sets on its writer (WAL is kept by the file).
    db.exec("PRAGMA synchronous=FULL");
    db.exec("PRAGMA foreign_keys=ON");
    if (db.exec_text("PRAGMA journal_mode") != "wal") throw std::runtime_error("the file is not in WAL mode");

    storage::sqlite::SqliteBatch ops(db);
    // Each sender's receivers. Broker mode checks roles and shops: the sessions must exist.
    std::vector<std::vector<std::string>> to(static_cast<std::size_t>(a.senders));
    ops.begin();
    {
      storage::engine::BatchRows rows(ops, {}, {});
      for (int j = 0; j < a.senders; ++j) {
        (void)storage::engine::put_session(
            rows, storage::SessionUpdate{sender_name(j), std::nullopt, shop_name(j), true, false});
        for (int i = 0; i < a.receivers; ++i) {
          to[static_cast<std::size_t>(j)].push_back(receiver_name(j, i));
          (void)storage::engine::put_session(
              rows, storage::SessionUpdate{receiver_name(j, i), std::nullopt, shop_name(j), false, true});
        }
      }
      ops.write(rows.take_changes());
    }
    ops.commit();

    const std::string run = std::to_string(protocol::now_unix_ms());
    const std::size_t sends_per_batch = a.ack ? a.batch / 2 : a.batch;
    Tally tally;
    std::vector<Ack> acks, next_acks;
    std::vector<double> commit_ms;
    std::int64_t seq = 0;
    const bool broker = a.mode == "broker";

    const long long written_before = written_bytes();
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration<double>(a.seconds);
    while (Clock::now() < deadline) {
      const auto t0 = Clock::now();
      ops.begin();
      // Broker mode: the engine's batch, as the writer runs it (load what
      // the requests name, decide each in turn, write it all).
      std::vector<storage::engine::requests::Send> sends;
      for (std::size_t i = 0; i < sends_per_batch; ++i) {
        const int j = static_cast<int>(seq % a.senders);
        const std::string sender = sender_name(j);
        const auto& receivers = to[static_cast<std::size_t>(j)];
        const std::string ref = "limit-" + run + "-" + sender + "-" + std::to_string(seq++);
        const std::string order = bench::sample_order_json(a.lines, seq);
        if (broker) {
          sends.push_back({storage::SendRequest{sender, ref, receivers, protocol::Mode::copy, order, a.lines}});
          tally.rows += 1 + 2 * static_cast<std::int64_t>(receivers.size());
        } else {
          const std::int64_t order_id = raw_send(db, shop_name(j), sender, ref, receivers, order, a.lines, tally);
          if (a.ack) {
            for (const auto& receiver : receivers) next_acks.push_back({order_id, receiver});
          }
        }
        ++tally.orders;
      }
      if (broker) {
        storage::engine::Wants wants;
        for (const auto& send : sends) send.want(wants);
        std::vector<storage::engine::requests::Ack> ack_requests;
        for (const auto& ack : acks) {
          ack_requests.push_back({ack.receiver, ack.order_id});
          ack_requests.back().want(wants);
        }
        storage::engine::Found found;
        ops.load(wants, found);
        storage::engine::BatchRows rows(ops, wants, std::move(found));
        for (const auto& send : sends) {
          auto sent = send.decide(rows);
          if (!sent) throw std::runtime_error("send refused: " + sent.error().message);
          if (a.ack) {
            for (const auto& receiver : send.request.to) next_acks.push_back({sent.value().order.order_id, receiver});
          }
        }
        for (const auto& ack : ack_requests) {
          auto acked = ack.decide(rows);
          if (!acked) throw std::runtime_error("ack refused: " + acked.error().message);
          tally.rows += 2;
          ++tally.acks;
        }
        ops.write(rows.take_changes());
      } else {
        for (const auto& ack : acks) {
          raw_ack(db, ack.order_id, ack.receiver, tally);
          ++tally.acks;
        }
      }
      ops.commit();
      commit_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      acks.swap(next_acks);
      next_acks.clear();
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    // Every page committed reaches the database file too: count the
    // checkpoint that copies the rest of the WAL there.
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const long long written_after = written_bytes();
    const double bytes_per_order = written_before < 0 || written_after < 0 || tally.orders == 0
                                       ? -1
                                       : static_cast<double>(written_after - written_before) /
                                             static_cast<double>(tally.orders);

    const double orders_per_s = static_cast<double>(tally.orders) / seconds;
    const double rows_per_s = static_cast<double>(tally.rows) / seconds;
    const double batches_per_s = static_cast<double>(commit_ms.size()) / seconds;
    const double p50 = percentile(commit_ms, 0.50), p99 = percentile(commit_ms, 0.99);
    std::printf(
        "store-limit sqlite mode=%s batch=%zu senders=%d receivers=%d lines=%d ack=%s: %.0f orders/s, %.0f rows/s, "
        "%.1f transactions/s, transaction p50 %.3f ms p99 %.3f ms, %.0f bytes written per order (%lld orders, %lld "
        "acks in %.1f s)\n",
        a.mode.c_str(), a.batch, a.senders, a.receivers, a.lines, a.ack ? "yes" : "no", orders_per_s, rows_per_s,
        batches_per_s, p50, p99, bytes_per_order, static_cast<long long>(tally.orders), static_cast<long long>(tally.acks), seconds);
    if (!a.json.empty()) {
      std::FILE* out = std::fopen(a.json.c_str(), "w");
      if (out == nullptr) throw std::runtime_error("cannot write " + a.json);
      std::fprintf(out,
                   "{\"store\":\"sqlite\",\"mode\":\"%s\",\"batch\":%zu,\"senders\":%d,\"receivers\":%d,\"lines\":%d,\"ack\":%s,"
                   "\"seconds\":%.3f,\"orders\":%lld,\"acks\":%lld,\"rows\":%lld,\"transactions\":%zu,"
                   "\"orders_per_s\":%.1f,\"rows_per_s\":%.1f,\"transactions_per_s\":%.1f,"
                   "\"transaction_ms_p50\":%.4f,\"transaction_ms_p99\":%.4f,\"bytes_written_per_order\":%.0f}\n",
                   a.mode.c_str(), a.batch, a.senders, a.receivers, a.lines, a.ack ? "true" : "false", seconds,
                   static_cast<long long>(tally.orders), static_cast<long long>(tally.acks),
                   static_cast<long long>(tally.rows), commit_ms.size(), orders_per_s, rows_per_s, batches_per_s, p50,
                   p99, bytes_per_order);
      std::fclose(out);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store-limit-sqlite: %s\n", e.what());
    return 1;
  }
  return 0;
}
