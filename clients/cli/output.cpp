// Output of `possync`: JSON re-indentation that keeps number literals as
// sent, and the readable rendering of `orders show`.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <type_traits>

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "clients/cli/cli.hpp"

namespace possync::cli {

namespace {

using rapidjson::SizeType;

// Forwards SAX events to a writer; with a member name, only the value of that
// member of the top-level object. Numbers arrive as their literal text
// (kParseNumbersAsStringsFlag) and leave as raw values, because RapidJSON
// 1.1's Writer::RawNumber would quote them.
template <typename Writer>
class Forwarder {
 public:
  Forwarder(Writer& writer, std::string_view member) : writer_(writer), member_(member), capturing_(member.empty()) {}
  bool found() const { return found_; }

  bool Null() { return scalar([&] { return writer_.Null(); }); }
  bool Bool(bool b) { return scalar([&] { return writer_.Bool(b); }); }
  bool Int(int i) { return scalar([&] { return writer_.Int(i); }); }
  bool Uint(unsigned u) { return scalar([&] { return writer_.Uint(u); }); }
  bool Int64(std::int64_t i) { return scalar([&] { return writer_.Int64(i); }); }
  bool Uint64(std::uint64_t u) { return scalar([&] { return writer_.Uint64(u); }); }
  bool Double(double d) { return scalar([&] { return writer_.Double(d); }); }
  bool RawNumber(const char* s, SizeType n, bool) {
    return scalar([&] { return writer_.RawValue(s, n, rapidjson::kNumberType); });
  }
  bool String(const char* s, SizeType n, bool copy) { return scalar([&] { return writer_.String(s, n, copy); }); }
  bool Key(const char* s, SizeType n, bool copy) {
    if (capturing_) return writer_.Key(s, n, copy);
    if (depth_ == 1 && std::string_view(s, n) == member_) target_next_ = true;
    return true;
  }
  bool StartObject() { return open([&] { return writer_.StartObject(); }); }
  bool EndObject(SizeType n) { return close([&] { return writer_.EndObject(n); }); }
  bool StartArray() { return open([&] { return writer_.StartArray(); }); }
  bool EndArray(SizeType n) { return close([&] { return writer_.EndArray(n); }); }

 private:
  bool take_target() {
    if (!target_next_) return false;
    target_next_ = false;
    found_ = true;
    return true;
  }
  template <typename F>
  bool scalar(F write) {
    if (capturing_ || take_target()) return write();
    return true;
  }
  template <typename F>
  bool open(F write) {
    ++depth_;
    if (!capturing_ && take_target()) {
      capturing_ = true;
      capture_depth_ = depth_;
    }
    return capturing_ ? write() : true;
  }
  template <typename F>
  bool close(F write) {
    bool ok = true;
    if (capturing_) {
      ok = write();
      if (depth_ == capture_depth_) capturing_ = false;
    }
    --depth_;
    return ok;
  }

  Writer& writer_;
  std::string_view member_;
  bool capturing_;
  bool target_next_ = false;
  bool found_ = false;
  int depth_ = 0;
  int capture_depth_ = 0;
};

template <typename Writer>
std::optional<std::string> reformat(std::string_view text, std::string_view member) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  if constexpr (std::is_same_v<Writer, rapidjson::PrettyWriter<rapidjson::StringBuffer>>) writer.SetIndent(' ', 2);
  Forwarder<Writer> forwarder(writer, member);
  rapidjson::MemoryStream stream(text.data(), text.size());
  rapidjson::Reader reader;
  if (reader.Parse<rapidjson::kParseNumbersAsStringsFlag>(stream, forwarder).IsError()) return std::nullopt;
  if (!member.empty() && !forwarder.found()) return std::nullopt;
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string text_of(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsNull()) return "-";
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsDouble()) return std::to_string(v.GetDouble());
  return v.IsArray() ? "[...]" : "{...}";
}

std::string field(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return "-";
  const auto it = object.FindMember(name);
  return it == object.MemberEnd() ? "-" : text_of(it->value);
}

// Prints rows as left-aligned columns, two spaces apart, indented by two.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line = " ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += ' ';
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 1, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    print_line(line);
  }
}

}  // namespace

std::string pretty_json(std::string_view text) {
  auto out = reformat<rapidjson::PrettyWriter<rapidjson::StringBuffer>>(text, "");
  return out ? *out : std::string(text);
}

std::string compact_json(std::string_view text) {
  auto out = reformat<rapidjson::Writer<rapidjson::StringBuffer>>(text, "");
  return out ? *out : std::string(text);
}

std::string pretty_member(std::string_view text, std::string_view member) {
  return reformat<rapidjson::PrettyWriter<rapidjson::StringBuffer>>(text, member).value_or("");
}

bool is_json_object(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || text[first] != '{') return false;
  return reformat<rapidjson::Writer<rapidjson::StringBuffer>>(text, "").has_value();
}

void print_line(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void complain(const std::string& text) { std::fprintf(stderr, "possync: %s\n", text.c_str()); }

int render_order(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    print_line(body);
    return kExitOk;
  }
  print_line("order " + field(doc, "order_id") + "  ref " + field(doc, "ref") + "  from " + field(doc, "from") +
             "  mode " + field(doc, "mode"));
  print_line("  created " + field(doc, "created_at") + "  updated " + field(doc, "updated_at"));

  const auto deliveries = doc.FindMember("deliveries");
  if (deliveries != doc.MemberEnd() && deliveries->value.IsArray()) {
    print_line("");
    print_line("deliveries");
    std::vector<std::vector<std::string>> rows{{"SESSION", "STATUS", "UPDATED"}};
    for (const auto& d : deliveries->value.GetArray()) {
      rows.push_back({field(d, "session"), field(d, "status"), field(d, "updated_at")});
    }
    print_table(rows);
  }

  const auto history = doc.FindMember("history");
  if (history != doc.MemberEnd() && history->value.IsArray()) {
    print_line("");
    print_line("history");
    std::vector<std::vector<std::string>> rows{{"AT", "SESSION", "FROM", "TO", "BY", "REASON"}};
    for (const auto& h : history->value.GetArray()) {
      rows.push_back({field(h, "at"), field(h, "session"), field(h, "from"), field(h, "to"), field(h, "by"),
                      field(h, "reason")});
    }
    print_table(rows);
  }

  // The order itself from the raw text, so its numbers stay exact.
  const std::string order = pretty_member(body, "order");
  if (!order.empty()) {
    print_line("");
    print_line("order");
    print_line(order);
  }
  return kExitOk;
}

}  // namespace possync::cli
