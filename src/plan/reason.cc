#include "plan/reason.h"

namespace tidemark::plan {

const char* ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kUpToDate:
      return "UpToDate";
    case Reason::kPending:
      return "Pending";
    case Reason::kWaitingForRollout:
      return "WaitingForRollout";
    case Reason::kWaitingForApproval:
      return "WaitingForApproval";
    case Reason::kApplying:
      return "Applying";
    case Reason::kReverting:
      return "Reverting";
    case Reason::kWaitingForLock:
      return "WaitingForLock";
    case Reason::kRunnerRunning:
      return "RunnerRunning";
    case Reason::kDatabaseUnavailable:
      return "DatabaseUnavailable";
    case Reason::kInvalidSpec:
      return "InvalidSpec";
    case Reason::kDependencyCycle:
      return "DependencyCycle";
    case Reason::kUnknownDependency:
      return "UnknownDependency";
    case Reason::kTargetConflict:
      return "TargetConflict";
    case Reason::kRevertDenied:
      return "RevertDenied";
    case Reason::kIrreversible:
      return "Irreversible";
    case Reason::kChecksumMismatch:
      return "ChecksumMismatch";
    case Reason::kUnknownApplied:
      return "UnknownApplied";
    case Reason::kLintBlocked:
      return "LintBlocked";
    case Reason::kPythonStep:
      return "PythonStep";
    case Reason::kMigrationFailed:
      return "MigrationFailed";
    case Reason::kDirtyNonAtomic:
      return "DirtyNonAtomic";
    case Reason::kSecretNotFound:
      return "SecretNotFound";
    case Reason::kPhaseOrder:
      return "PhaseOrder";
    case Reason::kInternalError:
      return "InternalError";
    case Reason::kRunnerFailed:
      return "RunnerFailed";
    case Reason::kBackupFailed:
      return "BackupFailed";
    case Reason::kTransactionPooler:
      return "TransactionPooler";
    case Reason::kDryRun:
      return "DryRun";
    case Reason::kSuspended:
      return "Suspended";
    case Reason::kNoDrift:
      return "NoDrift";
  }
  return "Unknown";
}

bool IsInvalidInput(Reason reason) {
  switch (reason) {
    case Reason::kInvalidSpec:
    case Reason::kDependencyCycle:
    case Reason::kUnknownDependency:
    case Reason::kTargetConflict:
    case Reason::kSecretNotFound:
    case Reason::kTransactionPooler:
      return true;
    default:
      return false;
  }
}

}  // namespace tidemark::plan
