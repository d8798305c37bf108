#include "bench/baselines/nats_codec.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

namespace possync::bench::nats {

namespace {

// The whitespace-separated words of a control line.
std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t at = 0;
  while (at < line.size()) {
    const std::size_t start = line.find_first_not_of(" \t", at);
    if (start == std::string_view::npos) break;
    const std::size_t end = std::min(line.find_first_of(" \t", start), line.size());
    out.push_back(line.substr(start, end - start));
    at = end;
  }
  return out;
}

bool starts_with_word(std::string_view line, std::string_view word) {
  if (line.size() < word.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if ((line[i] & ~0x20) != word[i]) return false;  // operations are case-insensitive
  }
  return line.size() == word.size() || line[word.size()] == ' ' || line[word.size()] == '\t';
}

}  // namespace

std::string encode_connect(std::string_view name) {
  return R"(CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"lang":"cpp","version":"0.1",)"
         R"("protocol":1,"echo":false,"name":")" +
         std::string(name) + "\"}\r\n";
}

std::string encode_sub(std::string_view subject, std::string_view sid) {
  return "SUB " + std::string(subject) + " " + std::string(sid) + "\r\n";
}

std::string encode_pub(std::string_view subject, std::string_view payload) {
  std::string out;
  out.reserve(subject.size() + payload.size() + 20);
  out += "PUB ";
  out += subject;
  out += ' ';
  out += std::to_string(payload.size());
  out += "\r\n";
  out += payload;
  out += "\r\n";
  return out;
}

void Decoder::feed(std::string_view bytes) {
  buffer_.erase(0, offset_);
  offset_ = 0;
  buffer_ += bytes;
}

std::optional<Operation> Decoder::next() {
  if (!error_.empty()) return std::nullopt;
  const std::string_view rest = std::string_view(buffer_).substr(offset_);
  const std::size_t eol = rest.find("\r\n");
  if (eol == std::string_view::npos) return std::nullopt;
  const std::string_view line = rest.substr(0, eol);

  Operation op;
  if (starts_with_word(line, "MSG")) {
    // MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n
    const auto w = words(line);
    if (w.size() != 4 && w.size() != 5) {
      error_ = "bad MSG line: " + std::string(line);
      return std::nullopt;
    }
    std::size_t size = 0;
    const std::string_view count = w.back();
    if (std::from_chars(count.data(), count.data() + count.size(), size).ec != std::errc{}) {
      error_ = "bad MSG size: " + std::string(line);
      return std::nullopt;
    }
    if (rest.size() < eol + 2 + size + 2) return std::nullopt;
    op.op = Op::msg;
    op.subject = w[1];
    op.payload = rest.substr(eol + 2, size);
    offset_ += eol + 2 + size + 2;
    return op;
  }
  offset_ += eol + 2;
  if (starts_with_word(line, "PING")) {
    op.op = Op::ping;
  } else if (starts_with_word(line, "PONG")) {
    op.op = Op::pong;
  } else if (starts_with_word(line, "+OK")) {
    op.op = Op::ok;
  } else if (starts_with_word(line, "INFO")) {
    op.op = Op::info;
    op.text = line.substr(4);
  } else if (starts_with_word(line, "-ERR")) {
    op.op = Op::err;
    op.text = line.substr(4);
  } else {
    error_ = "unknown operation: " + std::string(line.substr(0, 40));
    return std::nullopt;
  }
  return op;
}

}  // namespace possync::bench::nats
