// The step set the reliability suite applies through crashes, races and faults, and the
// check, read from pg_catalog in one snapshot, that the ledger, the history and the schema
// agree: every step applied at most (and, once converged, exactly) once, nothing half done.
#pragma once

#include <string>
#include <vector>

namespace tidemark::testing {

// `count` steps of app `r` in one chain: most are atomic (a table with rows, and a column
// added to the table of the atomic step before), every sixth is non-atomic (one or two
// CREATE INDEX CONCURRENTLY on earlier tables). `sleep_seconds` > 0 adds a pg_sleep to
// each atomic step, to stretch an apply for tests that act while it runs.
std::string StepSetYaml(int count, double sleep_seconds = 0);

// A MigrationPlan document named `name` holding the step set, with `database_yaml` as its
// spec.database (e.g. "{dsnFrom: {secretKeyRef: {name: db, key: dsn}}}"; "" for none) and
// `policy_fields` added to its policy (lint is Off: the set builds indexes on purpose).
std::string StepSetPlan(const std::string& name, int count, const std::string& database_yaml,
                        const std::string& policy_fields = "", double sleep_seconds = 0);

// What the database holds of the step set, compared with what it should: empty when it is
// consistent, else one line per problem. `converged` also requires every step applied.
//   - a step in the ledger has its history `apply` row exactly once, and its work is there
//     (table, rows, column; indexes built and valid);
//   - an atomic step not in the ledger left nothing behind;
//   - the applied steps are a prefix of the chain (the next one's indexes may be half
//     built while a non-atomic step is interrupted, never once converged).
std::vector<std::string> StepSetProblems(const std::string& dsn, int count, bool converged);

// How many steps of the set the ledger holds (0 before it exists).
int AppliedSteps(const std::string& dsn);

// The problems as one message, for assertions.
std::string Join(const std::vector<std::string>& problems);

}  // namespace tidemark::testing
