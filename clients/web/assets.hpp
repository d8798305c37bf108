// The POS terminal page's files (clients/web/www, with the JavaScript client
// as possync.js), embedded in the binary at build time by the dashboard's
// embed_assets.cmake. Static data: thread-safe, no I/O.
#pragma once

#include <span>
#include <string_view>

#include "dashboard/assets.hpp"

namespace possync::pos {

using Asset = dashboard::Asset;

// Every embedded file, sorted by name.
std::span<const Asset> embedded_assets() noexcept;
// The file of that name ("index.html", "possync.js", …), or nullptr.
const Asset* find_asset(std::string_view name) noexcept;

}  // namespace possync::pos
