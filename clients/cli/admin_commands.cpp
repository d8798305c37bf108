// The admin commands of `possync` (`sessions …`, `orders …`): the broker's
// operations HTTP API on the same address as the WebSocket, with the admin
// token as a Bearer token.
#include <rapidjson/document.h>

#include "clients/cli/cli.hpp"

namespace possync::cli {

namespace {

namespace pc = possync::client;

struct Request {
  std::string method;
  std::string target;
  std::string body;
};

// Performs the request and maps the answer to an exit code; on success the
// body is left in `body_out`.
int perform(const Globals& globals, const Request& request, pc::HttpResponse& response) {
  if (globals.admin_token.empty()) {
    throw UsageError("no admin token: give --admin-token or set POSSYNC_ADMIN_TOKEN");
  }
  response = pc::http_request(endpoint_options(globals), request.method, request.target, globals.admin_token,
                              request.body);
  if (response.status == 0) {
    complain("cannot reach " + globals.host + ":" + std::to_string(globals.port) + ": " + response.error);
    return kExitUnreachable;
  }
  if (response.status >= 200 && response.status < 300) return kExitOk;

  std::string detail;
  rapidjson::Document doc;
  doc.Parse(response.body.data(), response.body.size());
  if (!doc.HasParseError() && doc.IsObject()) {
    const auto error = doc.FindMember("error");
    const auto message = doc.FindMember("message");
    if (error != doc.MemberEnd() && error->value.IsString()) detail += std::string(" ") + error->value.GetString();
    if (message != doc.MemberEnd() && message->value.IsString()) detail += std::string(": ") + message->value.GetString();
  } else if (!response.body.empty()) {
    detail = " " + response.body.substr(0, 200);
  }
  complain(request.method + " " + request.target + ": HTTP " + std::to_string(response.status) + detail);
  return kExitBrokerError;
}

int perform_and_print(const Globals& globals, const Request& request) {
  pc::HttpResponse response;
  const int code = perform(globals, request, response);
  if (code == kExitOk && !response.body.empty()) print_line(pretty_json(response.body));
  return code;
}

// `?a=1&b=2` from the flags that were given ("" when none).
std::string query(const Args& args, const std::vector<std::pair<std::string_view, std::string_view>>& params) {
  std::string out;
  for (const auto& [flag, name] : params) {
    const auto value = args.value(flag);
    if (!value) continue;
    out += out.empty() ? '?' : '&';
    out += name;
    out += '=';
    out += url_encode(*value);
  }
  return out;
}

std::string session_path(const std::string& id) { return "/api/sessions/" + url_encode(id); }

// The PUT body: only the fields given as flags, so `add` of an existing
// session and `update` never reset what was not mentioned (the broker's
// create defaults are name = id, shop main, no roles).
std::string session_body(const Args& args) {
  std::string body;
  const auto add = [&](std::string_view key, const std::string& json_value) {
    body += body.empty() ? '{' : ',';
    body += pc::json_quote(key);
    body += ':';
    body += json_value;
  };
  if (const auto name = args.value("--name")) add("name", pc::json_quote(*name));
  if (const auto shop = args.value("--shop")) add("shop", pc::json_quote(*shop));
  for (const std::string_view role : {"sender", "receiver"}) {
    const std::string on = "--" + std::string(role);
    const std::string off = "--no-" + std::string(role);
    if (args.has(on) && args.has(off)) throw UsageError(on + " and " + off + " contradict each other");
    if (args.has(on)) add(role, "true");
    if (args.has(off)) add(role, "false");
  }
  return body.empty() ? body : body + '}';
}

int cmd_sessions(const Globals& globals, std::vector<std::string> words) {
  if (words.empty()) throw UsageError("sessions: missing list, add, update, rotate or delete");
  const std::string action = words.front();
  words.erase(words.begin());

  if (action == "list") {
    const Args args(std::move(words), {"--shop"}, {});
    args.expect_positionals(0, "");
    return perform_and_print(globals, {"GET", "/api/sessions" + query(args, {{"--shop", "shop"}}), ""});
  }
  if (action == "add" || action == "update") {
    const bool add = action == "add";
    const Args args(std::move(words), {"--name", "--shop"},
                    {"--sender", "--receiver", "--no-sender", "--no-receiver"});
    args.expect_positionals(1, "session ID");
    const std::string& id = args.positionals()[0];
    std::string body = session_body(args);
    if (body.empty() && !add) throw UsageError("sessions update: nothing to change (give --name, --shop or a role flag)");
    if (body.empty()) body = "{}";
    pc::HttpResponse response;
    const int code = perform(globals, {"PUT", session_path(id), body}, response);
    if (code != kExitOk) return code;
    if (add && response.status == 200) complain("session " + id + " already existed; updated it");
    if (!add && response.status == 201) complain("session " + id + " did not exist; created it");
    if (!response.body.empty()) print_line(pretty_json(response.body));
    return kExitOk;
  }
  if (action == "rotate" || action == "delete") {
    const Args args(std::move(words), {}, {});
    args.expect_positionals(1, "session ID");
    const std::string& id = args.positionals()[0];
    if (action == "rotate") return perform_and_print(globals, {"POST", session_path(id) + "/token", ""});
    return perform_and_print(globals, {"DELETE", session_path(id), ""});
  }
  throw UsageError("sessions: unknown action " + action + " (list, add, update, rotate, delete)");
}

int cmd_orders(const Globals& globals, std::vector<std::string> words) {
  if (words.empty()) throw UsageError("orders: missing list or show");
  const std::string action = words.front();
  words.erase(words.begin());

  if (action == "list") {
    const Args args(std::move(words), {"--shop", "--sender", "--receiver", "--status", "--ref", "--limit", "--before"},
                    {});
    args.expect_positionals(0, "");
    if (const auto limit = args.value("--limit")) parse_int("--limit", *limit);
    if (const auto before = args.value("--before")) parse_int("--before", *before);
    const std::string q = query(args, {{"--shop", "shop"},
                                       {"--sender", "sender"},
                                       {"--receiver", "receiver"},
                                       {"--status", "status"},
                                       {"--ref", "ref"},
                                       {"--limit", "limit"},
                                       {"--before", "before"}});
    return perform_and_print(globals, {"GET", "/api/orders" + q, ""});
  }
  if (action == "show") {
    const Args args(std::move(words), {}, {"--json"});
    args.expect_positionals(1, "ORDER_ID");
    const std::int64_t order_id = parse_order_id(args.positionals()[0]);
    pc::HttpResponse response;
    const int code = perform(globals, {"GET", "/api/orders/" + std::to_string(order_id), ""}, response);
    if (code != kExitOk) return code;
    if (args.has("--json")) {
      print_line(pretty_json(response.body));
      return kExitOk;
    }
    return render_order(response.body);
  }
  throw UsageError("orders: unknown action " + action + " (list, show)");
}

}  // namespace

int run_admin_command(const Globals& globals, const std::string& command, std::vector<std::string> words) {
  if (command == "sessions") return cmd_sessions(globals, std::move(words));
  if (command == "orders") return cmd_orders(globals, std::move(words));
  throw UsageError("unknown command " + command);
}

}  // namespace possync::cli
