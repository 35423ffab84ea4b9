// Lint of migration SQL for operations that take long locks or break running code (the
// squawk family of rules), read from libpg_query's parse trees (SPEC section 5).
//
// Operations on a table created earlier in the same step are exempt from the rules about
// existing tables: a new, empty table cannot be locked by anyone else yet. Locks are judged
// over the step's transaction: an atomic step is one transaction, a non-atomic one has those
// its own BEGIN ... COMMIT opens. A `-- tidemark:allow RULE reason` line in a statement's
// leading comments accepts that statement's findings of RULE (docs/lint.md).
#pragma once

#include <string>
#include <vector>

#include "plan/model.h"
#include "plan/status.h"
#include "sql/parse.h"

namespace tidemark::sql {

struct LintRule {
  const char* name;
  plan::Severity severity;
  const char* summary;
};

// Every rule, for `tidemark lint --rules` and the docs.
const std::vector<LintRule>& LintRules();

// Lints the forward SQL of `step` (statements parsed with trees).
std::vector<plan::LintFinding> LintStep(const plan::Step& step,
                                        const std::vector<Statement>& statements);

}  // namespace tidemark::sql
