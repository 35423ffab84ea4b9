// Accepting a lint finding: a `-- tidemark:allow RULE reason` line in a statement's leading
// comments accepts that statement's findings of RULE; an entry of the step's lintAllow accepts
// its findings of RULE in every statement. An accepted finding keeps its place in the output
// with the reason; an allow that names no rule, gives no reason or accepts nothing is itself a
// finding (invalid-allow), so a stale acceptance does not linger unseen. Pure.
#pragma once

#include <vector>

#include "plan/model.h"
#include "plan/status.h"
#include "sql/parse.h"

namespace tidemark::sql {

// Marks the findings of `step` (whose statements are `statements`) that its allows accept,
// and adds a finding for each allow that is malformed or accepts nothing.
void AcceptAllowedFindings(const plan::Step& step, const std::vector<Statement>& statements,
                           std::vector<plan::LintFinding>* findings);

}  // namespace tidemark::sql
