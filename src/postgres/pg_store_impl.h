// The ledger::Store on one libpq session, for src/postgres only (callers get it through
// Connect and SessionPool in pg_store.h). Its ledger SQL (tables, lock, reads, resolving)
// is in ledger_sql.cc, its step runs (atomic, non-atomic, fake) in step_runs.cc.
//
// A PgStore borrows its session for its life and hands it to `release` when destroyed
// (closed, or back to a pool). Like every Store it is not thread-safe: one reconcile at a
// time.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ledger/store.h"
#include "postgres/history_writer.h"
#include "postgres/pg_store.h"
#include "postgres/session.h"

namespace tidemark::postgres {

// A new session, or Unavailable with the server's message (never the password).
Result<PGconn*> OpenSession(const ConnectionParams& params, const ConnectOptions& options);

// What becomes of a session when its store is done: closed, or back to a pool with what the
// store learnt about its ledger when that can be trusted.
using ReleaseSession = std::function<void(PGconn*, const LedgerFacts*)>;

class PgStore : public ledger::Store {
 public:
  PgStore(PGconn* conn, ConnectOptions options, ReleaseSession release)
      : conn_(conn), options_(std::move(options)), release_(std::move(release)) {}
  ~PgStore() override {
    const LedgerFacts facts{
        options_.schema, options_.ledger.table, options_.ledger.history_table, database_, lock_key_,
        server_pid_};
    release_(conn_, lock_key_.empty() ? nullptr : &facts);
  }

  bool Lost() const { return postgres::Lost(conn_); }

  // Learns the database, the lock key and whether the tables exist, and sets the
  // search_path; with `known` facts about the same ledger (the session's search_path
  // already set), without asking the server, leaving the tables to Lock or Read to look
  // for (they may have been dropped since).
  Status Init(const LedgerFacts* known);

  std::string Describe() const override {
    return database_ + "/" + options_.schema + "/" + options_.ledger.table;
  }
  std::vector<std::string> Secrets() const override {
    const char* password = PQpass(conn_);  // from the password field, the DSN or ~/.pgpass
    if (password == nullptr || *password == '\0') return {};
    return {password};
  }
  Result<bool> LedgerExists() override { return Exists(options_.ledger.table, ledger_exists_); }
  Status EnsureTables() override;
  Result<double> Lock(std::chrono::milliseconds max_wait) override;
  Status Unlock() override;
  Result<ledger::Recorded> Read(const std::vector<std::string>& apps) override;
  ledger::StepResult Run(const ledger::StepRun& run) override;
  Result<std::set<std::string>> ExistingTables(const std::vector<std::string>& tables) override;
  Status RecordRunnerStep(const ledger::StepRun& run, const ledger::StepResult& result) override;
  Status RecordRunnerClaim(const ledger::StepRun& run, const std::string& run_id,
                           bool started) override;
  Result<plan::RestorePoint> MarkRestorePoint() override;
  Status Resolve(const ledger::StepId& id, const std::vector<ledger::StepId>& records, bool applied,
                 const ledger::PlanRef& plan) override;

 private:
  // Adds the history's run_by and runner_run_id columns when it lacks them.
  Status EnsureRunnerColumns();
  // The commands of an atomic step's pipeline, and where its parts are among them.
  struct AtomicPipeline {
    std::vector<Query> commands;
    size_t first_statement = 0;
    size_t record_index = 0;
  };

  Result<bool> TableExists(const std::string& table);
  // The refusal of a session that a transaction-mode pooler moved to server process `now`.
  Status MovedSession(const std::string& now) const;
  // `known`, or else whether the table exists now (remembered once it does: another run
  // may create the tables while this one waits for the lock; nobody drops them mid-run).
  Result<bool> Exists(const std::string& table, bool& known);

  std::string Quote(const std::string& identifier) const {
    return QuoteIdentifier(conn_, identifier);
  }
  std::string LedgerTable() const {
    return Quote(options_.schema) + "." + Quote(options_.ledger.table);
  }
  std::string HistoryTable() const {
    return Quote(options_.schema) + "." + Quote(options_.ledger.history_table);
  }

  // ledger_sql.cc: the ledger rows of `run` (inserted forward, deleted backward) and its
  // history row, as one statement; and that statement in a transaction of its own.
  Query RecordQuery(const ledger::StepRun& run, const HistoryEntry& entry) const;
  // NOTIFY on the ledger's channel (LedgerChannel), sent in the transaction that changes it.
  Query NotifyQuery() const;
  Status Record(const ledger::StepRun& run, const HistoryEntry& entry);

  // step_runs.cc.
  ledger::StepResult RunAtomic(const ledger::StepRun& run);
  AtomicPipeline AtomicCommands(const ledger::StepRun& run) const;
  std::optional<ledger::StepError> ReceiveAtomic(const ledger::StepRun& run,
                                                 const AtomicPipeline& pipeline);
  ledger::StepResult RunNonAtomic(const ledger::StepRun& run);
  Result<std::string> StartMarker(const ledger::StepRun& run);
  std::optional<ledger::StepError> RunOneByOne(const ledger::StepRun& run,
                                               const std::string& marker_id,
                                               std::vector<std::string>* notes);
  // The index a CONCURRENTLY build makes, quoted; whether an INVALID index (a failed build's
  // leftover) of that name exists; dropping it, with a note saying so.
  std::string QualifiedIndex(const ledger::ConcurrentStatement& build) const;
  Result<bool> InvalidIndexExists(const ledger::ConcurrentStatement& build);
  // Whether the index of the build is valid; nothing when there is no such index.
  Result<std::optional<bool>> IndexValid(const ledger::ConcurrentStatement& build);
  std::optional<ledger::StepError> DropInvalidIndex(const ledger::ConcurrentStatement& build,
                                                    const std::string& statement,
                                                    std::vector<std::string>* notes);
  // backfill_runs.cc.
  std::string BackfillTable() const;
  ledger::StepResult RunBackfill(const ledger::StepRun& run);
  Result<ledger::BackfillProgress> BackfillStart(const ledger::StepRun& run,
                                                 std::vector<std::string>* notes);
  std::optional<ledger::StepError> RunBatch(const ledger::StepRun& run,
                                            ledger::BackfillProgress* progress,
                                            Clock::time_point start, bool* done);
  // Best effort: the failure itself is reported to the caller either way.
  void RecordFailure(const ledger::StepRun& run, const ledger::StepError& error,
                     double duration_ms);

  PGconn* conn_;
  ConnectOptions options_;
  ReleaseSession release_;
  std::string database_;
  std::string lock_key_;
  std::string server_pid_;  // the server process of the session, as Init found it
  bool ledger_exists_ = false;
  bool history_exists_ = false;
  bool history_has_run_by_ = false;  // the history table has its run_by column (runner rows)
};

}  // namespace tidemark::postgres
