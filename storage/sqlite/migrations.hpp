// Schema migrations of the SQLite backend: the numbered SQL files under
// storage/sqlite/migrations/, embedded at build time, applied at start-up in
// order, each once, each in its own transaction, recorded in schema_version.
// A migration file holds plain DDL/DML: no BEGIN/COMMIT of its own.
#pragma once

#include <span>
#include <string_view>

namespace possync::storage::sqlite {

class Db;

struct Migration {
  int version;            // NNNN of NNNN_name.sql
  std::string_view name;  // file name without .sql
  std::string_view sql;   // the file's text
};

// Every embedded migration, by increasing version (generated source).
std::span<const Migration> embedded_migrations() noexcept;

// Applies every migration not yet recorded in schema_version. Safe against a
// second process doing the same: each check-and-apply runs under BEGIN
// IMMEDIATE. Throws SqliteError (the message names the failing migration), or
// std::runtime_error when the file was written by a newer schema.
void migrate(Db& db, std::span<const Migration> migrations);

}  // namespace possync::storage::sqlite
