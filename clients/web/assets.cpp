#include "clients/web/assets.hpp"

namespace possync::pos {

const Asset* find_asset(std::string_view name) noexcept {
  for (const auto& asset : embedded_assets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

}  // namespace possync::pos
