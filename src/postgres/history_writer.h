// The one writer of tidemark_history rows (SPEC section 3): every path that records a step
// (an atomic run, a non-atomic run's start marker and its end, a failure, a resolve) builds
// its INSERT here, so that the columns and their values are written one way. Pure text and
// parameters; no session.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ledger/store.h"
#include "postgres/session.h"

namespace tidemark::postgres {

// How a history row's duration_ms is filled.
enum class Duration {
  kNone,   // a start marker: the step has not run yet
  kGiven,  // HistoryEntry::duration_ms, as the caller measured it
  // By the server, from the transaction's start to the row: a pipelined step learns its
  // duration only once the pipeline is over.
  kSinceTransactionStart,
};

// What a history row says beyond the StepRun (step, direction, checksum, plan).
struct HistoryEntry {
  std::string action;  // start, apply, revert, fake, fake-revert, resolve, failure, abandoned
  Duration duration = Duration::kNone;
  double duration_ms = 0;                               // with Duration::kGiven
  std::optional<int> statement_index = std::nullopt;    // the statement reached (start, failure)
  std::optional<std::string> sql_state = std::nullopt;  // failure rows
  std::optional<std::string> error = std::nullopt;      // failure rows
  // run_by = 'runner': spec.runner ran the step (a column added to older history tables
  // when first needed, so it is written only then).
  bool by_runner = false;
  // With by_runner: the runner's id of the run (StepResult::runner_run_id), in column
  // runner_run_id (added with run_by); "" writes none.
  std::string runner_run_id = "";
};

// The run's restore point (StepRun::restore_point) goes in the columns restore_at and
// restore_lsn, which Store::MarkRestorePoint made sure exist.
// Appends the INSERT of `run`'s history row into `table` (quoted) to `query`: its text to
// query->sql, its parameters to query->params, numbered after those already there. The
// error is stored with each of `secrets` (Store::Secrets: the session's password) masked,
// as everywhere else it shows: a statement or server message may quote the password.
void AppendHistoryInsert(const std::string& table, const ledger::StepRun& run,
                         const HistoryEntry& entry, const std::vector<std::string>& secrets,
                         Query* query);

}  // namespace tidemark::postgres
