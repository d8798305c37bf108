// The WebSocket commands of `possync`: send, listen, list, deliver, reject,
// cancel, directory. Each opens one connection, says hello, does its work and
// closes with 1000.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <random>
#include <sstream>

#include "clients/cli/cli.hpp"

namespace possync::cli {

namespace {

namespace pc = possync::client;

void complain_error_reply(const pc::Message& m) {
  const std::string message = m.string_field("message");
  complain(m.error_code() + (message.empty() ? "" : ": " + message));
}

// Prints a reply and maps it to an exit code.
int report(const pc::Reply& reply) {
  if (!reply.message) {
    complain(reply.failure == "timeout" ? "timeout waiting for the broker's reply" : reply.failure);
    return kExitUnreachable;
  }
  if (reply.message->is_error()) {
    complain_error_reply(*reply.message);
    return kExitBrokerError;
  }
  print_line(pretty_json(reply.message->text));
  return kExitOk;
}

// Runs an asynchronous typed request and waits for its reply.
template <typename Start>
pc::Reply wait_reply(Start start) {
  auto promise = std::make_shared<std::promise<pc::Reply>>();
  auto future = promise->get_future();
  start([promise = std::move(promise)](pc::Reply reply) { promise->set_value(std::move(reply)); });
  try {
    return future.get();
  } catch (const std::future_error&) {
    return pc::Reply{nullptr, "closed: client stopped"};
  }
}

// One authenticated connection for the duration of a command.
class Broker {
 public:
  explicit Broker(const Globals& globals) : url_(globals.url) {
    if (globals.session.empty()) throw UsageError("no session: give --session or set POSSYNC_SESSION");
    if (globals.token.empty()) throw UsageError("no token: give --token or set POSSYNC_TOKEN");
    pc::Options options = endpoint_options(globals);
    options.session = globals.session;
    options.token = globals.token;
    options.client_name = "possync-cli/" POSSYNC_VERSION;
    client_ = pc::Client::create(runtime_, std::move(options));
    client_->on_close([this](int code, std::string reason) {
      std::function<void()> hook;
      {
        std::lock_guard lock(mutex_);
        closed_ = true;
        close_code_ = code;
        close_reason_ = std::move(reason);
        hook = close_hook_;
      }
      closed_cv_.notify_all();
      if (hook) hook();
    });
  }
  ~Broker() { close(); }
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  std::shared_ptr<pc::Client> client() const { return client_; }
  // Before open(): called on a client thread when the connection ends.
  void on_closed(std::function<void()> hook) {
    std::lock_guard lock(mutex_);
    close_hook_ = std::move(hook);
  }

  // Connect and hello; kExitOk or the exit code after printing why not.
  int open() {
    const std::string error = client_->connect_sync();
    if (!error.empty()) {
      complain("cannot connect to " + url_ + ": " + error);
      return kExitUnreachable;
    }
    const pc::Reply welcome = client_->hello_sync();
    if (!welcome.message) {
      complain("no welcome from " + url_ + ": " + welcome.failure);
      return kExitUnreachable;
    }
    if (welcome.message->is_error()) {
      complain_error_reply(*welcome.message);
      return kExitBrokerError;
    }
    welcome_ = welcome.message;
    return kExitOk;
  }

  const pc::MessagePtr& welcome() const { return welcome_; }

  // Close with 1000 and give the closing handshake a moment to finish.
  void close() {
    client_->close(1000);
    std::unique_lock lock(mutex_);
    if (welcome_) closed_cv_.wait_for(lock, std::chrono::seconds(2), [&] { return closed_; });
  }

  // Whether the connection ended, and how.
  bool closed(int& code, std::string& reason) {
    std::lock_guard lock(mutex_);
    code = close_code_;
    reason = close_reason_;
    return closed_;
  }

 private:
  std::string url_;
  // Declared before the runtime: its threads may still call into them until
  // the runtime is destroyed.
  std::mutex mutex_;
  std::condition_variable closed_cv_;
  bool closed_ = false;
  int close_code_ = 0;
  std::string close_reason_;
  std::function<void()> close_hook_;
  pc::MessagePtr welcome_;
  pc::Runtime runtime_{1};
  std::shared_ptr<pc::Client> client_;
};

std::string read_order_text(const std::string& file) {
  std::string text;
  if (file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw UsageError("cannot read " + file + ": " + std::strerror(errno));
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (!is_json_object(text)) throw UsageError((file == "-" ? "stdin" : file) + ": not a JSON object");
  return text;
}

std::string fresh_ref(const std::string& session) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  std::random_device random;
  std::ostringstream ref;
  ref << "cli-" << session << '-' << ms << '-' << std::hex << random();
  return ref.str();
}

int cmd_send(const Globals& globals, std::vector<std::string> words) {
  const Args args(std::move(words), {"--to", "--mode", "--ref"}, {});
  if (args.positionals().size() > 1) throw UsageError("unexpected argument " + args.positionals()[1]);
  const auto to = args.value("--to");
  if (!to) throw UsageError("send: --to ID[,ID...] is required");
  const auto receivers = split_list(*to);
  if (receivers.empty()) throw UsageError("send: --to names no session");
  const std::string mode = args.value("--mode").value_or("");
  if (!mode.empty() && mode != "copy" && mode != "claim") throw UsageError("--mode must be copy or claim");

  Broker broker(globals);  // checks the credentials before stdin is read
  const std::string order = read_order_text(args.positionals().empty() ? "-" : args.positionals()[0]);
  const std::string ref = args.value("--ref").value_or(fresh_ref(globals.session));
  if (const int code = broker.open(); code != kExitOk) return code;
  const auto client = broker.client();
  return report(wait_reply([&](pc::ReplyHandler done) {
    client->send_order(ref, receivers, mode, order, std::move(done));
  }));
}

// The listen loop wakes on a pipe written by pushes, the close and signals.
int g_wake_fd = -1;

extern "C" void on_stop_signal(int) {
  const char c = 's';
  [[maybe_unused]] const auto n = ::write(g_wake_fd, &c, 1);
}

int cmd_listen(const Globals& globals, std::vector<std::string> words) {
  const Args args(std::move(words), {"--count"}, {"--no-ack"});
  args.expect_positionals(0, "");
  std::int64_t count = 0;  // 0: until interrupted
  if (const auto text = args.value("--count")) {
    count = parse_int("--count", *text);
    if (count <= 0) throw UsageError("--count: must be positive");
  }
  const bool ack = !args.has("--no-ack");

  int wake[2];
  if (::pipe2(wake, O_CLOEXEC) != 0) {
    complain(std::string("pipe: ") + std::strerror(errno));
    return kExitUnreachable;
  }
  g_wake_fd = wake[1];
  const auto wake_up = [fd = wake[1]] {
    const char c = 'w';
    [[maybe_unused]] const auto n = ::write(fd, &c, 1);
  };

  std::atomic<std::int64_t> seen{0};  // outlives the broker's threads
  Broker broker(globals);
  std::weak_ptr<pc::Client> weak_client = broker.client();
  broker.client()->on_push([&seen, count, ack, weak_client, wake_up](pc::MessagePtr m) {
    if (count > 0 && seen.load() >= count) return;  // arrived while closing
    print_line(compact_json(m->text));
    if (ack && m->type() == "order") {
      if (auto client = weak_client.lock()) client->ack(m->int_field("order_id"));
    }
    if (++seen == count) wake_up();
  });
  broker.on_closed(wake_up);
  if (const int code = broker.open(); code != kExitOk) return code;
  // Only now: Ctrl-C during the connect should just end the process.
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  const auto& welcome = *broker.welcome();
  complain("listening as " + welcome.string_field("session") + " (shop " + welcome.string_field("shop") + ")" +
           (ack ? "" : ", not acking"));

  for (;;) {
    char c = 0;
    const auto n = ::read(wake[0], &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (c == 's' || n <= 0) break;                 // Ctrl-C / SIGTERM
    if (count > 0 && seen.load() >= count) break;  // done
    int code = 0;
    std::string reason;
    if (broker.closed(code, reason)) {
      complain("connection closed by the broker: " + std::to_string(code) + (reason.empty() ? "" : " " + reason));
      return kExitUnreachable;
    }
  }
  broker.close();  // acks queued before this go out first
  return kExitOk;
}

int cmd_list(const Globals& globals, std::vector<std::string> words) {
  const Args args(std::move(words), {"--box", "--status", "--limit", "--before"}, {});
  args.expect_positionals(0, "");
  const std::string box = args.value("--box").value_or("");
  if (!box.empty() && box != "inbox" && box != "outbox") throw UsageError("--box must be inbox or outbox");
  const auto statuses = split_list(args.value("--status").value_or(""));
  int limit = 0;
  if (const auto text = args.value("--limit")) {
    const auto value = parse_int("--limit", *text);
    if (value <= 0 || value > 1'000'000) throw UsageError("--limit: out of range: " + *text);
    limit = static_cast<int>(value);
  }
  std::optional<std::int64_t> before;
  if (const auto text = args.value("--before")) before = parse_int("--before", *text);

  Broker broker(globals);
  if (const int code = broker.open(); code != kExitOk) return code;
  const auto client = broker.client();
  return report(
      wait_reply([&](pc::ReplyHandler done) { client->list(box, statuses, limit, before, std::move(done)); }));
}

int cmd_order_action(const Globals& globals, const std::string& command, std::vector<std::string> words) {
  const bool is_reject = command == "reject";
  const Args args(std::move(words), is_reject ? std::vector<std::string_view>{"--reason"}
                                              : std::vector<std::string_view>{},
                  {});
  args.expect_positionals(1, "ORDER_ID");
  const std::int64_t order_id = parse_order_id(args.positionals()[0]);
  const auto reason = args.value("--reason");

  Broker broker(globals);
  if (const int code = broker.open(); code != kExitOk) return code;
  const auto client = broker.client();
  return report(wait_reply([&](pc::ReplyHandler done) {
    if (command == "deliver") {
      client->deliver(order_id, std::move(done));
    } else if (is_reject) {
      client->reject(order_id, reason, std::move(done));
    } else {
      client->cancel(order_id, std::move(done));
    }
  }));
}

int cmd_directory(const Globals& globals, std::vector<std::string> words) {
  const Args args(std::move(words), {}, {});
  args.expect_positionals(0, "");
  Broker broker(globals);
  if (const int code = broker.open(); code != kExitOk) return code;
  const auto client = broker.client();
  return report(wait_reply([&](pc::ReplyHandler done) { client->sessions(std::move(done)); }));
}

}  // namespace

int run_ws_command(const Globals& globals, const std::string& command, std::vector<std::string> words) {
  if (command == "send") return cmd_send(globals, std::move(words));
  if (command == "listen") return cmd_listen(globals, std::move(words));
  if (command == "list") return cmd_list(globals, std::move(words));
  if (command == "deliver" || command == "reject" || command == "cancel") {
    return cmd_order_action(globals, command, std::move(words));
  }
  if (command == "directory") return cmd_directory(globals, std::move(words));
  throw UsageError("unknown command " + command);
}

}  // namespace possync::cli
