// Every input of tests/fuzz/corpus through its fuzz target (tests/fuzz/targets.hpp):
// the seeds and every input that once broke a target, replayed on every
// build — the sanitizer builds included — and not only under libFuzzer.
// A broken invariant aborts the test binary, as it would crash the fuzzer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/targets.hpp"

namespace {

using Target = int (*)(const std::uint8_t*, std::size_t);

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void replay(const char* target, Target run) {
  const std::filesystem::path dir = std::filesystem::path(POSSYNC_FUZZ_CORPUS_DIR) / target;
  std::vector<std::filesystem::path> inputs;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) inputs.push_back(entry.path());
  std::sort(inputs.begin(), inputs.end());
  REQUIRE(inputs.size() >= 5);
  for (const auto& path : inputs) {
    CAPTURE(path.filename().string());
    const std::string input = read_file(path);
    CHECK(run(reinterpret_cast<const std::uint8_t*>(input.data()), input.size()) == 0);
  }
}

}  // namespace

TEST_CASE("fuzz corpus: every protocol request input runs through the parser cleanly", "[fuzz]") {
  replay("request", possync::fuzz::request_one);
}

TEST_CASE("fuzz corpus: every JSON input runs through the reader cleanly", "[fuzz]") {
  replay("json", possync::fuzz::json_one);
}

TEST_CASE("fuzz corpus: every HTTP input runs through the ops API cleanly", "[fuzz]") {
  replay("http", possync::fuzz::http_one);
}
