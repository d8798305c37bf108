#include "storage/postgres/feed.hpp"

#include <charconv>
#include <string_view>

namespace possync::storage::postgres::feed {

namespace {

void escape_into(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '%' || byte < 0x20 || byte == 0x7f) {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0f];
    } else {
      out += c;
    }
  }
}

std::optional<std::string> unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    unsigned value = 0;
    const auto* begin = text.data() + i + 1;
    auto [end, ec] = std::from_chars(begin, begin + 2, value, 16);
    if (ec != std::errc{} || end != begin + 2) return std::nullopt;
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Appends `line` to the current payload, or starts a new one when it would
// not fit.
void append_line(std::vector<std::string>& payloads, const std::string& line) {
  if (payloads.empty() || payloads.back().size() + line.size() + 1 > kMaxPayload) payloads.emplace_back();
  if (!payloads.back().empty()) payloads.back() += '\n';
  payloads.back() += line;
}

}  // namespace

Record history_record(std::string node, std::vector<std::int64_t> ids) {
  Record r;
  r.kind = Record::Kind::history;
  r.node = std::move(node);
  r.ids = std::move(ids);
  return r;
}

Record presence_record(NodePresence presence) {
  Record r;
  r.kind = Record::Kind::presence;
  r.node = presence.node;
  r.presence = std::move(presence);
  return r;
}

Record revoke_record(std::string node, std::string session, int close_code, std::int64_t revocation_id) {
  Record r;
  r.kind = Record::Kind::revoke;
  r.revocation_id = revocation_id;
  r.node = std::move(node);
  r.session = std::move(session);
  r.close_code = close_code;
  return r;
}

std::vector<std::string> encode(const std::vector<Record>& records) {
  std::vector<std::string> payloads;
  for (const Record& record : records) {
    std::string head;
    if (record.kind == Record::Kind::presence) {
      head = "p\t";
      escape_into(head, record.node);
      head += '\t';
      escape_into(head, record.presence.session);
      head += '\t';
      escape_into(head, record.presence.shop);
      head += '\t';
      head += std::to_string(record.presence.connections);
      append_line(payloads, head);
      continue;
    }
    if (record.kind == Record::Kind::revoke) {
      head = "r\t";
      escape_into(head, record.node);
      head += '\t';
      escape_into(head, record.session);
      head += '\t';
      head += std::to_string(record.close_code);
      head += '\t';
      head += std::to_string(record.revocation_id);
      append_line(payloads, head);
      continue;
    }
    if (record.ids.empty()) continue;
    head = "h\t";
    escape_into(head, record.node);
    head += '\t';
    // As many ids per line as fit; the rest go on further lines.
    std::string line = head;
    bool first = true;
    for (std::int64_t id : record.ids) {
      const std::string text = std::to_string(id);
      if (!first && line.size() + 1 + text.size() + 1 > kMaxPayload) {
        append_line(payloads, line);
        line = head;
        first = true;
      }
      if (!first) line += ',';
      line += text;
      first = false;
    }
    append_line(payloads, line);
  }
  return payloads;
}

std::optional<std::vector<Record>> decode(const std::string& payload) {
  std::vector<Record> records;
  bool any_bad = false;
  for (std::string_view line : split(payload, '\n')) {
    if (line.empty()) continue;
    const auto fields = split(line, '\t');
    auto node = fields.size() >= 2 ? unescape(fields[1]) : std::nullopt;
    if (!node) {
      any_bad = true;
      continue;
    }
    if (fields[0] == "h" && fields.size() == 3) {
      Record r = history_record(std::move(*node), {});
      bool ok = true;
      for (std::string_view id : split(fields[2], ',')) {
        auto value = parse_int(id);
        if (!value) {
          ok = false;
          break;
        }
        r.ids.push_back(*value);
      }
      if (ok) {
        records.push_back(std::move(r));
        continue;
      }
    } else if (fields[0] == "r" && (fields.size() == 4 || fields.size() == 5)) {
      auto session = unescape(fields[2]);
      auto code = parse_int(fields[3]);
      auto id = fields.size() == 5 ? parse_int(fields[4]) : std::optional<std::int64_t>(0);
      if (session && code && *code >= 0 && *code <= 65535 && id && *id >= 0) {
        records.push_back(
            revoke_record(std::move(*node), std::move(*session), static_cast<int>(*code), *id));
        continue;
      }
    } else if (fields[0] == "p" && fields.size() == 5) {
      auto session = unescape(fields[2]);
      auto shop = unescape(fields[3]);
      auto count = parse_int(fields[4]);
      if (session && shop && count && *count >= 0 && *count <= 1'000'000'000) {
        records.push_back(presence_record({std::move(*node), std::move(*session), std::move(*shop),
                                           static_cast<int>(*count)}));
        continue;
      }
    }
    any_bad = true;
  }
  if (records.empty() && any_bad) return std::nullopt;
  return records;
}

}  // namespace possync::storage::postgres::feed
