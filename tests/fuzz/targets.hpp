// The fuzz targets as plain functions, one input each, so that the same code
// runs under libFuzzer (libfuzzer_main.cpp, built by POSSYNC_FUZZ=ON with
// clang) and as a unit test that replays every file of tests/fuzz/corpus on
// the ordinary and sanitizer builds (tests/unit/fuzz_corpus_test.cpp).
//
// Each function feeds one input through the real code and checks what must
// hold for any input; a broken invariant aborts (a crash to libFuzzer, a
// failure to the unit test), like a sanitizer report does. They never throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace possync::fuzz {

// One WebSocket text frame through protocol::parse_request (the JSON reader
// and the validator of every request type) with the default limits and with
// small ones; every reply the broker would build from the result (error,
// order push, delivered) must be valid JSON, the order kept byte for byte.
int request_one(const std::uint8_t* data, std::size_t size);

// Any text through protocol::parse_json; what it accepts must write back out
// and read again to the same text (numbers RapidJSON cannot write, ±inf,
// excepted).
int json_one(const std::uint8_t* data, std::size_t size);

// Raw bytes as an HTTP/1.1 request through Beast's parser with the broker's
// header and body limits, then through the transport's routing (upgrade
// paths, origin check) and the ops API (broker::AdminApi) over a real SQLite
// store in a temporary directory. The response must come exactly once, with
// a valid status, and a JSON body where the content type says so.
int http_one(const std::uint8_t* data, std::size_t size);

// What http_one does, with the ops API's responses to the requests in
// `input`, in order (upgrades and requests that cannot be read have none).
// For regression tests that look at the answers.
struct HttpAnswer {
  int status = 0;
  std::string body;
};
std::vector<HttpAnswer> http_answers(std::string_view input);

// Aborts with `what` on stderr: an invariant of a target does not hold.
[[noreturn]] void broken(const char* target, const char* what);

}  // namespace possync::fuzz
