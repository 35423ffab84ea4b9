// What a step's statements do to tables, read from libpg_query's parse trees: the tables
// they create (fake-initial fakes an initial step whose tables all exist already).
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "sql/parse.h"

namespace tidemark::sql {

// "schema.name" of a parse tree's RangeVar when the SQL qualifies the name, else "name".
std::string QualifiedName(const nlohmann::json& relation);

// The tables the CREATE TABLE statements among `statements` (parsed with trees) create, in
// order: "schema.name" when the SQL qualifies the name, else "name".
std::vector<std::string> CreatedTables(const std::vector<Statement>& statements);

}  // namespace tidemark::sql
