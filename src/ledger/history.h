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
  bool by_runner = false;  // run by spec.runner (the app's code), not by tidemark
};

// The history's words for a run that succeeded (HistoryRow::action): apply, revert, fake
// or fake-revert, by the run's direction and whether it was faked.
const char* HistoryAction(const StepRun& run);
// HistoryRow::direction: forward or backward.
const char* HistoryDirection(Direction direction);

// Per step: the checksum of its last apply, whether a start was left unfinished, and the
// failures since its last success (the latest one's error kept for a dirty step).
History Summarize(std::vector<HistoryRow> rows);

}  // namespace tidemark::ledger
