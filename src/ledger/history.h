// What the audit history means: its rows for some steps, summarised for the engine.
// Pure: the adapter (src/postgres) reads the rows, this decides what they say.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ledger/store.h"

namespace tidemark::ledger {

// One row of the history table (tidemark_history), as recorded.
struct HistoryRow {
  int64_t id = 0;  // increases with time
  StepId step;
  // start, apply, revert, fake, fake-revert, resolve, failure, or abandoned (a failure of a
  // non-atomic step that left nothing of it done: it ends that start's run)
  std::string action;
  std::string direction;  // forward or backward
  std::string checksum;
  int statement_index = 0;
  std::string started_at;
  std::string error;
  bool by_runner = false;          // run by spec.runner (the app's code), not by tidemark
  std::string runner_run_id = "";  // by_runner: the runner's id of that run (a Job's), or ""
  std::string plan = "";           // "namespace/name" of the plan whose run wrote it
  std::string restore_lsn = "";    // the WAL position before its run's first change; "": none
};

// The history's rows of spec.runner's post-migrate (engine/runner.h), which is no step: no
// Django app label is empty. Its failures since its last success (History::failures) mean
// that a post-migrate is owed.
inline const StepId kPostMigrateRow{"", "post-migrate"};

// The history's words for a run that succeeded (HistoryRow::action): apply, revert, fake
// or fake-revert, by the run's direction and whether it was faked.
const char* HistoryAction(const StepRun& run);
// HistoryRow::direction: forward or backward.
const char* HistoryDirection(Direction direction);

// Per step: the checksum of its last apply, whether a start was left unfinished, the
// failures since its last success (the latest one's error kept for a dirty step), and
// whether spec.runner runs it elsewhere (a runner-start row, ended by any later row).
History Summarize(std::vector<HistoryRow> rows);

}  // namespace tidemark::ledger
