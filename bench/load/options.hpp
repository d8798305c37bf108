// possync-load's command line: every knob of a run, with its default, in
// one struct. parse_options() never exits; main() decides what to print.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace possync::load {

enum class Mode { load, soak, idle, storm };
enum class Topology { pairs, fanout, mesh, claim };

const char* mode_name(Mode mode);
const char* topology_name(Topology topology);

struct Options {
  Mode mode = Mode::load;
  Topology topology = Topology::pairs;

  // The broker.
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  // Where receive-only sessions connect (another node of a cluster sharing
  // the database); empty / 0: host and port. Provisioning and /api/stats use
  // host and port.
  std::string receiver_host;
  std::uint16_t receiver_port = 0;
  std::string admin_token;     // provisions sessions through the ops API
  std::string tokens_in;       // or: "session token" lines from an earlier --save-tokens
  std::string tokens_out;      // write the provisioned tokens here
  std::string prefix;          // session/shop/ref prefix; random per run when empty
  std::vector<int> broker_pids;  // local broker PIDs (one per node): CPU and RSS from /proc, summed

  // Who talks to whom.
  int senders = 0;      // pairs: pairs (10); fanout/claim: senders (1)
  int receivers = 0;    // fanout/claim: receivers per sender (10); storm: receivers (1000)
  int terminals = 20;   // mesh: terminals, each sender and receiver
  int to = 2;           // mesh: receivers per order, chosen at random in the shop
  int shop_size = 10;   // terminals per shop, as in a chain of shops
  int connections = 1000;  // idle: connections to open and hold

  // How much, how fast.
  int window = 4;              // sends in flight per sender
  double rate = 0;             // orders/s over all senders; 0 = flat out
  double duration_s = 10;      // load/soak: sending time (unless --count ends it first)
  std::int64_t count = 0;      // load: orders in total (0 = by duration)
  int lines = 5;               // lines per order
  bool ack = true;             // receivers ack every push (copy mode), as a POS does
  int pending = 10;            // storm: pending orders per receiver
  double hold_s = 5;           // idle: how long the connections are held
  double interval_s = 60;      // soak: report interval

  // The harness itself.
  int threads = 1;             // io threads of the client runtime
  int connect_concurrency = 0; // connects in progress at once (0: 200, storm: all)
  int local_addrs = -1;        // bind clients to 127.0.0.2.. (N addresses; -1 auto, 0 none)
  int provision_parallel = 8;  // concurrent ops API requests while provisioning
  int request_timeout_ms = 30000;
  double drain_timeout_s = 30; // after sending stops: wait this long at most for replies and pushes
  std::string json_path;       // write the machine report here ("-" = stdout)
  bool progress = true;        // a progress line on stderr every second
};

// Parses argv; on error returns the message (one line) and leaves `out` partly filled.
std::optional<std::string> parse_options(int argc, char** argv, Options& out, bool& help);
const char* usage_text();

}  // namespace possync::load
