#include "sql/parse.h"

extern "C" {
#include <pg_query.h>
}

#include <algorithm>
#include <memory>

namespace tidemark::sql {
namespace {

// Line and column (1-based) of a 0-based byte offset.
std::pair<int, int> Position(const std::string& text, size_t offset) {
  offset = std::min(offset, text.size());
  const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + offset, '\n'));
  const size_t line_start = text.rfind('\n', offset == 0 ? 0 : offset - 1);
  const int column =
      static_cast<int>(offset - (line_start == std::string::npos ? 0 : line_start + 1)) + 1;
  return {line, column};
}

Status SyntaxError(const std::string& script, const PgQueryError& error) {
  // cursorpos is 1-based; 0 means the parser gave no position.
  if (error.cursorpos > 0) {
    auto [line, column] = Position(script, static_cast<size_t>(error.cursorpos - 1));
    return Status::InvalidArgument("line " + std::to_string(line) + ", column " +
                                   std::to_string(column) + ": " + error.message);
  }
  return Status::InvalidArgument(error.message);
}

// Trims white space around a statement; the statement keeps its leading comments.
Statement MakeStatement(const std::string& script, size_t location, size_t length) {
  size_t begin = location;
  size_t end = std::min(script.size(), location + length);
  while (begin < end && std::isspace(static_cast<unsigned char>(script[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(script[end - 1]))) --end;
  Statement statement;
  statement.text = script.substr(begin, end - begin);
  statement.line = Position(script, begin).first;
  return statement;
}

}  // namespace

Result<std::vector<Statement>> Parse(const std::string& script, bool with_trees) {
  std::vector<Statement> statements;
  if (!with_trees) {
    PgQuerySplitResult result = pg_query_split_with_parser(script.c_str());
    std::unique_ptr<PgQuerySplitResult, void (*)(PgQuerySplitResult*)> guard(
        &result, [](PgQuerySplitResult* r) { pg_query_free_split_result(*r); });
    if (result.error) return SyntaxError(script, *result.error);
    for (int i = 0; i < result.n_stmts; ++i) {
      const PgQuerySplitStmt* stmt = result.stmts[i];
      Statement statement = MakeStatement(script, stmt->stmt_location, stmt->stmt_len);
      if (!statement.text.empty()) statements.push_back(std::move(statement));
    }
    return statements;
  }
  PgQueryParseResult result = pg_query_parse(script.c_str());
  std::unique_ptr<PgQueryParseResult, void (*)(PgQueryParseResult*)> guard(
      &result, [](PgQueryParseResult* r) { pg_query_free_parse_result(*r); });
  if (result.error) return SyntaxError(script, *result.error);
  const nlohmann::json tree = nlohmann::json::parse(result.parse_tree, nullptr, false);
  if (tree.is_discarded() || !tree.contains("stmts")) return statements;
  for (const auto& stmt : tree["stmts"]) {
    const size_t location = stmt.value("stmt_location", 0);
    // stmt_len 0 means "to the end of the script".
    const size_t length = stmt.value("stmt_len", 0) == 0 ? script.size() - location
                                                         : stmt.value("stmt_len", size_t{0});
    Statement statement = MakeStatement(script, location, length);
    if (statement.text.empty()) continue;
    statement.tree = stmt.value("stmt", nlohmann::json::object());
    statements.push_back(std::move(statement));
  }
  return statements;
}

}  // namespace tidemark::sql
