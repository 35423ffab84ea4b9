// The SQL of steps: parsed once per reconcile (ParsedSteps), and the public functions that
// `tidemark sql` and `tidemark lint` call on steps of their own.
#include "engine/reconciler.h"
#include "sql/lint.h"

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
  // Only forward SQL is linted or read for created tables.
  ParsedSql parsed = sql::Parse(Script(step, forward), with_trees_ && forward);
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
