#include "ledger/history.h"

#include <algorithm>
#include <map>

#include "plan/graph.h"

namespace tidemark::ledger {
namespace {

// Rows that end a step's run: the step is in a known state after them.
bool IsSuccess(const std::string& action) {
  return action == "apply" || action == "revert" || action == "fake" || action == "fake-revert" ||
         action == "resolve";
}

}  // namespace

const char* HistoryAction(const StepRun& run) {
  return plan::RecordedActionName(plan::Recorded(run.direction == Direction::kForward, run.fake));
}

const char* HistoryDirection(Direction direction) {
  return direction == Direction::kForward ? "forward" : "backward";
}

History Summarize(std::vector<HistoryRow> rows) {
  std::sort(rows.begin(), rows.end(),
            [](const HistoryRow& a, const HistoryRow& b) { return a.id < b.id; });
  History history;
  std::map<StepId, std::string> last_error;
  for (const HistoryRow& row : rows) {
    if (row.action == "runner-start") {
      history.claims[row.step] = {row.direction == "forward", row.runner_run_id, row.plan,
                                  row.started_at};
      continue;
    }
    history.claims.erase(row.step);  // any later row of the step ends the runner's claim
    if (row.action == "failure" || row.action == "abandoned") {
      ++history.failures[row.step];
      last_error[row.step] = row.error;
      // A non-atomic run that stopped with nothing of it left done is not dirty.
      if (row.action == "abandoned") history.dirty.erase(row.step);
      continue;
    }
    if (row.action != "start" && !IsSuccess(row.action)) continue;
    // The latest start or success decides the step's state.
    history.checksums.erase(row.step);
    history.dirty.erase(row.step);
    if (row.action == "apply" || row.action == "fake") {
      history.checksums[row.step] = row.checksum;
    } else if (row.action == "start") {
      history.dirty[row.step] = {row.direction == "forward", row.statement_index, row.started_at,
                                 ""};
    }
    last_error.erase(row.step);  // an error before a start is not why that run stopped
    if (IsSuccess(row.action)) history.failures.erase(row.step);
  }
  for (auto& [step, dirty] : history.dirty) {
    if (auto error = last_error.find(step); error != last_error.end()) dirty.error = error->second;
  }
  return history;
}

}  // namespace tidemark::ledger
