// Schema migrations of the PostgreSQL backend: the numbered SQL files under
// storage/postgres/migrations/, embedded at build time, applied at start-up
// in order, each once, each in its own transaction, recorded in
// schema_version. A migration file holds plain DDL/DML: no BEGIN/COMMIT.
#pragma once

#include <span>

#include <pqxx/pqxx>

#include "storage/migration.hpp"

namespace possync::storage::postgres {

using storage::Migration;

// Every embedded migration, by increasing version (generated source).
std::span<const Migration> embedded_migrations() noexcept;

// Applies every migration not yet recorded in schema_version, in the
// connection's current schema (the first of its search_path). Safe when
// several nodes start at the same moment: every check-and-apply holds a
// transaction-scoped advisory lock keyed by the schema, so one node applies
// and the others then find it recorded. Throws std::runtime_error (the
// message names the failing migration) or a libpqxx error; refuses a
// schema written by a newer build.
void migrate(pqxx::connection_base& conn, std::span<const Migration> migrations);

}  // namespace possync::storage::postgres
