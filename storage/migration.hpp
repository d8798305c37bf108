// One schema migration of a backend: a numbered SQL file under
// storage/<backend>/migrations/, embedded at build time by
// storage/embed_migrations.cmake. Shared by every backend.
#pragma once

#include <string_view>

namespace possync::storage {

struct Migration {
  int version;            // NNNN of NNNN_name.sql
  std::string_view name;  // file name without .sql
  std::string_view sql;   // the file's text
};

}  // namespace possync::storage
