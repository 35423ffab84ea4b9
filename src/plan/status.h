// From what a reconcile found and did (Outcome) to the status users see (PlanStatus):
// kstatus conditions (Ready, Reconciling, Stalled, Drifted), summary, pending actions,
// last step, failure, lint findings and drift, as SPEC section 1 fixes them.
//
// Pure: the caller passes the current time and the previous conditions, so
// lastTransitionTime moves only when a condition's status changes. The status's JSON form
// is resource/status_codec.h's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "plan/approval.h"
#include "plan/graph.h"

namespace tidemark::plan {

struct PendingAction {
  RecordedAction action = RecordedAction::kApply;
  StepId migration;
};

struct StepRecord {
  StepId migration;
  RecordedAction action = RecordedAction::kApply;
  std::string at;  // RFC 3339
  int64_t duration_ms = 0;
};

// Where the database was just before a run's first change: a point-in-time recovery target
// (Cloud SQL's "restore to a time", recovery_target_lsn).
struct RestorePoint {
  std::string at;       // the server's clock, RFC 3339 UTC with microseconds
  std::string wal_lsn;  // pg_current_wal_lsn(), e.g. 0/1A2B3C8
};

// A back-fill under way or left unfinished (status.backfill): its counts over every run, and
// the rate of the run that reported them.
struct BackfillStatus {
  StepId migration;
  int64_t rows = 0;
  int64_t batches = 0;
  double rows_per_second = 0;
};

struct StepFailure {
  StepId migration;
  int statement_index = -1;  // 0-based index of the failing statement; -1 when none
  std::string statement;     // its first 200 characters in a PlanStatus
  std::string sql_state;     // SQLSTATE, e.g. 42P01
  std::string message;
  std::string at;
  int attempts = 1;
};

// How much a lint finding matters: an error blocks a plan with policy.lint Block; a
// warning is reported only.
enum class Severity { kWarning, kError };
const char* SeverityName(Severity severity);  // "warning", "error"

struct LintFinding {
  StepId migration;
  std::string rule;  // e.g. "index-without-concurrently"
  Severity severity = Severity::kWarning;
  std::string message;
  int statement_index = -1;
  std::string accepted;  // the reason given by `-- tidemark:allow RULE reason`; empty: not accepted
};

struct Drift {
  std::vector<StepId> checksum_mismatches;
  std::vector<StepId> unknown_applied;
  bool empty() const { return checksum_mismatches.empty() && unknown_applied.empty(); }
};

// What one reconcile ended with. At most one of `stalled` and `progressing` is set.
struct Outcome {
  std::optional<Problem> stalled;      // needs a person (Stalled reasons of SPEC 1)
  std::optional<Problem> progressing;  // will retry by itself (WaitingForLock, ...)
  std::optional<Reason> idle_reason;   // DryRun, Suspended, WaitingForApproval: nothing executed
  std::vector<PendingAction> pending;  // what remains, in order
  std::vector<PendingAction> held;     // post-deploy actions waiting (--phase pre, rollout)
  std::optional<Approval> approval;    // when approval is required and something is pending
  std::string held_for;                // what they wait for, when known (spec.rollout's gate)
  int64_t total = 0;                   // steps in the graph
  int64_t applied = 0;
  int64_t to_revert = 0;
  std::optional<StepRecord> last_applied;
  std::optional<RestorePoint> restore_point;  // recorded by this reconcile before its first change
  std::optional<StepFailure> failure;
  std::optional<BackfillStatus> backfill;  // a back-fill this reconcile left unfinished
  std::vector<LintFinding> lint;
  Drift drift;
  std::vector<std::string> notes;  // said in the Ready/Reconciling message
};

struct Condition {
  std::string type;
  std::string status;  // True | False | Unknown
  int64_t observed_generation = 0;
  std::string last_transition_time;
  std::string reason;
  std::string message;
};

struct PlanStatus {
  int64_t observed_generation = 0;
  std::vector<Condition> conditions;
  int64_t total = 0, applied = 0, pending_count = 0, to_revert = 0;
  std::vector<PendingAction> pending;  // at most kMaxPendingListed; lint and drift alike
  std::optional<Approval> approval;
  std::optional<StepRecord> last_applied;
  std::optional<RestorePoint> restore_point;  // lastRun.restorePoint
  std::optional<StepFailure> failure;
  std::optional<BackfillStatus> backfill;
  std::vector<LintFinding> lint;
  Drift drift;

  const Condition* Find(const std::string& type) const;
};

// Status lists are bounded, whatever the plan: the counts are in the summary and messages.
inline constexpr size_t kMaxPendingListed = 50;
inline constexpr size_t kMaxLintListed = 50;
inline constexpr size_t kMaxDriftListed = 50;  // of each kind
// The status quotes a failing statement's start (bytes), not a whole migration.
inline constexpr size_t kMaxFailureStatement = 200;
// A message in a status or an event says what to do; past this it is cut.
inline constexpr size_t kMaxFailureMessage = 4096;

// Stalled/InternalError for an exception that escaped a reconcile (`what` says which), as
// the controller and `tidemark run` report it.
Problem UnexpectedError(const std::string& what);

// `outcome` with each of `secrets` replaced by "***" in every text it holds (messages,
// statements, notes, lint): the database may echo a password that a run must not show.
void RedactOutcome(const std::vector<std::string>& secrets, Outcome* outcome);

PlanStatus ComputeStatus(const Outcome& outcome, int64_t generation,
                         const std::vector<Condition>& previous, const std::string& now);

}  // namespace tidemark::plan
