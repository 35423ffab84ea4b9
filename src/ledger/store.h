// The ledger: where a database remembers which steps are applied (Django's
// django_migrations table), with tidemark's audit history beside it and the advisory lock
// that lets one run at a time work on it (SPEC section 3).
//
// This is the interface the engine drives; src/postgres implements it with libpq. A Store
// is one database session: not thread-safe, used by one reconcile at a time.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "plan/model.h"

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

// What the audit history says about the steps.
struct History {
  std::map<StepId, std::string> checksums;  // sha256 of the forward SQL at its last apply
  std::map<StepId, DirtyStep> dirty;
  std::map<StepId, int> failures;  // consecutive failures since the last success
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
  PlanRef plan;
};

struct StepError {
  int statement_index = -1;  // -1: not in a statement (connecting, recording)
  std::string statement;
  std::string sql_state;
  std::string message;
  bool lock_timeout = false;     // rolled back cleanly; worth retrying
  bool connection_lost = false;  // the database went away
  bool dirty = false;            // a non-atomic step stopped half-way
};

struct StepResult {
  bool ok = false;
  bool by_runner = false;  // run by spec.runner (the app's code), not by this store
  double duration_ms = 0;
  StepError error;                 // when !ok
  std::vector<std::string> notes;  // what the run did beside the step (an INVALID index dropped)
};

class Store {
 public:
  virtual ~Store() = default;

  // "db/schema/table", for messages.
  virtual std::string Describe() const = 0;
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
  // rows are not touched.
  virtual Status RecordRunnerStep(const StepRun& run, const StepResult& result) = 0;
  // Marks a dirty step resolved by a person: recorded as applied (forward) or not.
  virtual Status Resolve(const StepId& id, const std::vector<StepId>& records, bool applied,
                         const PlanRef& plan) = 0;
};

using StorePtr = std::unique_ptr<Store>;

}  // namespace tidemark::ledger
