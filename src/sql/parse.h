// SQL through the real PostgreSQL parser (libpg_query): a step's script split into
// statements, with parse trees for the linter. Never split by hand: dollar quoting,
// comments and strings are the parser's business.
//
// Thread-safe (libpg_query keeps its memory per thread).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace tidemark::sql {

struct Statement {
  std::string text;     // without the terminating semicolon
  int line = 1;         // 1-based line where it starts in the script
  nlohmann::json tree;  // the parse tree (libpg_query JSON), when asked for
};

// Splits `script` into statements. With `with_trees`, each carries its parse tree.
// A syntax error is InvalidArgument: "line 3, column 14: syntax error at or near ...".
Result<std::vector<Statement>> Parse(const std::string& script, bool with_trees);

}  // namespace tidemark::sql
