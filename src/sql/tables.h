// What a step's statements do to tables, read from libpg_query's parse trees: the tables
// they create (fake-initial fakes an initial step whose tables all exist already), and the
// statements that run CONCURRENTLY (they wait for older transactions instead of blocking).
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sql/parse.h"

namespace tidemark::sql {

// "schema.name" of a parse tree's RangeVar when the SQL qualifies the name, else "name".
std::string QualifiedName(const nlohmann::json& relation);

// The last part of a parse tree's dotted name list (`pg_catalog.now` -> "now"); "" if none.
std::string LastName(const nlohmann::json& names);

// The tables the CREATE TABLE statements among `statements` (parsed with trees) create, in
// order: "schema.name" when the SQL qualifies the name, else "name".
std::vector<std::string> CreatedTables(const std::vector<Statement>& statements);

// Whether `statement` (parsed with its tree) is a back-fill's batch statement: an UPDATE,
// a DELETE, or an INSERT ... SELECT (not VALUES), which can run again until it changes no row.
bool IsBatchStatement(const Statement& statement);

// A statement run CONCURRENTLY: CREATE INDEX, DROP INDEX, REINDEX, or DETACH PARTITION.
struct ConcurrentStatement {
  // CREATE INDEX CONCURRENTLY with a name: the index it builds, in the schema of its table
  // ("" when the SQL does not qualify the table). Empty for the others.
  std::string built_index_schema;
  std::string built_index;
};

// What `statement` (parsed with its tree) runs CONCURRENTLY, if anything.
std::optional<ConcurrentStatement> Concurrently(const Statement& statement);

}  // namespace tidemark::sql
