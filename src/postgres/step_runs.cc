// How a step runs (SPEC section 3): an atomic or fake step as one pipelined transaction,
// a non-atomic one statement by statement behind a committed start marker.
#include <libpq-fe.h>

#include "base/log.h"
#include "ledger/history.h"
#include "postgres/pg_store_impl.h"

namespace tidemark::postgres {

using ledger::StepError;
using ledger::StepResult;
using ledger::StepRun;

namespace {

constexpr char kResetTimeouts[] = "RESET lock_timeout; RESET statement_timeout";

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

StepResult PgStore::Run(const StepRun& run) {
  return run.atomic || run.fake ? RunAtomic(run) : RunNonAtomic(run);
}

void PgStore::RecordFailure(const StepRun& run, const StepError& error, double duration_ms) {
  if (Lost() || !history_exists_) return;
  Query failure;
  AppendHistoryInsert(HistoryTable(), run,
                      {.action = "failure",
                       .duration = Duration::kGiven,
                       .duration_ms = duration_ms,
                       .statement_index = error.statement_index,
                       .sql_state = error.sql_state,
                       .error = error.message},
                      &failure);
  // The step's own error is what the caller reports; a lost failure row only makes the
  // next `attempts` count one short, so it is logged, not returned.
  if (auto written = Exec(conn_, failure); !written.ok()) {
    log::Warn("failure not recorded in the history",
              {{"step", run.id.ToString()}, {"error", written.status().message()}});
  }
}

Status PgStore::RecordRunnerStep(const StepRun& run, const StepResult& result) {
  if (!history_has_run_by_) {
    // History tables made before runners existed lack the column; this takes the table's
    // lock for a moment, under the ledger's advisory lock.
    TM_RETURN_IF_ERROR(
        Exec(conn_, "ALTER TABLE " + HistoryTable() + " ADD COLUMN IF NOT EXISTS \"run_by\" text")
            .status());
    history_has_run_by_ = true;
  }
  Query row;
  HistoryEntry entry{.action = result.ok ? ledger::HistoryAction(run) : "failure",
                     .duration = Duration::kGiven,
                     .duration_ms = result.duration_ms,
                     .by_runner = true};
  if (!result.ok) entry.error = result.error.message;
  AppendHistoryInsert(HistoryTable(), run, entry, &row);
  TM_RETURN_IF_ERROR(Exec(conn_, row).status());
  // The runner's Django wrote and committed the ledger row itself; the waiters (tidemark
  // wait) hear of it now instead of at their slow re-check.
  if (result.ok) return Exec(conn_, NotifyQuery()).status();
  return Status::Ok();
}

StepResult PgStore::RunAtomic(const StepRun& run) {
  const auto start = Clock::now();
  const AtomicPipeline pipeline = AtomicCommands(run);
  bool sent = PQenterPipelineMode(conn_) == 1;
  for (const Query& command : pipeline.commands) sent = sent && SendQuery(conn_, command);
  if (sent) sent = PQpipelineSync(conn_) == 1;
  std::optional<StepError> error;
  if (!sent) {
    error = StepError{};
    error->message = PQerrorMessage(conn_);
    error->connection_lost = Lost();
  } else {
    error = ReceiveAtomic(run, pipeline);
  }
  PQexitPipelineMode(conn_);
  StepResult outcome;
  outcome.duration_ms = MillisecondsSince(start);
  if (!error) {
    outcome.ok = true;
    return outcome;
  }
  if (!Lost()) (void)Exec(conn_, "ROLLBACK");  // an explicit transaction stays aborted after a sync
  error->connection_lost = Lost();
  outcome.error = std::move(*error);
  RecordFailure(run, outcome.error, outcome.duration_ms);
  return outcome;
}

PgStore::AtomicPipeline PgStore::AtomicCommands(const StepRun& run) const {
  // One pipeline, one network round trip: BEGIN, the timeouts, every statement, the ledger
  // and history rows, COMMIT. The first error aborts the rest; the server skips them.
  AtomicPipeline pipeline;
  pipeline.commands.push_back({"BEGIN", {}});
  if (!run.fake) {  // both as SET LOCAL, in one statement
    pipeline.commands.push_back({"SELECT set_config('lock_timeout', '" +
                                     Milliseconds(run.lock_timeout) +
                                     "', true), set_config('statement_timeout', '" +
                                     Milliseconds(run.statement_timeout) + "', true)",
                                 {}});
  }
  pipeline.first_statement = pipeline.commands.size();
  if (!run.fake) {
    for (const std::string& statement : run.statements)
      pipeline.commands.push_back({statement, {}});
  }
  pipeline.record_index = pipeline.commands.size();
  // The duration is measured by the server: from BEGIN to the history row.
  pipeline.commands.push_back(RecordQuery(
      run, {.action = ledger::HistoryAction(run), .duration = Duration::kSinceTransactionStart}));
  pipeline.commands.push_back(NotifyQuery());
  pipeline.commands.push_back({"COMMIT", {}});
  return pipeline;
}

std::optional<StepError> PgStore::ReceiveAtomic(const StepRun& run,
                                                const AtomicPipeline& pipeline) {
  std::optional<StepError> error;
  // Each command yields its result then a null; the sync yields PGRES_PIPELINE_SYNC.
  for (size_t i = 0; i < pipeline.commands.size(); ++i) {
    ResultPtr result(PQgetResult(conn_));
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (!result || status == PGRES_FATAL_ERROR) {
      if (!error) {
        const bool is_statement = i >= pipeline.first_statement && i < pipeline.record_index;
        const size_t index = i - pipeline.first_statement;
        error = StepErrorOf(conn_, result.get(), is_statement ? static_cast<int>(index) : -1,
                            is_statement ? run.statements[index] : "");
        if (i == pipeline.record_index) {
          error->message = "recording the step in the ledger failed: " + error->message;
        }
      }
      if (!result) break;
    }
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
  }
  if (!Lost()) {
    ResultPtr sync(PQgetResult(conn_));
    while (sync && PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC)
      sync.reset(PQgetResult(conn_));
  }
  return error;
}

StepResult PgStore::RunNonAtomic(const StepRun& run) {
  const auto start = Clock::now();
  StepResult outcome;
  // The committed "started" marker makes a crash from here on visible as dirty.
  const Result<std::string> marker_id = StartMarker(run);
  if (!marker_id.ok()) {
    outcome.error.message = marker_id.status().message();
    outcome.error.connection_lost = Lost();
    return outcome;  // nothing ran: not dirty
  }
  std::optional<StepError> error = RunOneByOne(run, *marker_id);
  if (!error) {
    (void)Exec(conn_, kResetTimeouts);
    const Status recorded = Record(run, {.action = ledger::HistoryAction(run),
                                         .duration = Duration::kGiven,
                                         .duration_ms = MillisecondsSince(start)});
    if (!recorded.ok()) {
      error = StepError{};
      error->message = "the statements ran, but recording the step failed: " + recorded.message();
      error->connection_lost = Lost();
    }
  }
  outcome.duration_ms = MillisecondsSince(start);
  if (!error) {
    outcome.ok = true;
    return outcome;
  }
  error->dirty = true;
  outcome.error = std::move(*error);
  RecordFailure(run, outcome.error, outcome.duration_ms);
  (void)Exec(conn_, kResetTimeouts);
  return outcome;
}

Result<std::string> PgStore::StartMarker(const StepRun& run) {
  Query marker;
  AppendHistoryInsert(HistoryTable(), run, {.action = "start", .statement_index = 0}, &marker);
  marker.sql += " RETURNING id";
  TM_ASSIGN_OR_RETURN(const ResultPtr inserted, Exec(conn_, marker));
  return std::string(PQgetvalue(inserted.get(), 0, 0));
}

// The step's statements, each in a transaction of its own, the marker following the
// statement reached; the first error, if any.
std::optional<StepError> PgStore::RunOneByOne(const StepRun& run, const std::string& marker_id) {
  auto failed = [this](int index, const Status& status) {
    StepError error;
    error.statement_index = index;
    error.message = status.message();
    error.connection_lost = Lost();
    return error;
  };
  const Status settings =
      Exec(conn_, "SET lock_timeout = '" + Milliseconds(run.lock_timeout) +
                      "'; SET statement_timeout = '" + Milliseconds(run.statement_timeout) + "'")
          .status();
  if (!settings.ok()) return failed(-1, settings);
  for (size_t i = 0; i < run.statements.size(); ++i) {
    const int index = static_cast<int>(i);
    if (i > 0) {
      const Status progress =
          Exec(conn_, Query{"UPDATE " + HistoryTable() + " SET statement_index = $1 WHERE id = $2",
                            {std::to_string(i), marker_id}})
              .status();
      if (!progress.ok()) return failed(index, progress);
    }
    const ResultPtr result(PQexec(conn_, run.statements[i].c_str()));
    if (!Succeeded(result.get())) return StepErrorOf(conn_, result.get(), index, run.statements[i]);
  }
  return std::nullopt;
}

}  // namespace tidemark::postgres
