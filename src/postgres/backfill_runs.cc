// A back-fill step's forward run (ledger::BackfillRun): its batch statement again and again,
// each batch in a transaction of its own with the batch's progress, until a batch changes
// no row; that last batch also records the step and forgets its progress.
//
// The progress table (the history table's name + "_backfill") has one row per back-fill
// under way: its batches and rows so far and the checksum of the statement they were counted
// for. Written in each batch's transaction, so that the counts are exact whatever stops the
// run; a later run goes on counting from them (the statement is idempotent by contract:
// docs/plan-format.md, "Back-fills").
#include <libpq-fe.h>

#include <cstdlib>

#include "base/log.h"
#include "ledger/history.h"
#include "postgres/pg_store_impl.h"

namespace tidemark::postgres {

using ledger::BackfillProgress;
using ledger::StepError;
using ledger::StepResult;
using ledger::StepRun;

namespace {

int64_t Number(const PGresult* result, int row, int column) {
  return std::strtoll(PQgetvalue(result, row, column), nullptr, 10);
}

}  // namespace

std::string PgStore::BackfillTable() const {
  return Quote(options_.schema) + "." + Quote(options_.ledger.history_table + "_backfill");
}

// The counts an earlier run of this back-fill left, or zero; a note when it goes on from them.
Result<BackfillProgress> PgStore::BackfillStart(const StepRun& run,
                                                std::vector<std::string>* notes) {
  TM_RETURN_IF_ERROR(Exec(conn_, "CREATE TABLE IF NOT EXISTS " + BackfillTable() +
                                     " (\"app\" varchar(255) NOT NULL, \"name\" varchar(255) NOT "
                                     "NULL, \"checksum\" text NOT NULL, \"rows\" bigint NOT NULL, "
                                     "\"batches\" bigint NOT NULL, \"updated_at\" timestamptz NOT "
                                     "NULL, PRIMARY KEY (\"app\", \"name\"))")
                         .status());
  TM_ASSIGN_OR_RETURN(const ResultPtr found,
                      Exec(conn_, Query{"SELECT checksum, rows, batches FROM " + BackfillTable() +
                                            " WHERE app = $1 AND name = $2",
                                        {run.id.app, run.id.name}}));
  BackfillProgress progress;
  if (PQntuples(found.get()) == 0) return progress;
  if (PQgetvalue(found.get(), 0, 0) != run.checksum) {
    notes->push_back(ledger::RestartedBackfillNote(Number(found.get(), 0, 1)));
    TM_RETURN_IF_ERROR(
        Exec(conn_, Query{"DELETE FROM " + BackfillTable() + " WHERE app = $1 AND name = $2",
                          {run.id.app, run.id.name}})
            .status());
    return progress;
  }
  progress.rows = Number(found.get(), 0, 1);
  progress.batches = Number(found.get(), 0, 2);
  notes->push_back(ledger::ResumedBackfillNote(progress));
  return progress;
}

// One batch in its own transaction: the statement, then its counts (rows > 0) or the step's
// record (no row: done). Sets `*done`.
std::optional<StepError> PgStore::RunBatch(const StepRun& run, BackfillProgress* progress,
                                           Clock::time_point start, bool* done) {
  auto failed = [this](const Status& status) {
    StepError error;
    error.message = status.message();
    error.connection_lost = Lost();
    return error;
  };
  const Status begun =
      Exec(conn_, "BEGIN; SELECT set_config('lock_timeout', '" + Milliseconds(run.lock_timeout) +
                      "', true), set_config('statement_timeout', '" +
                      Milliseconds(run.statement_timeout) + "', true)")
          .status();
  if (!begun.ok()) return failed(begun);
  const std::string& statement = run.statements.front();
  const ResultPtr batch(PQexec(conn_, statement.c_str()));
  if (!Succeeded(batch.get())) return StepErrorOf(conn_, batch.get(), 0, statement);
  const int64_t rows = std::strtoll(PQcmdTuples(batch.get()), nullptr, 10);
  *done = rows == 0;
  Status written;
  if (*done) {
    written = Exec(conn_, RecordQuery(run, {.action = ledger::HistoryAction(run),
                                            .duration = Duration::kGiven,
                                            .duration_ms = MillisecondsSince(start)}))
                  .status();
    if (written.ok()) {
      written =
          Exec(conn_, Query{"DELETE FROM " + BackfillTable() + " WHERE app = $1 AND name = $2",
                            {run.id.app, run.id.name}})
              .status();
    }
    if (written.ok()) written = Exec(conn_, NotifyQuery()).status();
    if (!written.ok()) {
      written = Status::Internal("the back-fill is done, but recording the step failed: " +
                                 written.message());
    }
  } else {
    written =
        Exec(conn_, Query{"INSERT INTO " + BackfillTable() +
                              " AS p (app, name, checksum, rows, batches, updated_at) "
                              "VALUES ($1, $2, $3, $4, 1, now()) ON CONFLICT (app, name) DO UPDATE "
                              "SET rows = p.rows + EXCLUDED.rows, batches = p.batches + 1, "
                              "updated_at = now()",
                          {run.id.app, run.id.name, run.checksum, std::to_string(rows)}})
            .status();
  }
  if (written.ok()) written = Exec(conn_, "COMMIT").status();
  if (!written.ok()) return failed(written);
  if (!*done) {
    progress->rows += rows;
    progress->batches += 1;
    progress->run_rows += rows;
  }
  progress->batch_rows = rows;
  progress->seconds = MillisecondsSince(start) / 1000;
  return std::nullopt;
}

StepResult PgStore::RunBackfill(const StepRun& run) {
  const auto start = Clock::now();
  const ledger::BackfillRun& backfill = *run.backfill;
  StepResult outcome;
  std::optional<StepError> error;
  Result<BackfillProgress> started = BackfillStart(run, &outcome.notes);
  BackfillProgress progress;
  if (!started.ok()) {
    error = StepError{};
    error->message = started.status().message();
    error->connection_lost = Lost();
  } else {
    progress = *started;
  }
  for (bool done = false; !error && !done;) {
    if (backfill.max_batches > 0 && progress.batches >= backfill.max_batches) {
      error = ledger::NotConverging(progress, backfill.max_batches);
      break;
    }
    error = RunBatch(run, &progress, start, &done);
    if (error) {
      if (!Lost()) (void)Exec(conn_, "ROLLBACK");
      error->connection_lost = Lost();
      break;
    }
    if (backfill.on_progress) backfill.on_progress(progress);
    if (!done && backfill.pause && !backfill.pause(backfill.batch_delay)) {
      error = ledger::StoppedBetweenBatches(progress);
    }
  }
  outcome.backfill = progress;
  outcome.duration_ms = MillisecondsSince(start);
  if (!error) {
    outcome.ok = true;
    return outcome;
  }
  outcome.error = std::move(*error);
  // A shutdown between batches is no failure of the step.
  if (!outcome.error.stopped || outcome.error.not_converging) {
    RecordFailure(run, outcome.error, outcome.duration_ms);
  }
  return outcome;
}

}  // namespace tidemark::postgres
