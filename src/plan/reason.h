// The reasons a MigrationPlan's conditions give (SPEC section 1), as a type. Code decides on
// a Reason; its CamelCase text is written only at the edges (the status, events, logs, the
// command line) through ReasonName.
#pragma once

namespace tidemark::plan {

enum class Reason {
  // Ready
  kUpToDate,
  kPending,             // read-only: steps to run
  kWaitingForRollout,   // pre-deploy steps applied; post-deploy ones wait for the rollout
  kWaitingForApproval,  // policy.approval: Required, and the pending actions are not approved
  // Reconciling: will go on by itself
  kApplying,
  kReverting,
  kWaitingForLock,
  kDatabaseUnavailable,
  kRunnerRunning,  // a python step runs in a Job: the plan goes on when the Job changes
  // Stalled: needs a person
  kInvalidSpec,
  kDependencyCycle,
  kUnknownDependency,
  kTargetConflict,
  kRevertDenied,
  kIrreversible,
  kChecksumMismatch,
  kUnknownApplied,
  kLintBlocked,
  kPythonStep,
  kMigrationFailed,
  kDirtyNonAtomic,
  kSecretNotFound,
  kPhaseOrder,         // one phase asked for while the other must run first
  kInternalError,      // an unexpected exception (a bug): retried with back-off
  kRunnerFailed,       // spec.runner failed, timed out, or did not change the ledger
  kBackupFailed,       // the backup asked for before the first change (apply --backup) failed
  kTransactionPooler,  // the session moves between server sessions: its advisory lock means nothing
  // Nothing executed on purpose
  kDryRun,
  kSuspended,
  // Drifted
  kNoDrift,
};

// "WaitingForLock": the text the status and events carry.
const char* ReasonName(Reason reason);
// True for the reasons that mean "fix your input": the plan, its files or its Secrets
// (the command line's exit code 2); retrying alone cannot help.
bool IsInvalidInput(Reason reason);

}  // namespace tidemark::plan
