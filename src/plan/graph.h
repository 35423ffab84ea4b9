// The migration graph and the desired-state diff, with Django's semantics (SPEC section 2).
//
// Pure code: no I/O, no threads, no clock. Given the steps, the targets and the ledger's
// rows, ComputeDiff says which steps to revert and to apply, in which order. The order of
// applies is exactly Django's `migrate --plan` order, so both tools agree step by step.
#pragma once

#include <set>
#include <string>
#include <variant>
#include <vector>

#include "plan/model.h"
#include "plan/reason.h"

namespace tidemark::plan {

// Why a plan cannot run. `reason` is a Stalled condition reason of SPEC section 1;
// `message` names the step or field and says what to do.
struct Problem {
  Reason reason;
  std::string message;
};

enum class ActionKind { kApply, kRevert, kFake };
const char* ActionName(ActionKind kind);  // "apply", "revert", "fake"

// An action as it is recorded (ledger history, status, CLI): applied or reverted, and
// "fake" when only recorded, without running its SQL.
enum class RecordedAction { kApply, kRevert, kFake, kFakeRevert };
RecordedAction Recorded(bool forward, bool fake);
const char* RecordedActionName(RecordedAction action);  // apply, revert, fake, fake-revert

struct Action {
  ActionKind kind = ActionKind::kApply;
  const Step* step = nullptr;  // points into the steps given to ComputeDiff
};

struct Diff {
  std::vector<Action> actions;          // reverts (dependents first), then applies
  std::vector<const Step*> nodes;       // the graph after squash rules, in display order
  std::set<StepId> applied;             // nodes counted as applied (squash rules included)
  std::vector<StepId> unknown_applied;  // ledger rows that no step and no squash knows

  size_t CountOf(ActionKind kind) const;
};

using DiffOrProblem = std::variant<Diff, Problem>;

// `steps` must outlive the Diff. `ledger` holds the (app, name) rows of the ledger table.
DiffOrProblem ComputeDiff(const std::vector<Step>& steps, const std::vector<Target>& targets,
                          const std::set<StepId>& ledger, const std::vector<StepId>& fake);

// The checks that need no database: duplicates, dependencies, cycles, conflicting leaves,
// targets, squashes (evaluated as on an empty ledger). nullopt when the plan is sound.
std::optional<Problem> Validate(const MigrationPlan& plan);

}  // namespace tidemark::plan
