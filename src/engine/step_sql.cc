// The SQL of steps: parsed once per reconcile (ParsedSteps), and the public functions that
// `tidemark sql` and `tidemark lint` call on steps of their own.
#include <algorithm>

#include "base/text.h"
#include "engine/reconciler.h"
#include "sql/lint.h"
#include "sql/tables.h"

namespace tidemark::engine {
namespace {

const std::string& Script(const plan::Step& step, bool forward) {
  static const std::string kNone;
  return forward ? step.forward : step.backward ? *step.backward : kNone;
}

}  // namespace

const ParsedSql& ParsedSteps::Get(const plan::Step& step, bool forward) {
  auto found = parsed_.find({&step, forward});
  if (found != parsed_.end()) return found->second;
  // Only forward SQL is linted or read for created tables; a non-atomic step's statements
  // are read for those that run CONCURRENTLY, a back-fill's for its kind of statement.
  const bool backfill = forward && step.kind == plan::StepKind::kBackfill;
  ParsedSql parsed =
      sql::Parse(Script(step, forward), (with_trees_ && forward) || !step.atomic || backfill);
  return parsed_.try_emplace({&step, forward}, std::move(parsed)).first->second;
}

Result<std::vector<std::string>> StatementTexts(const plan::Step& step, bool forward,
                                                const ParsedSql& parsed) {
  if (!parsed.ok()) {
    return Status::InvalidArgument("step " + step.id.ToString() + " (" + step.origin + ") " +
                                   (forward ? "forward" : "backward") + " SQL does not parse, " +
                                   parsed.status().message() + "; fix the SQL");
  }
  std::vector<std::string> statements;
  for (const sql::Statement& statement : *parsed) statements.push_back(statement.text);
  return statements;
}

std::optional<std::string> NotABatchStatement(const plan::Step& step,
                                              const std::vector<sql::Statement>& parsed) {
  std::string found;
  if (parsed.size() != 1) {
    found = std::to_string(parsed.size()) + " statements";
  } else if (!sql::IsBatchStatement(parsed.front())) {
    found = "`" + Printable(parsed.front().text, 80) + "`";
  } else {
    return std::nullopt;
  }
  return "step " + step.id.ToString() + " (" + step.origin +
         ") forward: a back-fill (kind: Backfill) runs exactly one UPDATE, DELETE or INSERT ... "
         "SELECT, again in transactions of its own until it changes no row; found " +
         found + ". Put other SQL (DDL, several statements, BEGIN/COMMIT) in a step of its own";
}

std::vector<ledger::ConcurrentStatement> ConcurrentStatements(
    const std::vector<sql::Statement>& parsed) {
  std::vector<ledger::ConcurrentStatement> concurrent;
  for (size_t i = 0; i < parsed.size(); ++i) {
    if (auto found = sql::Concurrently(parsed[i])) {
      concurrent.push_back({i, found->built_index_schema, found->built_index});
    }
  }
  return concurrent;
}

bool BuildsIndexAt(const std::vector<ledger::ConcurrentStatement>& concurrent, int index) {
  return std::any_of(concurrent.begin(), concurrent.end(),
                     [&](const ledger::ConcurrentStatement& statement) {
                       return static_cast<int>(statement.statement_index) == index &&
                              !statement.index_name.empty();
                     });
}

Result<std::vector<std::string>> StepStatements(const plan::Step& step, bool forward) {
  return StatementTexts(step, forward, sql::Parse(Script(step, forward), /*with_trees=*/false));
}

std::vector<plan::LintFinding> LintForward(const std::vector<const plan::Step*>& steps,
                                           ParsedSteps& parsed, sql::LintOptions options) {
  std::vector<plan::LintFinding> findings;
  sql::PlanLinter linter(std::move(options));
  for (const plan::Step* step : steps) {
    const ParsedSql& statements = parsed.Get(*step, /*forward=*/true);
    if (!statements.ok()) continue;  // reported as InvalidSpec by the statement check
    for (auto& finding : linter.Lint(*step, *statements)) findings.push_back(std::move(finding));
  }
  return findings;
}

std::vector<plan::LintFinding> LintSteps(const std::vector<const plan::Step*>& steps,
                                         sql::LintOptions options) {
  ParsedSteps parsed(/*with_trees=*/true);
  return LintForward(steps, parsed, std::move(options));
}

}  // namespace tidemark::engine
