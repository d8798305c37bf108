// The dashboard's files (dashboard/www), embedded in the binary at build
// time by embed_assets.cmake. Static data: thread-safe, no I/O.
#pragma once

#include <span>
#include <string_view>

namespace possync::dashboard {

struct Asset {
  std::string_view name;          // file name in www/, e.g. "app.js"
  std::string_view content_type;  // for the Content-Type header
  std::string_view body;
};

// Every embedded file, sorted by name.
std::span<const Asset> embedded_assets() noexcept;
// The file of that name, or nullptr.
const Asset* find_asset(std::string_view name) noexcept;
// The file of that name in `assets` (any embedded page's files), or nullptr.
const Asset* find_asset(std::span<const Asset> assets, std::string_view name) noexcept;

}  // namespace possync::dashboard
