// TLS (issue #7, item 2): with --tls-cert/--tls-key every connection on the
// listen port is TLS — wss:// for POS terminals and dashboards, https:// for
// the ops API, /metrics and the pages. The certificate is made by the test.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <regex>

#include "tests/integration/harness.hpp"
#include "tests/integration/process.hpp"
#include "tests/integration/raw_socket.hpp"
#include "tests/integration/test_certs.hpp"

using namespace possync::test;
namespace pc = possync::client;

namespace {

struct TlsBroker {
  TempDir dir;
  TestCert cert = make_test_cert(dir.path, "broker");
  TestBroker broker{{[this](possync::broker::Config& c) {
    c.tls_cert_file = cert.cert_file;
    c.tls_key_file = cert.key_file;
    c.handshake_timeout_ms = 500;
  }}};

  // Connection options that trust the test certificate.
  pc::Options endpoint(const std::string& session = "", const std::string& token = "") const {
    pc::Options o;
    o.port = broker.port();
    o.tls = true;
    o.ca_file = cert.cert_file;
    o.session = session;
    o.token = token;
    return o;
  }
  pc::HttpResponse https(const std::string& method, const std::string& target, const std::string& body = "") {
    return pc::http_request(endpoint(), method, target, broker.admin_token(), body);
  }
  std::string add_session(const std::string& id, bool sender, bool receiver) {
    auto res = https("PUT", "/api/sessions/" + id,
                     std::string(R"({"sender":)") + (sender ? "true" : "false") + R"(,"receiver":)" +
                         (receiver ? "true" : "false") + "}");
    REQUIRE(res.status == 201);
    std::smatch m;
    REQUIRE(std::regex_search(res.body, m, std::regex(R"re("token":"([0-9a-f]{64})")re")));
    return m[1];
  }
};

}  // namespace

TEST_CASE_METHOD(TlsBroker, "tls: wss:// hello, send and push round trip, https:// ops API, /metrics and pages",
                 "[tls]") {
  const auto counter_token = add_session("counter-1", true, false);
  const auto kitchen_token = add_session("kitchen-1", false, true);
  TestClient kitchen(endpoint("kitchen-1", kitchen_token));
  TestClient counter(endpoint("counter-1", counter_token));
  REQUIRE(kitchen.connect_and_hello().ok());
  REQUIRE(counter.connect_and_hello().ok());
  auto sent = counter.call(send_json("TLS-1", {"kitchen-1"}));
  REQUIRE(sent.ok());
  auto push = kitchen.wait_type("order");
  REQUIRE(push);
  CHECK(push->string_field("ref") == "TLS-1");
  kitchen.raw().ack(push->int_field("order_id"));
  REQUIRE(counter.wait_push(status_is(push->int_field("order_id"), "kitchen-1", "received")));

  auto detail = https("GET", "/api/orders/" + std::to_string(push->int_field("order_id")));
  CHECK(detail.status == 200);
  CHECK(detail.body.find("TLS-1") != std::string::npos);
  auto metrics = pc::http_request(endpoint(), "GET", "/metrics", "");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("possync_orders_sent_total") != std::string::npos);
  CHECK(pc::http_request(endpoint(), "GET", "/healthz", "").status == 200);
  CHECK(pc::http_request(endpoint(), "GET", "/", "").status == 200);

  // The dashboard's stream is wss:// too.
  auto live_options = endpoint();
  live_options.path = "/api/live";
  TestClient live(live_options);
  REQUIRE(live.connect());
  live.send_text(R"({"type":"hello","token":")" + broker.admin_token() + "\"}");
  auto welcome = live.next_push();
  REQUIRE(welcome);
  CHECK(welcome->type() == "welcome");

  // A clean close over TLS: the client sees our code.
  counter.raw().close(1000);
  CHECK(counter.wait_closed().value_or(-1) == 1000);
}

TEST_CASE_METHOD(TlsBroker, "tls: plain HTTP or ws:// to the TLS port fails cleanly, the broker stays responsive",
                 "[tls]") {
  const auto kitchen_token = add_session("kitchen-1", false, true);
  TestClient kitchen(endpoint("kitchen-1", kitchen_token));
  REQUIRE(kitchen.connect_and_hello().ok());

  // Plain HTTP: no HTTP answer, the connection is closed.
  RawSocket raw(broker.port());
  REQUIRE(raw.connected());
  raw.send(http_get("/healthz"));
  auto answer = raw.read_until("", std::chrono::seconds(3));
  CHECK(answer.rfind("HTTP/", 0) == std::string::npos);
  CHECK(raw.closed());
  // The library without TLS: a handshake error, not a hang.
  pc::Options plain = endpoint("kitchen-1", kitchen_token);
  plain.tls = false;
  TestClient plain_client(plain);
  CHECK_FALSE(plain_client.connect());
  auto http_plain = pc::http_request("127.0.0.1", broker.port(), "GET", "/healthz", "", "", std::chrono::seconds(3));
  CHECK(http_plain.status == 0);
  CHECK(http_plain.error != "timeout");

  // Everyone else is served as before.
  CHECK(kitchen.call(R"({"type":"ping"})").ok());
  CHECK(https("GET", "/api/stats").status == 200);
  TestClient again(endpoint("kitchen-1", kitchen_token));
  CHECK(again.connect_and_hello().ok());
}

TEST_CASE_METHOD(TlsBroker, "tls: the client verifies the certificate: an unknown CA or a wrong name is refused",
                 "[tls]") {
  const auto kitchen_token = add_session("kitchen-1", false, true);
  auto stranger = make_test_cert(dir.path, "stranger");
  auto untrusting = endpoint("kitchen-1", kitchen_token);
  untrusting.ca_file = stranger.cert_file;
  TestClient refused(untrusting);
  auto r = refused.connect_and_hello();
  CHECK_FALSE(r.message);
  CHECK(r.failure.find("certificate verify failed") != std::string::npos);
  CHECK(pc::http_request(untrusting, "GET", "/healthz").status == 0);
  // A trusted certificate that names another host is refused as well.
  auto misnamed = make_test_cert(dir.path, "misnamed", "DNS:elsewhere.example");
  TestBroker elsewhere{{[&](possync::broker::Config& c) {
    c.tls_cert_file = misnamed.cert_file;
    c.tls_key_file = misnamed.key_file;
  }}};
  auto wrong_name = endpoint();
  wrong_name.port = elsewhere.port();
  wrong_name.ca_file = misnamed.cert_file;
  auto refused_name = pc::http_request(wrong_name, "GET", "/healthz");
  CHECK(refused_name.status == 0);
  CHECK(refused_name.error.find("certificate verify failed") != std::string::npos);
  wrong_name.insecure = true;
  CHECK(pc::http_request(wrong_name, "GET", "/healthz").status == 200);
  // The test certificate names 127.0.0.1 and localhost.
  auto by_name = endpoint("kitchen-1", kitchen_token);
  by_name.host = "localhost";
  CHECK(pc::http_request(by_name, "GET", "/healthz").status == 200);
  // Tests may skip verification explicitly.
  auto insecure = endpoint("kitchen-1", kitchen_token);
  insecure.ca_file.clear();
  insecure.insecure = true;
  TestClient accepted(insecure);
  CHECK(accepted.connect_and_hello().ok());
}

TEST_CASE_METHOD(TlsBroker, "tls: a connection that never completes its TLS handshake is cut by --handshake-timeout-ms",
                 "[tls]") {
  RawSocket silent(broker.port());
  REQUIRE(silent.connected());
  RawSocket trickle(broker.port());
  REQUIRE(trickle.connected());
  trickle.send(std::string("\x16\x03\x01", 3));  // the start of a ClientHello, then nothing
  CHECK(silent.wait_closed(std::chrono::seconds(5)));
  CHECK(trickle.wait_closed(std::chrono::seconds(5)));
}

TEST_CASE("tls: a missing, unreadable or mismatched certificate or key exits 2 with one line", "[tls][process]") {
  TempDir dir;
  auto cert = make_test_cert(dir.path, "good");
  auto other = make_test_cert(dir.path, "other");
  const auto garbage = (dir.path / "garbage.pem").string();
  std::ofstream(garbage) << "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  const std::string db = "sqlite:" + (dir.path / "b.db").string();
  struct Case {
    std::vector<std::string> flags;
    std::string says;
  };
  std::vector<Case> cases = {
      {{"--tls-cert", (dir.path / "none.crt").string(), "--tls-key", cert.key_file}, "--tls-cert"},
      {{"--tls-cert", garbage, "--tls-key", cert.key_file}, "--tls-cert"},
      {{"--tls-cert", cert.cert_file, "--tls-key", (dir.path / "none.key").string()}, "--tls-key"},
      {{"--tls-cert", cert.cert_file, "--tls-key", other.key_file}, "--tls-key"},
      {{"--tls-cert", cert.cert_file}, "go together"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {POSSYNC_BROKER_BIN, "--listen", "127.0.0.1:0", "--store", db};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    auto r = run_command(argv);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(c.says) != std::string::npos);
  }
}

TEST_CASE("tls: the broker binary prints wss:// and https:// URLs, the CLI talks to it with --ca", "[tls][process]") {
  TempDir dir;
  auto cert = make_test_cert(dir.path, "broker");
  const std::string admin = "tls-process-admin-token-0123456789";
  ChildProcess broker({POSSYNC_BROKER_BIN, "--listen", "127.0.0.1:0", "--store",
                       "sqlite:" + (dir.path / "b.db").string(), "--admin-token", admin, "--tls-cert",
                       cert.cert_file, "--tls-key", cert.key_file, "--log-level", "warn"});
  std::vector<std::string> lines;
  for (int i = 0; i < 4; ++i) {
    auto line = broker.read_line(std::chrono::seconds(10));
    REQUIRE(line);
    lines.push_back(*line);
  }
  std::smatch m;
  REQUIRE(std::regex_match(lines[0], m, std::regex(R"(WebSocket wss://127\.0\.0\.1:(\d+)/ws)")));
  const std::string port = m[1];
  CHECK(lines[1] == "Dashboard https://127.0.0.1:" + port + "/");
  CHECK(lines[2] == "POS https://127.0.0.1:" + port + "/pos");
  CHECK(lines[3] == "Metrics https://127.0.0.1:" + port + "/metrics");

  const std::string url = "wss://127.0.0.1:" + port + "/ws";
  auto add = run_command({POSSYNC_CLI_BIN, "--url", url, "--ca", cert.cert_file, "--admin-token", admin, "sessions",
                          "add", "kitchen-1", "--receiver"});
  INFO(add.err);
  REQUIRE(add.exit_code == 0);
  REQUIRE(std::regex_search(add.out, m, std::regex(R"re("token": ?"([0-9a-f]{64})")re")));
  const std::string token = m[1];
  auto dir_cmd = run_command({POSSYNC_CLI_BIN, "--url", url, "--ca", cert.cert_file, "--session", "kitchen-1",
                              "--token", token, "directory"});
  INFO(dir_cmd.err);
  CHECK(dir_cmd.exit_code == 0);
  CHECK(dir_cmd.out.find("kitchen-1") != std::string::npos);
  // Without the CA the CLI refuses the self-signed certificate: exit 3.
  auto untrusted = run_command(
      {POSSYNC_CLI_BIN, "--url", url, "--session", "kitchen-1", "--token", token, "directory"});
  CHECK(untrusted.exit_code == 3);
  // --tls with a ws:// URL is the same as wss://.
  auto flag = run_command({POSSYNC_CLI_BIN, "--url", "ws://127.0.0.1:" + port, "--tls", "--ca", cert.cert_file,
                           "--admin-token", admin, "sessions", "list"});
  CHECK(flag.exit_code == 0);
}
