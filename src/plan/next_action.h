// What a reconcile's outcome means for the next one: the single rule book shared by the
// controller (op::PlanReconciler) and `tidemark run --watch`, so both retry, wait and
// resync a plan alike. Pure: table tests cover it (tests/plan/next_action_test.cc).
#pragma once

#include <chrono>

#include "base/action.h"
#include "plan/status.h"

namespace tidemark::plan {

struct RequeuePolicy {
  std::chrono::milliseconds resync{10 * 60'000};  // look again at a plan that is done
  // Another run holds the ledger's lock (the engine already waited its lock_wait): look
  // again after this, not after a back-off that would grow while a long migration runs.
  std::chrono::milliseconds lock_retry{5'000};
};

// The Action after a reconcile that ended with `outcome`; `status_published` is false when
// its status could not be written (the controller then retries with back-off). A reconcile
// that `moved_on` (MovedOn) restarts the back-off, should it need one.
tidemark::Action NextAction(const Outcome& outcome, bool status_published,
                            const RequeuePolicy& policy, bool moved_on = false);

// Whether a reconcile moved its plan on: it ran a step, or its published status `now` ends
// with another reason than the status it started from (`before`; none on a first reconcile).
// Without this, the failures of a long wait (a Secret that came late: every watch event
// reconciles and fails again) would make the first hitch after it wait minutes.
bool MovedOn(size_t steps_run, bool status_published, const std::vector<Condition>& before,
             const PlanStatus& now);

}  // namespace tidemark::plan
