// Schema migrations of the SQLite backend: the numbered SQL files under
// storage/sqlite/migrations/, embedded at build time, applied at start-up in
// order, each once, each in its own transaction, recorded in schema_version.
// A migration file holds plain DDL/DML: no BEGIN/COMMIT of its own.
#pragma once

#include <span>

#include "storage/migration.hpp"

namespace possync::storage::sqlite {

class Db;
using storage::Migration;

// Every embedded migration, by increasing version (generated source).
std::span<const Migration> embedded_migrations() noexcept;

// Applies every migration not yet recorded in schema_version. Safe against a
// second process doing the same: each check-and-apply runs under BEGIN
// IMMEDIATE. Throws SqliteError (the message names the failing migration), or
// std::runtime_error when the file was written by a newer schema.
void migrate(Db& db, std::span<const Migration> migrations);

}  // namespace possync::storage::sqlite
