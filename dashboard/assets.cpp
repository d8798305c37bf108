#include "dashboard/assets.hpp"

namespace possync::dashboard {

const Asset* find_asset(std::string_view name) noexcept {
  for (const auto& asset : embedded_assets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

}  // namespace possync::dashboard
