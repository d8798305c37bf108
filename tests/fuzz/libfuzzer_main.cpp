// libFuzzer's entry point for one target: POSSYNC_FUZZ_ENTRY names the
// function of targets.hpp (tests/fuzz/CMakeLists.txt sets it per executable).
#include "tests/fuzz/targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return possync::fuzz::POSSYNC_FUZZ_ENTRY(data, size);
}
