#include "protocol/json_reader.hpp"
#include "protocol/json.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <limits>
#include <system_error>

namespace possync::protocol::detail {

bool JsonFrame::is_wide_integer(std::string_view path) const {
  return std::find(wide_integer_paths.begin(), wide_integer_paths.end(), path) !=
         wide_integer_paths.end();
}

namespace {

using rapidjson::SizeType;

// The value of a decimal literal whose magnitude is outside double's range:
// ±inf when it is huge, ±0 when it is tiny. from_chars leaves its output
// untouched in that case, so the direction is read off the literal: the
// decimal exponent of its first significant digit.
double out_of_range_value(std::string_view literal) {
  const bool negative = literal.front() == '-';
  if (negative) literal.remove_prefix(1);
  const std::size_t e = literal.find_first_of("eE");
  long long exponent = 0;
  if (e != std::string_view::npos) {
    std::string_view digits = literal.substr(e + 1);
    const bool exponent_negative = !digits.empty() && digits.front() == '-';
    if (!digits.empty() && (digits.front() == '+' || digits.front() == '-'))
      digits.remove_prefix(1);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), exponent);
    (void)ptr;
    // A huge exponent (beyond long long, or near its end): saturate, leaving
    // room for the digit count added below, which must not overflow.
    constexpr long long kSaturated = LLONG_MAX / 4;
    if (ec == std::errc::result_out_of_range || exponent > kSaturated) exponent = kSaturated;
    if (exponent_negative) exponent = -exponent;
  }
  const std::string_view mantissa = literal.substr(0, e);
  const std::size_t dot = std::min(mantissa.find('.'), mantissa.size());
  const std::string_view integer_part = mantissa.substr(0, dot);
  const std::string_view fraction =
      dot < mantissa.size() ? mantissa.substr(dot + 1) : std::string_view{};
  long long magnitude = 0;
  const std::size_t first_digit = integer_part.find_first_not_of('0');
  if (first_digit != std::string_view::npos) {
    magnitude = exponent + static_cast<long long>(integer_part.size() - first_digit);
  } else {
    const std::size_t zeros = std::min(fraction.find_first_not_of('0'), fraction.size());
    magnitude = exponent - static_cast<long long>(zeros);
  }
  const double value = magnitude > 0 ? std::numeric_limits<double>::infinity() : 0.0;
  return negative ? -value : value;
}

double literal_to_double(std::string_view literal) {
  double value = 0.0;
  const auto [ptr, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), value);
  (void)ptr;
  if (ec == std::errc::result_out_of_range) return out_of_range_value(literal);
  return value;
}

// The reader has already validated the UTF-8 of the input bytes; the only way
// an invalid sequence reaches a decoded string is a lone surrogate escape
// (\uDC00), which RapidJSON 1.1 encodes as ED B0 80. Strings must be Unicode
// text, since they are echoed into replies that browsers decode strictly.
bool has_encoded_surrogate(const char* s, SizeType length) {
  for (SizeType i = 0; i + 1 < length; ++i) {
    if (static_cast<unsigned char>(s[i]) == 0xED && static_cast<unsigned char>(s[i + 1]) >= 0xA0) {
      return true;
    }
  }
  return false;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// True when `token` is a JSON number that RapidJSON 1.1 refuses with "Number
// too big to be stored in double" even when asked for numbers as strings: an
// exponent above 308 or an integer part of more than ~308 digits. The margins
// are generous; masking a number that did not need it is harmless.
bool is_huge_number(std::string_view token) {
  std::size_t i = 0;
  if (i < token.size() && token[i] == '-') ++i;
  const std::size_t int_begin = i;
  while (i < token.size() && is_digit(token[i])) ++i;
  const std::size_t int_digits = i - int_begin;
  if (int_digits == 0 || (int_digits > 1 && token[int_begin] == '0')) return false;
  if (i < token.size() && token[i] == '.') {
    const std::size_t frac_begin = ++i;
    while (i < token.size() && is_digit(token[i])) ++i;
    if (i == frac_begin) return false;
  }
  bool huge_exponent = false;
  if (i < token.size() && (token[i] == 'e' || token[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < token.size() && (token[i] == '+' || token[i] == '-')) negative = token[i++] == '-';
    const std::size_t exp_begin = i;
    while (i < token.size() && is_digit(token[i])) ++i;
    if (i == exp_begin) return false;
    std::string_view digits = token.substr(exp_begin, i - exp_begin);
    digits.remove_prefix(std::min(digits.find_first_not_of('0'), digits.size()));
    huge_exponent = !negative && (digits.size() > 3 || (digits.size() == 3 && digits > "300"));
  }
  if (i != token.size()) return false;  // not a number: leave it for the reader to refuse
  return huge_exponent || int_digits > 300;
}

// RapidJSON 1.1 refuses numbers beyond double's range, but the protocol wants
// them: kept verbatim in free fields, "must be a finite number" in checked
// ones (clarification 4). The reader therefore gets a copy in which each such
// number is replaced by a placeholder of the same length ("0.000…"), so every
// byte offset stays the same; Builder::RawNumber reads the real literal from
// the original text. Returns nullopt when nothing needed masking.
std::optional<std::string> mask_huge_numbers(std::string_view text) {
  std::optional<std::string> masked;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    if (c != '-' && !is_digit(c)) continue;
    std::size_t end = i;
    while (end < text.size() && (is_digit(text[end]) || text[end] == '.' || text[end] == 'e' ||
                                 text[end] == 'E' || text[end] == '+' || text[end] == '-')) {
      ++end;
    }
    if (is_huge_number(text.substr(i, end - i))) {
      if (!masked) masked.emplace(text);
      (*masked)[i] = '0';
      (*masked)[i + 1] = '.';
      std::fill(masked->begin() + static_cast<std::ptrdiff_t>(i + 2),
                masked->begin() + static_cast<std::ptrdiff_t>(end), '0');
    }
    i = end - 1;
  }
  return masked;
}

struct Frame {
  bool array = false;
  std::size_t index = 0;  // arrays: index of the element being read
  std::string key;        // objects: name of the member being read
};

// SAX handler that forwards every event into a Document and keeps the
// bookkeeping described in json_reader.hpp.
class Builder {
 public:
  // `frames` is scratch space, emptied here: a thread reuses its vector (and
  // its capacity) from one frame to the next.
  Builder(rapidjson::Document& doc, const rapidjson::MemoryStream& in, std::string_view original,
          std::size_t max_depth, JsonFrame& out, std::vector<Frame>& frames)
      : doc_(doc), in_(in), original_(original), max_depth_(max_depth), out_(out), frames_(frames) {
    frames_.clear();
  }

  const std::string& error() const { return error_; }

  bool Null() { return scalar(doc_.Null()); }
  bool Bool(bool b) { return scalar(doc_.Bool(b)); }
  bool Int(int i) { return scalar(doc_.Int(i)); }
  bool Uint(unsigned u) { return scalar(doc_.Uint(u)); }
  bool Int64(std::int64_t i) { return scalar(doc_.Int64(i)); }
  bool Uint64(std::uint64_t u) { return scalar(doc_.Uint64(u)); }
  bool Double(double d) { return scalar(doc_.Double(d)); }
  // The stream has just consumed the number, so it ends at Tell(). Read the
  // literal from the original text: the reader may have seen a placeholder.
  bool RawNumber(const char* /*text*/, SizeType length, bool /*copy*/) {
    return scalar(number(original_.substr(in_.Tell() - length, length)));
  }
  bool String(const char* s, SizeType length, bool copy) {
    if (!check_unicode(s, length)) return false;
    return scalar(doc_.String(s, length, copy));
  }

  bool Key(const char* s, SizeType length, bool copy) {
    if (!check_unicode(s, length)) return false;
    Frame& top = frames_.back();
    top.key.assign(s, length);
    if (frames_.size() == 1 && !order_seen_ && top.key == "order") {
      order_seen_ = true;
      order_pending_ = true;
    }
    return doc_.Key(s, length, copy);
  }

  bool StartObject() {
    // With the iterative reader the stream still points at the '{' here.
    const bool starts_order = order_pending_ && frames_.size() == 1;
    order_pending_ = false;
    if (!enter(false)) return false;
    if (starts_order) {
      out_.order_begin = in_.Tell();
      order_open_ = true;
    }
    return doc_.StartObject();
  }

  bool EndObject(SizeType members) {
    // ...and at the '}' here.
    if (order_open_ && frames_.size() == 2) {
      out_.order_end = in_.Tell() + 1;
      order_open_ = false;
    }
    frames_.pop_back();
    const bool ok = doc_.EndObject(members);
    element_done();
    return ok;
  }

  bool StartArray() {
    order_pending_ = false;
    if (!enter(true)) return false;
    return doc_.StartArray();
  }

  bool EndArray(SizeType elements) {
    frames_.pop_back();
    const bool ok = doc_.EndArray(elements);
    element_done();
    return ok;
  }

 private:
  bool enter(bool array) {
    if (frames_.size() >= max_depth_) {
      error_ = "JSON nesting deeper than " + std::to_string(max_depth_) + " levels";
      return false;
    }
    frames_.push_back(Frame{array, 0, {}});
    return true;
  }

  bool scalar(bool ok) {
    order_pending_ = false;
    element_done();
    return ok;
  }

  void element_done() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
  }

  bool check_unicode(const char* s, SizeType length) {
    if (!has_encoded_surrogate(s, length)) return true;
    error_ = "invalid JSON at offset " + std::to_string(in_.Tell()) +
             ": string contains a lone UTF-16 surrogate escape";
    return false;
  }

  // Integer literals become Int64 or Uint64 when they fit; everything else
  // becomes a double (possibly ±inf: the validator reports that as "must be a
  // finite number" where a number is checked, and free fields keep the text).
  bool number(std::string_view literal) {
    if (literal.find_first_of(".eE") == std::string_view::npos) {
      std::int64_t i = 0;
      auto r = std::from_chars(literal.data(), literal.data() + literal.size(), i);
      if (r.ec == std::errc{}) return doc_.Int64(i);
      if (literal.front() != '-') {
        std::uint64_t u = 0;
        r = std::from_chars(literal.data(), literal.data() + literal.size(), u);
        if (r.ec == std::errc{}) return doc_.Uint64(u);
      }
      note_wide_integer();
    }
    return doc_.Double(literal_to_double(literal));
  }

  // Keeps the path only where the validator wants an integer: a top-level
  // member, order.customer.id, order.lines[i].product_id.
  void note_wide_integer() {
    const auto object_key = [this](std::size_t level, std::string_view key) {
      return !frames_[level].array && frames_[level].key == key;
    };
    const std::size_t depth = frames_.size();
    if (depth == 0 || frames_[0].array) return;
    if (depth == 1) {
      out_.wide_integer_paths.push_back(frames_[0].key);
    } else if (depth == 3 && object_key(0, "order") && object_key(1, "customer") &&
               object_key(2, "id")) {
      out_.wide_integer_paths.emplace_back("order.customer.id");
    } else if (depth == 4 && object_key(0, "order") && object_key(1, "lines") && frames_[2].array &&
               object_key(3, "product_id")) {
      out_.wide_integer_paths.push_back("order.lines[" + std::to_string(frames_[2].index) +
                                        "].product_id");
    }
  }

  rapidjson::Document& doc_;
  const rapidjson::MemoryStream& in_;
  std::string_view original_;
  std::size_t max_depth_;
  JsonFrame& out_;
  std::vector<Frame>& frames_;
  std::string error_;
  bool order_seen_ = false;
  bool order_pending_ = false;
  bool order_open_ = false;
};

}  // namespace

std::optional<std::string> read_json_frame(std::string_view text, std::size_t max_depth,
                                           JsonFrame& out) {
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag |
                              rapidjson::kParseNumbersAsStringsFlag |
                              rapidjson::kParseValidateEncodingFlag;
  const std::optional<std::string> masked = mask_huge_numbers(text);
  const std::string_view input = masked ? std::string_view(*masked) : text;
  rapidjson::MemoryStream in(input.data(), input.size());
  std::optional<std::string> failure;
  // Every text frame an io thread receives is parsed here. The reader's
  // stack and the nesting bookkeeping keep their capacity between frames
  // (Parse only resets them), so a steady stream of frames allocates neither.
  // A frame's strings pass through the reader's stack, so after a large frame
  // the thread gets a fresh reader instead of keeping that much memory.
  constexpr std::size_t kKeepReaderBelow = 64 * 1024;
  thread_local std::optional<rapidjson::Reader> reader;
  thread_local std::vector<Frame> frames;
  if (!reader) reader.emplace();
  auto generate = [&](rapidjson::Document& doc) {
    Builder builder(doc, in, text, max_depth, out, frames);
    const rapidjson::ParseResult result = reader->Parse<kFlags>(in, builder);
    if (result.IsError()) {
      if (result.Code() == rapidjson::kParseErrorTermination && !builder.error().empty()) {
        failure = builder.error();
      } else {
        failure = "invalid JSON at offset " + std::to_string(result.Offset()) + ": " +
                  rapidjson::GetParseError_En(result.Code());
      }
      return false;
    }
    // MemoryStream reports a NUL byte as the end of input, so a frame like
    // `{}\0junk` would otherwise pass.
    if (in.Tell() != text.size()) {
      failure = "invalid JSON at offset " + std::to_string(in.Tell()) + ": unexpected NUL byte";
      return false;
    }
    return true;
  };
  out.doc.Populate(generate);
  if (text.size() >= kKeepReaderBelow) reader.reset();
  return failure;
}

}  // namespace possync::protocol::detail

namespace possync::protocol {

std::optional<std::string> parse_json(std::string_view text, rapidjson::Document& doc, std::size_t max_depth) {
  detail::JsonFrame frame;
  auto failure = detail::read_json_frame(text, max_depth, frame);
  if (!failure) doc = std::move(frame.doc);
  return failure;
}

}  // namespace possync::protocol
