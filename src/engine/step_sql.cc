// The SQL of steps: parsed once per reconcile (ParsedSteps), and the public functions that
// `tidemark sql` and `tidemark lint` call on steps of their own.
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
  // are read for those that run CONCURRENTLY.
  ParsedSql parsed = sql::Parse(Script(step, forward), (with_trees_ && forward) || !step.atomic);
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

Result<std::vector<std::string>> StepStatements(const plan::Step& step, bool forward) {
  return StatementTexts(step, forward, sql::Parse(Script(step, forward), /*with_trees=*/false));
}

std::vector<plan::LintFinding> LintForward(const std::vector<const plan::Step*>& steps,
                                           ParsedSteps& parsed) {
  std::vector<plan::LintFinding> findings;
  for (const plan::Step* step : steps) {
    const ParsedSql& statements = parsed.Get(*step, /*forward=*/true);
    if (!statements.ok()) continue;  // reported as InvalidSpec by the statement check
    for (auto& finding : sql::LintStep(*step, *statements)) findings.push_back(std::move(finding));
  }
  return findings;
}

std::vector<plan::LintFinding> LintSteps(const std::vector<const plan::Step*>& steps) {
  ParsedSteps parsed(/*with_trees=*/true);
  return LintForward(steps, parsed);
}

}  // namespace tidemark::engine
