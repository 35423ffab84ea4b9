#pragma once
// The catalogue of lint rules: each rule's name, severity and summary (the lock it takes,
// what it blocks, what to do instead), and the findings that raise them. Internal to the sql
// layer: lint.cc and lint_allow.cc raise them, LintRules() (lint.h) lists them for the docs,
// the tests and `-- tidemark:allow`.

#include <string>

#include "sql/lint.h"

namespace tidemark::sql {

extern const LintRule kIndexWithoutConcurrently;
extern const LintRule kConcurrentlyInTransaction;
extern const LintRule kNotNullWithoutDefault;
extern const LintRule kSetNotNull;
extern const LintRule kColumnTypeChange;
extern const LintRule kConstraintWithoutNotValid;
extern const LintRule kUniqueConstraint;
extern const LintRule kVolatileDefault;
extern const LintRule kColumnRewritesTable;
extern const LintRule kDropColumn;
extern const LintRule kDropTable;
extern const LintRule kRenameColumn;
extern const LintRule kRenameTable;
extern const LintRule kDropIndexWithoutConcurrently;
extern const LintRule kDropDatabase;
extern const LintRule kReindexWithoutConcurrently;
extern const LintRule kDetachWithoutConcurrently;
extern const LintRule kExclusionConstraint;
extern const LintRule kDomainConstraint;
extern const LintRule kTruncate;
extern const LintRule kTruncateCascade;
extern const LintRule kRefreshWithoutConcurrently;
extern const LintRule kVacuumFull;
extern const LintRule kCluster;
extern const LintRule kLockTable;
extern const LintRule kSetTablespace;
extern const LintRule kSetLogged;
extern const LintRule kValidateInSameTransaction;
extern const LintRule kBackfillInSameTransaction;
extern const LintRule kTransactionControl;
extern const LintRule kDropDefaultBreaksOldInserts;
extern const LintRule kNeedsNewerServer;
extern const LintRule kInvalidAllow;

// A finding of `rule` about statement `index` (from 0) of `step`: "statement N: what: summary".
plan::LintFinding Finding(const plan::Step& step, const LintRule& rule, int index,
                          const std::string& what);
// A finding about the step as a whole, not one of its statements.
plan::LintFinding StepFinding(const plan::Step& step, const LintRule& rule,
                              const std::string& what);

}  // namespace tidemark::sql
