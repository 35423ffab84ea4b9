// The ledger: where a database remembers which steps are applied (Django's
// django_migrations table), with tidemark's audit history beside it and the advisory lock
// that lets one run at a time work on it (SPEC section 3).
//
// This is the interface the engine drives; src/postgres implements it with libpq. A Store
// is one database session: not thread-safe, used by one reconcile at a time.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "plan/model.h"
#include "plan/status.h"

namespace tidemark::ledger {

using plan::StepId;

// The plan a history row belongs to.
struct PlanRef {
  std::string ns;
  std::string name;
  std::string uid;
  int64_t generation = 0;
};

// A non-atomic step that started and did not finish (SPEC 3, "dirty").
struct DirtyStep {
  bool forward = true;
  int statement_index = 0;  // the statement reached (0-based)
  std::string started_at;
  std::string error;  // the error that stopped it, when one was recorded
};

// A python step that spec.runner runs elsewhere (a Job) and whose outcome is not recorded
// yet: a runner-start row is the step's latest (Store::RecordRunnerStart).
struct RunnerClaim {
  bool forward = true;
  std::string run_id;  // the runner's id of the run: "Job prod/shop-apply-... (uid ...)"
  std::string plan;    // the plan that started it: "namespace/name"
  std::string since;   // when
};

// What the audit history says about the steps.
struct History {
  std::map<StepId, std::string> checksums;  // sha256 of the forward SQL at its last apply
  std::map<StepId, DirtyStep> dirty;
  std::map<StepId, int> failures;  // consecutive failures since the last success
  std::map<StepId, RunnerClaim> claims;
};

// What a ledger records about some apps' steps.
struct Recorded {
  std::set<StepId> applied;  // the ledger's (app, name) rows
  History history;
};

enum class Direction { kForward, kBackward };

// A statement of a non-atomic step that runs CONCURRENTLY: it waits for older transactions
// under StepRun::concurrent_lock_timeout rather than lock_timeout, and an index build first
// drops the INVALID index an earlier failed build of the same name left behind.
struct ConcurrentStatement {
  size_t statement_index = 0;  // in StepRun::statements
  std::string index_schema;    // the index built ("" schema: the plan's), or both empty
  std::string index_name;
};

// A session that holds a lock a step waits for (pg_blocking_pids), as the server shows it.
struct Blocker {
  int pid = 0;
  std::string application_name;
  std::string state;            // "active", "idle in transaction", ...
  std::chrono::seconds age{0};  // since its transaction (or else its query) started
};
// Called, from a thread of the store's, while a step waits for a lock, with who holds it:
// once for each new set of blocking sessions.
using BlockedCallback = std::function<void(const std::vector<Blocker>&)>;

// "pid 4242 (application \"psql\", idle in transaction, for 35 s)", the first three and a
// count of the rest: bounded whatever the server answers.
std::string DescribeBlockers(const std::vector<Blocker>& blockers);

// How far a back-fill is: its batches that changed rows and the rows they changed, over
// every run of it (the store keeps the counts in the batches' own transactions, so they
// hold across a crash); `run_rows` in `seconds` are this run's, for the rate.
struct BackfillProgress {
  int64_t rows = 0;
  int64_t batches = 0;  // the last batch, which changes no row and ends it, is not counted
  int64_t run_rows = 0;
  double seconds = 0;
  int64_t batch_rows = 0;  // of the batch just run (0: the last, which ends the back-fill)
  double RowsPerSecond() const { return seconds > 0 ? run_rows / seconds : 0; }
};

// "20,000 rows in 20 batches", as every message about a back-fill counts it.
std::string RowsInBatches(const BackfillProgress& progress);

// As status.backfill shows it.
inline plan::BackfillStatus StatusOf(const StepId& id, const BackfillProgress& progress) {
  return {id, progress.rows, progress.batches, progress.RowsPerSecond()};
}

// A back-fill step (plan::StepKind::kBackfill) forward: its one statement is run again, each
// time in a transaction of its own under lock_timeout and statement_timeout, until it
// changes no row; then the step is recorded and its progress forgotten, in one transaction.
struct BackfillRun {
  std::chrono::milliseconds batch_delay{0};  // the pause after a batch that changed rows
  int64_t max_batches = 0;                   // 0: no limit
  // Waits `delay` between batches; false when the run is asked to stop (the batches done
  // stay done, the next run goes on from them). Null: no wait.
  std::function<bool(std::chrono::milliseconds delay)> pause;
  std::function<void(const BackfillProgress&)> on_progress;  // after each batch; may be null
};

// One step to execute, or to record without executing (fake).
struct StepRun {
  StepId id;
  Direction direction = Direction::kForward;
  bool atomic = true;
  bool fake = false;
  std::vector<std::string> statements;
  std::vector<StepId> records;  // ledger rows to insert (forward) or delete (backward)
  std::string checksum;         // of the forward SQL
  std::chrono::milliseconds lock_timeout{0};       // 0: none
  std::chrono::milliseconds statement_timeout{0};  // 0: none
  std::vector<ConcurrentStatement> concurrent;     // non-atomic steps only
  std::chrono::milliseconds concurrent_lock_timeout{0};
  // A non-atomic step whose earlier run was interrupted (killed, connection lost) at this
  // statement goes on from it: the statements before it are done. When it is an index
  // build, a valid index of its name is what the interrupted run finished before it could
  // record so, and counts as done.
  std::optional<size_t> resume_at;
  PlanRef plan;
  // The restore point of the run this step belongs to, written in its history rows.
  std::optional<plan::RestorePoint> restore_point;
  BlockedCallback on_blocked;           // null: nobody asks who blocks the step
  std::optional<BackfillRun> backfill;  // a back-fill's forward run (not fake)
};

struct StepError {
  int statement_index = -1;  // -1: not in a statement (connecting, recording)
  std::string statement;
  std::string sql_state;
  std::string message;
  bool lock_timeout = false;      // rolled back cleanly; worth retrying
  std::vector<Blocker> blockers;  // with lock_timeout: who held the lock, when known
  bool connection_lost = false;   // the database went away
  bool dirty = false;             // a non-atomic step stopped half-way
  // A back-fill that stopped between batches, its batches done staying done: asked to stop
  // (shutting down), or after BackfillRun::max_batches batches that all changed rows.
  bool stopped = false;
  bool not_converging = false;
};

struct StepResult {
  bool ok = false;
  bool by_runner = false;  // run by spec.runner (the app's code), not by this store
  // by_runner: the runner's lasting id of this run of the step (a Job's name and uid), or "" when
  // every run is recorded by the reconcile that started it (a child process).
  std::string runner_run_id = "";
  double duration_ms = 0;
  StepError error;                 // when !ok
  std::vector<std::string> notes;  // what the run did beside the step (an INVALID index dropped)
  std::optional<BackfillProgress> backfill;  // a back-fill's counts, done or not
};

// What the stores say of a back-fill (backfill.cc): the notes of a run that goes on from an
// earlier one's counts, or starts again because its statement changed; and the errors of
// one that stops between batches, past max_batches or asked to stop.
std::string ResumedBackfillNote(const BackfillProgress& earlier);
std::string RestartedBackfillNote(int64_t earlier_rows);
StepError NotConverging(const BackfillProgress& progress, int64_t max_batches);
StepError StoppedBetweenBatches(const BackfillProgress& progress);

class Store {
 public:
  virtual ~Store() = default;

  // "db/schema/table", for messages.
  virtual std::string Describe() const = 0;
  // What must never leave tidemark although the database may echo it (an error quoting a
  // statement that holds it): the password this store's session connected with.
  virtual std::vector<std::string> Secrets() const { return {}; }
  // True when the ledger table exists (read-only commands never create it).
  virtual Result<bool> LedgerExists() = 0;
  // Creates the ledger (Django's DDL) and the history table when absent.
  virtual Status EnsureTables() = 0;
  // Takes the session advisory lock of this ledger, waiting at most `max_wait`.
  // Returns the seconds waited; DeadlineExceeded when another session kept it; Unsupported
  // when the session is not one server session (a transaction-mode pooler), where a session
  // lock would keep nothing apart.
  virtual Result<double> Lock(std::chrono::milliseconds max_wait) = 0;
  virtual Status Unlock() = 0;
  // The ledger rows and the history of these apps' steps (a ledger may be shared by plans
  // with other apps); a part is empty when its table does not exist.
  virtual Result<Recorded> Read(const std::vector<std::string>& apps) = 0;
  // Runs a step and records it (ledger and history) in the same transaction when atomic.
  // On failure the history gets a failure row; the ledger is untouched.
  virtual StepResult Run(const StepRun& run) = 0;
  // Which of `tables` (unqualified names, or schema.table) exist as tables, as Django's
  // --fake-initial sees them (introspection.table_names()): ordinary, partitioned and
  // foreign tables; a partition, view, index or sequence of that name does not count.
  virtual Result<std::set<std::string>> ExistingTables(const std::vector<std::string>& tables) = 0;
  // Records in the history a step that the runner (the app's own code, engine/runner.h) ran
  // and that wrote its own ledger rows: with `result.ok`, an apply or revert row marked as
  // run by the runner with its duration; otherwise a failure row with its error. The ledger
  // rows are not touched. A run with a `result.runner_run_id` is recorded once: when the
  // history has a row of that step and id already (a controller that crashed after writing
  // it and before noting so on the Job), nothing is written. Called under the ledger's lock,
  // which makes the check and the write one.
  virtual Status RecordRunnerStep(const StepRun& run, const StepResult& result) = 0;
  // With `started`: records in the history that the runner started `run` elsewhere as
  // `run_id` (a Job, which outlives the reconcile): a runner-start row, the step's claim
  // (History::claims) until the step's next row (RecordRunnerStep's, a resolve, or this
  // one's). Other runs see it and start nothing meanwhile. Without: that run is gone with
  // no outcome (its Job was deleted); a runner-lost row ends the claim, and is no failure.
  virtual Status RecordRunnerClaim(const StepRun& run, const std::string& run_id, bool started) = 0;
  // The server's time and WAL position now, taken before a run's first change; the history
  // table is given the columns that hold it when it was made before they existed.
  virtual Result<plan::RestorePoint> MarkRestorePoint() = 0;
  // Marks a dirty step resolved by a person: recorded as applied (forward) or not.
  virtual Status Resolve(const StepId& id, const std::vector<StepId>& records, bool applied,
                         const PlanRef& plan) = 0;
};

using StorePtr = std::unique_ptr<Store>;

}  // namespace tidemark::ledger
