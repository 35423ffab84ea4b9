#include "sql/lint_rules.h"

namespace tidemark::sql {

// Each summary says the lock taken, what it blocks, and what to do instead.
const LintRule kIndexWithoutConcurrently{
    "require-concurrent-index-creation", plan::Severity::kError,
    "CREATE INDEX without CONCURRENTLY holds a SHARE lock that blocks writes to the table while "
    "the index builds; use CREATE INDEX CONCURRENTLY in a step with atomic: false"};
const LintRule kConcurrentlyInTransaction{
    "ban-concurrently-in-transaction", plan::Severity::kError,
    "CONCURRENTLY and VACUUM cannot run inside a transaction block and PostgreSQL refuses them: "
    "put the statement in a step with atomic: false, outside any BEGIN ... COMMIT"};
const LintRule kNotNullWithoutDefault{
    "adding-required-field", plan::Severity::kError,
    "adding a NOT NULL column without a DEFAULT fails on a table that has rows"};
const LintRule kSetNotNull{
    "setting-not-nullable-field", plan::Severity::kError,
    "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock; add a CHECK (col IS "
    "NOT NULL) NOT VALID constraint, VALIDATE it, then SET NOT NULL"};
const LintRule kColumnTypeChange{
    "changing-column-type", plan::Severity::kError,
    "such a type change rewrites the table and its indexes under an ACCESS EXCLUSIVE lock that "
    "blocks reads and writes; widen instead (varchar(n) to varchar(m > n) or text, numeric(p,s) "
    "to numeric(q > p,s) change only the catalogue), or add a new column, back-fill it in "
    "batches and switch the code over"};
const LintRule kConstraintWithoutNotValid{
    "constraint-missing-not-valid", plan::Severity::kError,
    "adding a FOREIGN KEY or CHECK constraint without NOT VALID scans the table under lock; "
    "add it NOT VALID, then VALIDATE CONSTRAINT in a later step"};
const LintRule kUniqueConstraint{
    "disallowed-unique-constraint", plan::Severity::kError,
    "adding a UNIQUE constraint builds its index under an ACCESS EXCLUSIVE lock that blocks "
    "reads and writes; CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING "
    "INDEX"};
const LintRule kVolatileDefault{
    "adding-field-with-volatile-default", plan::Severity::kError,
    "a volatile DEFAULT is computed for every existing row, rewriting the table under an ACCESS "
    "EXCLUSIVE lock that blocks reads and writes; add the column without it, SET DEFAULT after, "
    "and back-fill in batches"};
const LintRule kColumnRewritesTable{
    "adding-field-that-rewrites-table", plan::Severity::kError,
    "this ADD COLUMN fills every existing row, rewriting the table under an ACCESS EXCLUSIVE lock "
    "that blocks reads and writes; add a plain nullable column, back-fill it in batches, then add "
    "the default or constraint"};
const LintRule kDropColumn{"ban-drop-column", plan::Severity::kWarning,
                           "dropping a column breaks code that still reads it"};
const LintRule kDropTable{"ban-drop-table", plan::Severity::kWarning,
                          "dropping a table breaks code that still uses it"};
const LintRule kRenameColumn{"renaming-column", plan::Severity::kWarning,
                             "renaming a column breaks code that uses the old name"};
const LintRule kRenameTable{"renaming-table", plan::Severity::kWarning,
                            "renaming a table breaks code that uses the old name"};
const LintRule kDropIndexWithoutConcurrently{
    "require-concurrent-index-deletion", plan::Severity::kWarning,
    "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock that blocks reads and writes "
    "of the table; use DROP INDEX CONCURRENTLY in a step with atomic: false"};
const LintRule kDropDatabase{"ban-drop-database", plan::Severity::kError,
                             "a migration must not drop a database"};
const LintRule kReindexWithoutConcurrently{
    "require-concurrent-reindex", plan::Severity::kError,
    "REINDEX without CONCURRENTLY holds a SHARE lock that blocks writes to the table and an "
    "ACCESS EXCLUSIVE lock on each index that blocks the reads using it; use REINDEX ... "
    "CONCURRENTLY (PostgreSQL 12+) in a step with atomic: false"};
const LintRule kDetachWithoutConcurrently{
    "require-concurrent-detach-partition", plan::Severity::kError,
    "DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE locks on the parent and the "
    "partition that block reads and writes of both; use DETACH PARTITION ... CONCURRENTLY "
    "(PostgreSQL 14+) in a step with atomic: false"};
const LintRule kExclusionConstraint{
    "adding-exclusion-constraint", plan::Severity::kError,
    "adding an EXCLUDE constraint builds its index and checks every row under an ACCESS "
    "EXCLUSIVE lock that blocks reads and writes, and has no NOT VALID or USING INDEX form; "
    "create it with the table, or accept it with -- tidemark:allow on a table known to be small"};
const LintRule kDomainConstraint{
    "domain-constraint-missing-not-valid", plan::Severity::kError,
    "a new domain constraint is checked against every column of the domain, under a SHARE lock "
    "that blocks writes to each of those tables; ADD CONSTRAINT ... NOT VALID, then VALIDATE "
    "CONSTRAINT in a later step"};
const LintRule kTruncate{"ban-truncate", plan::Severity::kWarning,
                         "TRUNCATE deletes every row under an ACCESS EXCLUSIVE lock that blocks "
                         "reads and writes; a migration rarely means to empty a live table"};
const LintRule kTruncateCascade{
    "ban-truncate-cascade", plan::Severity::kError,
    "TRUNCATE ... CASCADE also empties every table with a foreign key to it, each under an ACCESS "
    "EXCLUSIVE lock; name each table to empty, without CASCADE"};
const LintRule kRefreshWithoutConcurrently{
    "require-concurrent-refresh", plan::Severity::kError,
    "REFRESH MATERIALIZED VIEW without CONCURRENTLY holds an ACCESS EXCLUSIVE lock that blocks "
    "reads of the view while it recomputes; use REFRESH MATERIALIZED VIEW CONCURRENTLY (the view "
    "needs a unique index)"};
const LintRule kVacuumFull{"ban-vacuum-full", plan::Severity::kError,
                           "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock that "
                           "blocks reads and writes until done; use plain VACUUM, or pg_repack "
                           "outside the migration"};
const LintRule kCluster{"ban-cluster", plan::Severity::kError,
                        "CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock that blocks "
                        "reads and writes until done; use pg_repack outside the migration"};
const LintRule kLockTable{
    "ban-lock-table", plan::Severity::kError,
    "an explicit LOCK TABLE in SHARE mode or stronger blocks writes (ACCESS EXCLUSIVE also "
    "reads) until the transaction ends, and PostgreSQL refuses it outside a transaction; let "
    "each statement take its own lock, bounded by policy.lockTimeout"};
const LintRule kSetTablespace{"ban-set-tablespace", plan::Severity::kError,
                              "SET TABLESPACE copies the table or index under an ACCESS EXCLUSIVE "
                              "lock that blocks reads and writes until done; move it with "
                              "pg_repack --tablespace outside the migration"};
const LintRule kSetLogged{"ban-set-logged", plan::Severity::kError,
                          "SET LOGGED and SET UNLOGGED rewrite the table under an ACCESS "
                          "EXCLUSIVE lock that blocks reads and writes until done; create the "
                          "table with the persistence it needs"};
const LintRule kValidateInSameTransaction{
    "validate-in-same-transaction", plan::Severity::kError,
    "VALIDATE CONSTRAINT in the transaction that added the constraint NOT VALID keeps the ADD's "
    "lock (ACCESS EXCLUSIVE for a CHECK, SHARE ROW EXCLUSIVE for a FOREIGN KEY) through the whole "
    "scan, so NOT VALID gains nothing; VALIDATE in a later step"};
const LintRule kBackfillInSameTransaction{
    "backfill-in-same-transaction", plan::Severity::kError,
    "an UPDATE in the transaction of an ALTER TABLE on the same table keeps the ALTER's lock "
    "(ACCESS EXCLUSIVE for most forms, blocking reads and writes) for the whole UPDATE; "
    "back-fill in a later step, in batches"};
const LintRule kTransactionControl{
    "transaction-control-in-step", plan::Severity::kError,
    "a step's SQL must not end the transaction tidemark runs it in: an atomic step is one "
    "transaction with its ledger row, which a COMMIT or ROLLBACK would end early; in a step with "
    "atomic: false, close every BEGIN with COMMIT"};
const LintRule kDropDefaultBreaksOldInserts{
    "dropping-default-breaks-running-inserts", plan::Severity::kWarning,
    "adding the column and dropping its default is fast (ACCESS EXCLUSIVE, briefly), but once "
    "the default is gone the release still running fails every INSERT that leaves the column "
    "out, on its NOT NULL; move the ALTER COLUMN ... DROP DEFAULT to a step with phase: "
    "PostDeploy, or keep the default (Django 5: db_default)"};
const LintRule kNeedsNewerServer{
    "requires-newer-server", plan::Severity::kError,
    "the server's PostgreSQL does not have this form and refuses the statement; write the form "
    "the message names, or upgrade the server first"};
const LintRule kInvalidAllow{
    "invalid-lint-allow", plan::Severity::kWarning,
    "write `-- tidemark:allow RULE reason` before a statement, or a step's lintAllow entry "
    "{rule, reason}, naming a rule of docs/lint.md that it raises and why its finding is "
    "accepted"};

const std::vector<LintRule>& LintRules() {
  static const std::vector<LintRule> rules = {kIndexWithoutConcurrently,
                                              kConcurrentlyInTransaction,
                                              kNotNullWithoutDefault,
                                              kSetNotNull,
                                              kColumnTypeChange,
                                              kConstraintWithoutNotValid,
                                              kUniqueConstraint,
                                              kVolatileDefault,
                                              kColumnRewritesTable,
                                              kDropColumn,
                                              kDropTable,
                                              kRenameColumn,
                                              kRenameTable,
                                              kDropIndexWithoutConcurrently,
                                              kDropDatabase,
                                              kReindexWithoutConcurrently,
                                              kDetachWithoutConcurrently,
                                              kExclusionConstraint,
                                              kDomainConstraint,
                                              kTruncate,
                                              kTruncateCascade,
                                              kRefreshWithoutConcurrently,
                                              kVacuumFull,
                                              kCluster,
                                              kLockTable,
                                              kSetTablespace,
                                              kSetLogged,
                                              kValidateInSameTransaction,
                                              kBackfillInSameTransaction,
                                              kTransactionControl,
                                              kDropDefaultBreaksOldInserts,
                                              kNeedsNewerServer,
                                              kInvalidAllow};
  return rules;
}

plan::LintFinding Finding(const plan::Step& step, const LintRule& rule, int index,
                          const std::string& what) {
  return {
      step.id,       rule.name,
      rule.severity, "statement " + std::to_string(index + 1) + ": " + what + ": " + rule.summary,
      index,         ""};
}

plan::LintFinding StepFinding(const plan::Step& step, const LintRule& rule,
                              const std::string& what) {
  return {step.id, rule.name, rule.severity, what + ": " + rule.summary, -1, ""};
}

}  // namespace tidemark::sql
