#include "clients/web/assets.hpp"

namespace possync::pos {

const Asset* find_asset(std::string_view name) noexcept { return dashboard::find_asset(embedded_assets(), name); }

}  // namespace possync::pos
