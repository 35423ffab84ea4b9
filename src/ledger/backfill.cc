// What a store says about a back-fill (store.h, BackfillRun), in one place for every store.
#include "base/text.h"
#include "ledger/store.h"

namespace tidemark::ledger {

std::string RowsInBatches(const BackfillProgress& progress) {
  return GroupThousands(static_cast<size_t>(progress.rows)) + " rows in " +
         GroupThousands(static_cast<size_t>(progress.batches)) + " batches";
}

std::string ResumedBackfillNote(const BackfillProgress& earlier) {
  return "went on from an earlier run's " + RowsInBatches(earlier);
}

std::string RestartedBackfillNote(int64_t earlier_rows) {
  return "the batch statement changed since an earlier run counted " +
         std::to_string(earlier_rows) +
         " rows; counting from zero (the statement runs until it changes no row either way)";
}

StepError NotConverging(const BackfillProgress& progress, int64_t max_batches) {
  StepError error;
  error.stopped = true;
  error.not_converging = true;
  error.message = std::to_string(progress.batches) + " batches (maxBatches " +
                  std::to_string(max_batches) + ") changed " + std::to_string(progress.rows) +
                  " rows and the statement still changes rows: it is probably not converging "
                  "(does it skip the rows it already changed?)";
  return error;
}

StepError StoppedBetweenBatches(const BackfillProgress& progress) {
  StepError error;
  error.stopped = true;
  error.message = "stopped after " + std::to_string(progress.batches) +
                  " batches: shutting down; the next run goes on from there";
  return error;
}

}  // namespace tidemark::ledger
