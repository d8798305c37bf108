#include "dashboard/assets.hpp"

namespace possync::dashboard {

const Asset* find_asset(std::span<const Asset> assets, std::string_view name) noexcept {
  for (const auto& asset : assets) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

const Asset* find_asset(std::string_view name) noexcept { return find_asset(embedded_assets(), name); }

}  // namespace possync::dashboard
