// Lint of migration SQL for operations that take long locks or break running code (the
// squawk family of rules), read from libpg_query's parse trees (SPEC section 5).
//
// Operations on a table created earlier in the same step are exempt from the rules about
// existing tables: a new, empty table cannot be locked by anyone else yet. Locks are judged
// over the step's transaction: an atomic step is one transaction, a non-atomic one has those
// its own BEGIN ... COMMIT opens. A `-- tidemark:allow RULE reason` line in a statement's
// leading comments accepts that statement's findings of RULE, a step's lintAllow its findings
// of RULE in every statement (docs/lint.md). A plan's steps are linted in order: a column
// type change is judged against the type an earlier step (or the live catalogue) gave it,
// and verdicts follow the server's version when it is known.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "plan/model.h"
#include "plan/status.h"
#include "sql/parse.h"
#include "sql/schema.h"

namespace tidemark::sql {

struct LintRule {
  const char* name;
  plan::Severity severity;
  const char* summary;
};

// Every rule, for the docs, the tests and the allows that name one.
const std::vector<LintRule>& LintRules();

// What lint knows beyond the SQL.
struct LintOptions {
  // The server's major version (11, 16, ...): verdicts that depend on it follow it. Unset:
  // they assume a server with every form they suggest (REINDEX CONCURRENTLY needs 12, DETACH
  // PARTITION CONCURRENTLY 14, an ADD COLUMN with a stable DEFAULT skips the rewrite from 11).
  std::optional<int> server_version;
  std::string default_schema = "public";  // where unqualified names live (database.schema)
  CatalogColumns catalog;                 // the live columns, from tidemark lint --database
};

// Lints a plan's steps in the order they run, following the tables and column types that
// earlier steps create (sql/schema.h).
class PlanLinter {
 public:
  explicit PlanLinter(LintOptions options = {});

  // Lints the forward SQL of `step` (statements parsed with trees), then follows what it does
  // to the schema for the steps after it.
  std::vector<plan::LintFinding> Lint(const plan::Step& step,
                                      const std::vector<Statement>& statements);

 private:
  LintOptions options_;
  Schema schema_;
};

// Lints one step on its own.
std::vector<plan::LintFinding> LintStep(const plan::Step& step,
                                        const std::vector<Statement>& statements);

}  // namespace tidemark::sql
