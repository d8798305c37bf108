#include "tests/integration/exposition.hpp"

#include <cmath>
#include <cstdlib>
#include <set>

namespace possync::test {
namespace {

bool name_start(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
bool name_char(char c, bool colon) { return name_start(c, colon) || (c >= '0' && c <= '9'); }

// Reads a metric name (colons allowed) or a label name at `pos`.
bool read_name(std::string_view line, std::size_t& pos, bool colon, std::string& out) {
  if (pos >= line.size() || !name_start(line[pos], colon)) return false;
  const auto start = pos;
  while (pos < line.size() && name_char(line[pos], colon)) ++pos;
  out = std::string(line.substr(start, pos - start));
  return true;
}

std::optional<double> parse_value(std::string_view s) {
  if (s == "+Inf" || s == "Inf") return HUGE_VAL;
  if (s == "-Inf") return -HUGE_VAL;
  if (s == "NaN") return std::nan("");
  if (s.empty()) return std::nullopt;
  std::string copy(s);
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

bool valid_type(std::string_view t) {
  return t == "counter" || t == "gauge" || t == "histogram" || t == "summary" || t == "untyped";
}

// HELP text: only \\ and \n are escapes.
bool valid_help(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') continue;
    if (i + 1 >= s.size() || (s[i + 1] != '\\' && s[i + 1] != 'n')) return false;
    ++i;
  }
  return true;
}

std::string strip_suffix(const std::string& name, std::string_view suffix) {
  if (name.size() > suffix.size() && std::string_view(name).substr(name.size() - suffix.size()) == suffix) {
    return name.substr(0, name.size() - suffix.size());
  }
  return {};
}

std::string check_histogram(const MetricFamily& f) {
  // One group of series per label set without `le`.
  struct Group {
    std::vector<std::pair<double, double>> buckets;  // le, cumulative count
    std::optional<double> count, sum;
  };
  std::map<Labels, Group> groups;
  for (const auto& s : f.samples) {
    Labels rest = s.labels;
    if (s.name == f.name + "_bucket") {
      auto le = rest.find("le");
      if (le == rest.end()) return f.name + ": a bucket without le";
      auto bound = parse_value(le->second);
      if (!bound) return f.name + ": le=\"" + le->second + "\" is not a number";
      rest.erase(le);
      groups[rest].buckets.emplace_back(*bound, s.value);
    } else if (s.name == f.name + "_count") {
      groups[rest].count = s.value;
    } else if (s.name == f.name + "_sum") {
      groups[rest].sum = s.value;
    } else {
      return f.name + ": unexpected sample " + s.name + " in a histogram";
    }
  }
  if (groups.empty()) return f.name + ": a histogram without samples";
  for (const auto& [labels, g] : groups) {
    if (g.buckets.empty()) return f.name + ": no buckets";
    for (std::size_t i = 1; i < g.buckets.size(); ++i) {
      if (!(g.buckets[i].first > g.buckets[i - 1].first)) return f.name + ": le bounds not increasing";
      if (g.buckets[i].second < g.buckets[i - 1].second) return f.name + ": cumulative counts decrease";
    }
    if (!std::isinf(g.buckets.back().first)) return f.name + ": the last bucket is not le=\"+Inf\"";
    if (!g.count) return f.name + ": no _count";
    if (!g.sum) return f.name + ": no _sum";
    if (g.buckets.back().second != *g.count) return f.name + ": the +Inf bucket differs from _count";
  }
  return "";
}

}  // namespace

std::optional<double> Exposition::value(const std::string& sample_name, const Labels& labels) const {
  for (const auto& [name, f] : families) {
    for (const auto& s : f.samples) {
      if (s.name == sample_name && s.labels == labels) return s.value;
    }
  }
  return std::nullopt;
}

std::string parse_exposition(std::string_view text, Exposition& out) {
  out.families.clear();
  if (text.empty() || text.back() != '\n') return "the text must end with a newline";
  std::set<std::string> finished;  // families whose samples are over
  std::set<std::pair<std::string, Labels>> seen_series;
  std::string current;  // the family of the previous sample
  int line_no = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl - start);
    start = nl + 1;
    ++line_no;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
        const bool help = line[2] == 'H';
        std::size_t pos = 7;
        std::string name;
        if (!read_name(line, pos, true, name)) return where + "bad metric name";
        std::string_view rest;
        if (pos < line.size()) {
          if (line[pos] != ' ') return where + "expected a space after the name";
          rest = line.substr(pos + 1);
        }
        auto& f = out.families[name];
        f.name = name;
        if (!f.samples.empty() || finished.count(name)) return where + name + ": HELP/TYPE after its samples";
        if (help) {
          if (!f.help.empty()) return where + name + ": a second HELP";
          if (!valid_help(rest)) return where + name + ": bad escape in HELP";
          f.help = std::string(rest.empty() ? " " : rest);  // present, possibly empty
        } else {
          if (!f.type.empty()) return where + name + ": a second TYPE";
          if (!valid_type(rest)) return where + name + ": unknown type '" + std::string(rest) + "'";
          f.type = std::string(rest);
        }
      }
      continue;  // other comments are allowed
    }
    MetricSample s;
    std::size_t pos = 0;
    if (!read_name(line, pos, true, s.name)) return where + "bad metric name";
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      while (pos < line.size() && line[pos] != '}') {
        std::string label;
        if (!read_name(line, pos, false, label)) return where + "bad label name";
        if (label.starts_with("__")) return where + "reserved label name " + label;
        if (pos + 1 >= line.size() || line[pos] != '=' || line[pos + 1] != '"') return where + "expected =\"";
        pos += 2;
        std::string value;
        for (;;) {
          if (pos >= line.size()) return where + "unterminated label value";
          char c = line[pos++];
          if (c == '"') break;
          if (c == '\\') {
            if (pos >= line.size()) return where + "bad escape";
            char e = line[pos++];
            if (e == 'n') value += '\n';
            else if (e == '\\' || e == '"') value += e;
            else return where + "bad escape \\" + std::string(1, e);
          } else {
            value += c;
          }
        }
        if (!s.labels.emplace(label, value).second) return where + "label " + label + " twice";
        if (pos < line.size() && line[pos] == ',') ++pos;
        else if (pos < line.size() && line[pos] != '}') return where + "expected , or }";
      }
      if (pos >= line.size()) return where + "unterminated label set";
      ++pos;
    }
    if (pos >= line.size() || line[pos] != ' ') return where + "expected a space before the value";
    auto fields = line.substr(pos + 1);
    auto space = fields.find(' ');
    auto v = parse_value(fields.substr(0, space));
    if (!v) return where + "bad value '" + std::string(fields.substr(0, space)) + "'";
    s.value = *v;
    if (space != std::string_view::npos) {
      auto ts = fields.substr(space + 1);
      if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string_view::npos) return where + "bad timestamp";
    }
    // The family: the name itself, or a histogram/summary's base name.
    std::string family = s.name;
    if (!out.families.count(family) || out.families[family].type.empty()) {
      family.clear();
      for (std::string_view suffix : {"_bucket", "_count", "_sum"}) {
        auto base = strip_suffix(s.name, suffix);
        auto it = out.families.find(base);
        if (!base.empty() && it != out.families.end() &&
            (it->second.type == "histogram" || (it->second.type == "summary" && suffix != "_bucket"))) {
          family = base;
        }
      }
      if (family.empty()) return where + s.name + ": a sample without a TYPE before it";
    }
    if (family != current) {
      if (finished.count(family)) return where + family + ": its samples are not contiguous";
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    if (!seen_series.emplace(s.name, s.labels).second) return where + s.name + ": the same series twice";
    if (out.families[family].type == "counter" && !(s.value >= 0)) return where + s.name + ": a negative counter";
    out.families[family].samples.push_back(std::move(s));
  }
  for (const auto& [name, f] : out.families) {
    if (f.help.empty()) return name + ": no HELP";
    if (f.type.empty()) return name + ": no TYPE";
    if (f.type == "histogram") {
      if (auto e = check_histogram(f); !e.empty()) return e;
    }
  }
  return "";
}

}  // namespace possync::test
