// Command-line parsing for `possync`: flags, numbers, lists and the --url.
#include <algorithm>
#include <charconv>

#include "clients/cli/cli.hpp"

namespace possync::cli {

client::Options endpoint_options(const Globals& globals) {
  client::Options options;
  options.host = globals.host;
  options.port = globals.port;
  options.path = globals.path;
  options.tls = globals.tls;
  options.ca_file = globals.ca_file;
  options.insecure = globals.insecure;
  return options;
}

void parse_url(const std::string& url, Globals& out) {
  const bool secure = url.rfind("wss://", 0) == 0;
  if (!secure && url.rfind("ws://", 0) != 0) throw UsageError("--url " + url + ": must start with ws:// or wss://");
  if (secure) out.tls = true;

  const std::string rest = url.substr(secure ? 6 : 5);
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  // No path means the broker's usual one.
  out.path = slash == std::string::npos ? "/ws" : rest.substr(slash);

  std::string host;
  std::string port_text;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const auto close = authority.find(']');
    if (close == std::string::npos) throw UsageError("--url " + url + ": unterminated [ in the host");
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw UsageError("--url " + url + ": bad host");
      port_text = authority.substr(close + 2);
    }
  } else {
    const auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (host.empty()) throw UsageError("--url " + url + ": no host");
  if (host.find('@') != std::string::npos) throw UsageError("--url " + url + ": credentials in the URL are not supported");

  out.url = url;
  out.host = host;
  out.port = out.tls ? 443 : 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 || value > 65535) {
      throw UsageError("--url " + url + ": bad port " + port_text);
    }
    out.port = static_cast<std::uint16_t>(value);
  }
}

Args::Args(std::vector<std::string> words, const std::vector<std::string_view>& value_flags,
           const std::vector<std::string_view>& switches) {
  const auto known = [](const std::vector<std::string_view>& set, std::string_view name) {
    return std::find(set.begin(), set.end(), name) != set.end();
  };
  bool options_done = false;
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::string& word = words[i];
    if (options_done || word.size() < 2 || word[0] != '-' || word == "-") {
      positionals_.push_back(std::move(word));
      continue;
    }
    if (word == "--") {
      options_done = true;
      continue;
    }
    std::string name = word;
    std::optional<std::string> inline_value;
    if (const auto eq = word.find('='); eq != std::string::npos && word.rfind("--", 0) == 0) {
      name = word.substr(0, eq);
      inline_value = word.substr(eq + 1);
    }
    if (known(value_flags, name)) {
      if (inline_value) {
        flags_[name] = std::move(*inline_value);
      } else if (i + 1 < words.size()) {
        flags_[name] = std::move(words[++i]);
      } else {
        throw UsageError("option " + name + " needs a value");
      }
    } else if (known(switches, name)) {
      if (inline_value) throw UsageError("option " + name + " takes no value");
      flags_[name] = "1";
    } else {
      throw UsageError("unknown option " + name);
    }
  }
}

std::optional<std::string> Args::value(std::string_view flag) const {
  const auto it = flags_.find(flag);
  if (it == flags_.end()) return std::nullopt;
  return it->second;
}

void Args::expect_positionals(std::size_t n, std::string_view names) const {
  if (positionals_.size() < n) throw UsageError("missing " + std::string(names));
  if (positionals_.size() > n) throw UsageError("unexpected argument " + positionals_[n]);
}

std::int64_t parse_int(std::string_view what, const std::string& text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw UsageError(std::string(what) + ": not an integer: " + text);
  }
  return value;
}

std::int64_t parse_order_id(const std::string& text) {
  const std::int64_t id = parse_int("ORDER_ID", text);
  if (id <= 0) throw UsageError("ORDER_ID: must be positive: " + text);
  return id;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    const auto first = item.find_first_not_of(" \t");
    const auto last = item.find_last_not_of(" \t");
    if (first != std::string::npos) out.push_back(item.substr(first, last - first + 1));
    start = end + 1;
  }
  return out;
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
                            (byte >= '0' && byte <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
  return out;
}

}  // namespace possync::cli
