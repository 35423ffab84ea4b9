// How a step runs (SPEC section 3): an atomic or fake step as one pipelined transaction,
// a non-atomic one statement by statement behind a committed start marker.
#include <libpq-fe.h>

#include "base/log.h"
#include "ledger/history.h"
#include "postgres/blocker_watch.h"
#include "postgres/pg_store_impl.h"

namespace tidemark::postgres {

using ledger::StepError;
using ledger::StepResult;
using ledger::StepRun;

namespace {

constexpr char kResetTimeouts[] = "RESET lock_timeout; RESET statement_timeout";

const ledger::ConcurrentStatement* FindConcurrent(const StepRun& run, size_t index) {
  for (const ledger::ConcurrentStatement& statement : run.concurrent) {
    if (statement.statement_index == index) return &statement;
  }
  return nullptr;
}

}  // namespace

StepResult PgStore::Run(const StepRun& run) {
  BlockerWatch watch(conn_, run.on_blocked);
  StepResult result = run.backfill && !run.fake ? RunBackfill(run)
                      : run.atomic || run.fake  ? RunAtomic(run)
                                                : RunNonAtomic(run);
  // Who held the lock, for the status: the watch saw them while the step waited.
  std::vector<ledger::Blocker> blockers = watch.Stop();
  if (!result.ok && result.error.lock_timeout) result.error.blockers = std::move(blockers);
  return result;
}

void PgStore::RecordFailure(const StepRun& run, const StepError& error, double duration_ms) {
  if (Lost() || !history_exists_) return;
  Query failure;
  // A non-atomic step that stopped clean ends its start marker's run ("abandoned"): it is
  // not dirty.
  const bool ends_run = !run.atomic && !run.fake && !error.dirty;
  AppendHistoryInsert(HistoryTable(), run,
                      {.action = ends_run ? "abandoned" : "failure",
                       .duration = Duration::kGiven,
                       .duration_ms = duration_ms,
                       .statement_index = error.statement_index,
                       .sql_state = error.sql_state,
                       .error = error.message},
                      Secrets(), &failure);
  // The step's own error is what the caller reports; a lost failure row only makes the
  // next `attempts` count one short, so it is logged, not returned.
  if (auto written = Exec(conn_, failure); !written.ok()) {
    log::Warn("failure not recorded in the history",
              {{"step", run.id.ToString()}, {"error", written.status().message()}});
  }
}

Status PgStore::EnsureRunnerColumns() {
  if (history_has_run_by_) return Status::Ok();
  TM_ASSIGN_OR_RETURN(
      ResultPtr has,
      Exec(conn_, Query{"SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass($1) "
                        "AND attname = 'runner_run_id' AND NOT attisdropped)",
                        {HistoryTable()}}));
  if (PQgetvalue(has.get(), 0, 0)[0] != 't') {
    // History tables made before runners existed lack the columns: a moment of the table's
    // lock, under the ledger's advisory lock, once.
    TM_RETURN_IF_ERROR(Exec(conn_, "ALTER TABLE " + HistoryTable() +
                                       " ADD COLUMN IF NOT EXISTS \"run_by\" text,"
                                       " ADD COLUMN IF NOT EXISTS \"runner_run_id\" text")
                           .status());
  }
  history_has_run_by_ = true;
  return Status::Ok();
}

Status PgStore::RecordRunnerClaim(const StepRun& run, const std::string& run_id, bool started) {
  TM_RETURN_IF_ERROR(EnsureRunnerColumns());
  Query row;
  AppendHistoryInsert(HistoryTable(), run,
                      {.action = started ? "runner-start" : "runner-lost",
                       .by_runner = true,
                       .runner_run_id = run_id},
                      Secrets(), &row);
  return Exec(conn_, row).status();
}

Status PgStore::RecordRunnerStep(const StepRun& run, const StepResult& result) {
  TM_RETURN_IF_ERROR(EnsureRunnerColumns());
  if (!result.runner_run_id.empty()) {
    // Recorded before (by a controller that stopped before it could note so on its Job)?
    // The ledger's lock keeps every other tidemark out between this and the write.
    TM_ASSIGN_OR_RETURN(ResultPtr seen,
                        Exec(conn_, Query{"SELECT EXISTS (SELECT FROM " + HistoryTable() +
                                              " WHERE app = $1 AND name = $2 AND runner_run_id = $3"
                                              " AND action NOT IN ('runner-start', 'runner-lost'))",
                                          {run.id.app, run.id.name, result.runner_run_id}}));
    if (PQgetvalue(seen.get(), 0, 0)[0] == 't') {
      log::Info("runner step recorded before",
                {{"step", run.id.ToString()}, {"run", result.runner_run_id}});
      return Status::Ok();
    }
  }
  Query row;
  HistoryEntry entry{.action = result.ok ? ledger::HistoryAction(run) : "failure",
                     .duration = Duration::kGiven,
                     .duration_ms = result.duration_ms,
                     .by_runner = true,
                     .runner_run_id = result.runner_run_id};
  if (!result.ok) entry.error = result.error.message;
  AppendHistoryInsert(HistoryTable(), run, entry, Secrets(), &row);
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
  std::optional<StepError> error = RunOneByOne(run, *marker_id, &outcome.notes);
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
  // A CONCURRENTLY first statement that found its locks taken changed nothing a retry
  // cannot undo (its leftover INVALID index is dropped before the next build): the step is
  // back where it started, and is retried like an atomic one.
  error->dirty = !(error->lock_timeout && error->statement_index == 0 &&
                   FindConcurrent(run, 0) != nullptr && !Lost());
  outcome.error = std::move(*error);
  RecordFailure(run, outcome.error, outcome.duration_ms);
  (void)Exec(conn_, kResetTimeouts);
  return outcome;
}

Result<std::string> PgStore::StartMarker(const StepRun& run) {
  Query marker;
  AppendHistoryInsert(
      HistoryTable(), run,
      {.action = "start", .statement_index = static_cast<int>(run.resume_at.value_or(0))},
      Secrets(), &marker);
  marker.sql += " RETURNING id";
  TM_ASSIGN_OR_RETURN(const ResultPtr inserted, Exec(conn_, marker));
  return std::string(PQgetvalue(inserted.get(), 0, 0));
}

Result<std::optional<bool>> PgStore::IndexValid(const ledger::ConcurrentStatement& build) {
  TM_ASSIGN_OR_RETURN(const ResultPtr found,
                      Exec(conn_, Query{"SELECT indisvalid FROM pg_index WHERE indexrelid = "
                                        "to_regclass($1)",
                                        {QualifiedIndex(build)}}));
  if (PQntuples(found.get()) == 0) return std::optional<bool>();
  return std::optional<bool>(PQgetvalue(found.get(), 0, 0)[0] == 't');
}

Result<bool> PgStore::InvalidIndexExists(const ledger::ConcurrentStatement& build) {
  TM_ASSIGN_OR_RETURN(const std::optional<bool> valid, IndexValid(build));
  return valid.has_value() && !*valid;
}

std::string PgStore::QualifiedIndex(const ledger::ConcurrentStatement& build) const {
  return (build.index_schema.empty() ? "" : Quote(build.index_schema) + ".") +
         Quote(build.index_name);
}

std::optional<StepError> PgStore::DropInvalidIndex(const ledger::ConcurrentStatement& build,
                                                   const std::string& statement,
                                                   std::vector<std::string>* notes) {
  const int index = static_cast<int>(build.statement_index);
  const Result<bool> invalid = InvalidIndexExists(build);
  if (!invalid.ok()) {
    StepError error;
    error.statement_index = index;
    error.statement = statement;
    error.message = invalid.status().message();
    error.connection_lost = Lost();
    return error;
  }
  if (!*invalid) return std::nullopt;
  const std::string drop = "DROP INDEX CONCURRENTLY IF EXISTS " + QualifiedIndex(build);
  const ResultPtr dropped(PQexec(conn_, drop.c_str()));
  if (!Succeeded(dropped.get())) {
    StepError error = StepErrorOf(conn_, dropped.get(), index, statement);
    error.message = "dropping the INVALID index " + QualifiedIndex(build) +
                    " that an earlier failed build left behind: " + error.message;
    return error;
  }
  notes->push_back("dropped the INVALID index " + QualifiedIndex(build) +
                   " that an earlier failed build left behind, then built it again");
  log::Info("dropped an invalid index before building it again",
            {{"index", QualifiedIndex(build)}});
  return std::nullopt;
}

// The step's statements, each in a transaction of its own, the marker following the
// statement reached; the first error, if any. A CONCURRENTLY statement runs under the
// concurrent lock timeout.
std::optional<StepError> PgStore::RunOneByOne(const StepRun& run, const std::string& marker_id,
                                              std::vector<std::string>* notes) {
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
  for (size_t i = run.resume_at.value_or(0); i < run.statements.size(); ++i) {
    const int index = static_cast<int>(i);
    if (i > run.resume_at.value_or(0)) {
      const Status progress =
          Exec(conn_, Query{"UPDATE " + HistoryTable() + " SET statement_index = $1 WHERE id = $2",
                            {std::to_string(i), marker_id}})
              .status();
      if (!progress.ok()) return failed(index, progress);
    }
    const ledger::ConcurrentStatement* concurrent = FindConcurrent(run, i);
    const bool builds_index = concurrent != nullptr && !concurrent->index_name.empty();
    if (builds_index && run.resume_at == i) {
      const Result<std::optional<bool>> valid = IndexValid(*concurrent);
      if (!valid.ok()) return failed(index, valid.status());
      if (valid->value_or(false)) {
        notes->push_back("the interrupted run had built the index " + QualifiedIndex(*concurrent) +
                         " before it stopped; kept it");
        continue;
      }
    }
    if (concurrent != nullptr) {
      const Status budget =
          Exec(conn_, "SET lock_timeout = '" + Milliseconds(run.concurrent_lock_timeout) + "'")
              .status();
      if (!budget.ok()) return failed(index, budget);
      if (builds_index) {
        if (auto error = DropInvalidIndex(*concurrent, run.statements[i], notes)) return error;
      }
    }
    const ResultPtr result(PQexec(conn_, run.statements[i].c_str()));
    if (!Succeeded(result.get())) {
      StepError error = StepErrorOf(conn_, result.get(), index, run.statements[i]);
      if (builds_index && !Lost()) {
        const Result<bool> left_behind = InvalidIndexExists(*concurrent);
        if (left_behind.ok() && *left_behind) {
          error.message += "; the failed build left the INVALID index " +
                           QualifiedIndex(*concurrent) +
                           " behind, which tidemark drops before building it again";
        }
      }
      return error;
    }
    if (concurrent != nullptr) {
      const Status restored =
          Exec(conn_, "SET lock_timeout = '" + Milliseconds(run.lock_timeout) + "'").status();
      if (!restored.ok()) return failed(index, restored);
    }
  }
  return std::nullopt;
}

}  // namespace tidemark::postgres
