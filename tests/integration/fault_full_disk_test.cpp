// A fault with the real broker binary on a real SQLite file (issue #7):
// SQLite on a full disk, a small tmpfs the test mounts (so it runs as root).
// Sends answer `unavailable` and store nothing while the broker keeps
// serving, work again once there is room, and the file stays intact. Every
// wait is bounded in time and count and ends on an observable event, never
// on a sleep.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "tests/integration/broker_process.hpp"
#include "tests/integration/exposition.hpp"
#include "tests/integration/fault_support.hpp"
#include "tests/integration/harness.hpp"

using namespace possync::test;
using namespace possync::test::fault;

namespace {

// A tmpfs mounted for the test, unmounted (lazily, so a leftover open file
// cannot keep it) when the test ends, whether it passed or not.
struct TmpfsMount {
  std::filesystem::path dir;
  std::string error;
  bool mounted = false;
  TmpfsMount(std::filesystem::path d, const std::string& options) : dir(std::move(d)) {
    std::filesystem::create_directories(dir);
    if (::geteuid() != 0) {
      error = "not running as root (euid " + std::to_string(::geteuid()) + ")";
    } else if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      error = std::string("mount -t tmpfs -o ") + options + " failed: " + std::strerror(errno);
    } else {
      mounted = true;
    }
  }
  ~TmpfsMount() {
    if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
};

// Writes `path` until the file system is full; its size.
std::size_t fill_disk(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  std::string chunk(65536, 'f');
  std::size_t total = 0;
  for (std::size_t size : {std::size_t{65536}, std::size_t{4096}, std::size_t{512}}) {
    for (int i = 0; i < 100000; ++i) {
      auto n = ::write(fd, chunk.data(), size);
      if (n <= 0) break;
      total += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  return total;
}

std::string integrity_check(const std::string& path) {
  sqlite3* db = nullptr;
  std::string answer;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    answer = std::string("cannot open: ") + sqlite3_errmsg(db);
  } else {
    sqlite3_exec(
        db, "PRAGMA integrity_check",
        [](void* out, int, char** values, char**) {
          auto& s = *static_cast<std::string*>(out);
          if (!s.empty()) s += "\n";
          s += values[0] ? values[0] : "(null)";
          return 0;
        },
        &answer, nullptr);
  }
  sqlite3_close_v2(db);
  return answer;
}

}  // namespace

TEST_CASE("fault: SQLite on a full disk - send answers unavailable and stores nothing, the broker keeps serving, "
          "sends work again once there is room, the file stays intact and keeps every acknowledged order",
          "[process][fault]") {
  TempDir dir;
  TmpfsMount disk(dir.path / "disk", "size=8m,mode=0700");
  if (!disk.mounted) FAIL("this test needs root to mount a small tmpfs: " << disk.error);
  const auto file = (disk.dir / "full.db").string();
  std::set<std::string> acked_refs;
  std::map<std::string, std::int64_t> acked;
  std::string failed_ref;
  int attempts = 0;
  {
    BrokerProcess broker("sqlite:" + file, {"--rate-limit", "1000000"});
    auto counter_token = broker.add_session("counter-1", true, false);
    auto kitchen_token = broker.add_session("kitchen-1", false, true);
    TestClient c(broker.port, "counter-1", counter_token);
    TestClient k(broker.port, "kitchen-1", kitchen_token);
    REQUIRE(c.connect_and_hello().ok());
    REQUIRE(k.connect_and_hello().ok());
    const std::string order = sample_order(40);  // ~3 kB
    auto send = [&](const std::string& ref) { return c.call(send_json(ref, {"kitchen-1"}, "copy", order)); };
    for (int i = 0; i < 30; ++i) {
      const std::string ref = "F-" + std::to_string(attempts++);
      auto r = send(ref);
      REQUIRE(r.ok());
      acked[ref] = r.message->int_field("order_id");
    }
    const auto filler = disk.dir / "filler";
    const auto filled = fill_disk(filler);
    // Send until the store says `unavailable` (bounded: 8 MB hold fewer than 3000 of these).
    while (attempts < 3000) {
      const std::string ref = "F-" + std::to_string(attempts++);
      auto r = send(ref);
      REQUIRE(r.message);  // a reply, not a dropped connection
      if (r.ok()) {
        acked[ref] = r.message->int_field("order_id");
        continue;
      }
      REQUIRE(r.message->error_code() == "unavailable");
      failed_ref = ref;
      break;
    }
    WARN("full disk: filler of " << filled / 1024 << " KiB; " << acked.size() << " sends acknowledged, "
                                 << failed_ref << " got `unavailable`");
    REQUIRE_FALSE(failed_ref.empty());
    REQUIRE_FALSE(broker.proc->wait(std::chrono::milliseconds(0)));  // still running

    // The broker keeps serving: ping, /healthz, /readyz answers, reads work,
    // the failed order is not stored, and a retry while full fails the same way.
    CHECK(c.call(R"({"type":"ping"})").ok());
    CHECK(k.call(R"({"type":"ping"})").ok());
    auto health = possync::client::http_request("127.0.0.1", broker.port, "GET", "/healthz");
    CHECK(health.status == 200);
    // /readyz says not ready while the disk is full, also after the
    // writer's probes (once a second while idle) have looked again: a probe
    // must write to pass (it used to take the write lock only, which a full
    // disk allows, and /readyz turned 200 a second later).
    auto ready = possync::client::http_request("127.0.0.1", broker.port, "GET", "/readyz");
    CHECK(ready.status == 503);
    const auto probes = [&]() -> double {
      auto metrics = possync::client::http_request("127.0.0.1", broker.port, "GET", "/metrics");
      Exposition e;
      if (metrics.status != 200 || !parse_exposition(metrics.body, e).empty()) return -1;
      return e.value("possync_store_write_probes_total").value_or(-1);
    };
    const double probes_before = probes();
    REQUIRE(probes_before >= 0);
    REQUIRE(eventually([&] { return probes() >= probes_before + 2; }, std::chrono::seconds(10)));
    ready = possync::client::http_request("127.0.0.1", broker.port, "GET", "/readyz");
    CHECK(ready.status == 503);
    CHECK(ready.body.find("unavailable") != std::string::npos);
    CHECK(list_all_orders(broker.port, "ref=" + failed_ref).empty());
    for (int i = 0; i < 3; ++i) {
      auto again = send(failed_ref);
      REQUIRE(again.message);
      CHECK(again.message->error_code() == "unavailable");
    }
    {
      auto stored = list_all_orders(broker.port);
      std::map<std::string, int> n;
      for (const auto& o : stored) ++n[o.ref];
      for (const auto& [ref, id] : acked) {
        INFO(ref);
        CHECK(n[ref] == 1);
      }
      CHECK(n.count(failed_ref) == 0);
    }

    // Room again: the same ref is stored once, as a new order.
    std::filesystem::remove(filler);
    int retries = 0;
    possync::client::Reply r;
    for (; retries < 20; ++retries) {
      r = send(failed_ref);
      REQUIRE(r.message);
      if (r.ok() || r.message->error_code() != "unavailable") break;
    }
    INFO("retries after the filler went: " << retries);
    REQUIRE(r.ok());
    CHECK(r.message->doc["duplicate"].GetBool() == false);
    acked[failed_ref] = r.message->int_field("order_id");
    auto dup = send(failed_ref);
    REQUIRE(dup.ok());
    CHECK(dup.message->doc["duplicate"].GetBool() == true);
    CHECK(dup.message->int_field("order_id") == acked[failed_ref]);
    for (int i = 0; i < 20; ++i) {
      const std::string ref = "F-" + std::to_string(attempts++);
      auto more = send(ref);
      REQUIRE(more.ok());
      acked[ref] = more.message->int_field("order_id");
    }
    REQUIRE(eventually(
        [&] {
          return possync::client::http_request("127.0.0.1", broker.port, "GET", "/readyz").status == 200;
        },
        std::chrono::seconds(10)));
    // The kitchen got every acknowledged order once, and nothing else.
    std::map<std::string, int> pushed;
    while (pushed.size() < acked.size()) {
      auto m = k.wait_type("order", std::chrono::seconds(10));
      if (!m) break;
      ++pushed[m->string_field("ref")];
    }
    REQUIRE(k.sync());
    while (auto m = k.next_push(std::chrono::milliseconds(0))) {
      if (m->type() == "order") ++pushed[m->string_field("ref")];
    }
    CHECK(pushed.size() == acked.size());
    for (const auto& [ref, n] : pushed) {
      INFO(ref);
      CHECK(acked.count(ref) == 1);
      CHECK(n == 1);
    }

    broker.proc->signal(SIGKILL);
    CHECK(broker.proc->wait(std::chrono::seconds(10)) == 128 + SIGKILL);
  }
  CHECK(integrity_check(file) == "ok");

  BrokerProcess broker("sqlite:" + file);
  std::map<std::string, std::vector<std::int64_t>> stored;
  for (const auto& o : list_all_orders(broker.port)) stored[o.ref].push_back(o.order_id);
  CHECK(stored.size() == acked.size());
  for (const auto& [ref, id] : acked) {
    INFO(ref);
    CHECK(stored[ref] == std::vector<std::int64_t>{id});
  }
}
