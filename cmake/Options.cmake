# Interface targets every possync target links: warnings and sanitizers in one place.
add_library(possync_warnings INTERFACE)
target_compile_options(possync_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wconversion -Wno-sign-conversion
  -Wformat=2 -Wimplicit-fallthrough)

add_library(possync_sanitizers INTERFACE)
if(POSSYNC_SANITIZE)
  # ASan plus the UBSan checks that matter here; full UBSan on Beast is 4-5x slower.
  set(_san -fsanitize=address,signed-integer-overflow,null,bounds,return -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_compile_options(possync_sanitizers INTERFACE ${_san})
  target_link_options(possync_sanitizers INTERFACE ${_san})
endif()
if(POSSYNC_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "POSSYNC_FUZZ needs clang: CC=clang CXX=clang++ (scripts/fuzz.sh sets them)")
  endif()
  # Coverage for libFuzzer in every possync target; the fuzz executables add
  # -fsanitize=fuzzer (libFuzzer's main) themselves. Full UBSan here: only
  # the parser and the HTTP code are built, so its compile cost stays small.
  # pointer-overflow stays recoverable so that tests/fuzz/ubsan.supp can
  # suppress it in RapidJSON 1.1 (UBSAN_OPTIONS=halt_on_error=1 still stops
  # at any other report).
  target_compile_options(possync_sanitizers INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fsanitize-recover=pointer-overflow
    -fno-omit-frame-pointer)
  target_link_options(possync_sanitizers INTERFACE -fsanitize=address,undefined)
endif()
if(POSSYNC_TSAN)
  target_compile_options(possync_sanitizers INTERFACE -fsanitize=thread -Wno-tsan -fno-omit-frame-pointer)
  target_link_options(possync_sanitizers INTERFACE -fsanitize=thread)
endif()

add_library(possync_options INTERFACE)
target_link_libraries(possync_options INTERFACE possync_warnings possync_sanitizers)
target_include_directories(possync_options INTERFACE ${PROJECT_SOURCE_DIR})
target_compile_definitions(possync_options INTERFACE
  POSSYNC_VERSION="${PROJECT_VERSION}"
  RAPIDJSON_HAS_STDSTRING=1)

# Beast and Asio are compiled once (broker/asio_impl.cpp, clients/cpp/asio_impl.cpp)
# instead of in every translation unit that uses them.
add_library(possync_asio STATIC ${PROJECT_SOURCE_DIR}/net/asio_impl.cpp)
target_link_libraries(possync_asio PUBLIC Boost::headers Threads::Threads OpenSSL::SSL OpenSSL::Crypto)
# Asio's and Beast's compiled part is third-party code no fuzz input reaches
# through our parsers: the fuzz build leaves it uninstrumented (with ASan,
# full UBSan and coverage it alone took 10 minutes to compile).
if(NOT POSSYNC_FUZZ)
  target_link_libraries(possync_asio PRIVATE possync_sanitizers)
endif()
target_compile_definitions(possync_asio PUBLIC
  BOOST_ASIO_SEPARATE_COMPILATION BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED)
