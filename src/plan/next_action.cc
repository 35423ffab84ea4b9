#include "plan/next_action.h"

#include <algorithm>

namespace tidemark::plan {

namespace {

tidemark::Action NextActionFor(const Outcome& outcome, bool status_published,
                               const RequeuePolicy& policy) {
  if (!status_published) return tidemark::Action::Error();
  if (outcome.stalled) return tidemark::Action::Retry();  // SPEC 3: retries never give up for good
  if (outcome.progressing) {
    switch (outcome.progressing->reason) {
      case Reason::kWaitingForLock:
        return tidemark::Action::RequeueAfter(policy.lock_retry);
      case Reason::kRunnerRunning:  // the Job's watch brings the plan back, no polling
        return tidemark::Action::AwaitChange();
      default:
        return tidemark::Action::Retry();
    }
  }
  if (outcome.idle_reason == Reason::kSuspended)
    return tidemark::Action::AwaitChange();  // touches nothing
  // A dry run, or actions awaiting approval: an approval is a spec change, which reconciles
  // at once; the resync notices a ledger that changed meanwhile.
  if (outcome.idle_reason) return tidemark::Action::Done(policy.resync);
  if (!outcome.pending.empty()) return tidemark::Action::Retry();
  return tidemark::Action::Done(policy.resync);
}

}  // namespace

tidemark::Action NextAction(const Outcome& outcome, bool status_published,
                            const RequeuePolicy& policy, bool moved_on) {
  const tidemark::Action action = NextActionFor(outcome, status_published, policy);
  return moved_on ? action.RestartingBackoff() : action;
}

bool MovedOn(size_t steps_run, bool status_published, const std::vector<Condition>& before,
             const PlanStatus& now) {
  if (steps_run > 0) return true;
  // An unpublished status leaves `before` as it was: comparing with it again and again would
  // restart the back-off on every failed write.
  if (!status_published || before.empty()) return false;
  for (const Condition& condition : now.conditions) {
    const auto old = std::find_if(before.begin(), before.end(),
                                  [&](const Condition& c) { return c.type == condition.type; });
    if (old == before.end() || old->status != condition.status || old->reason != condition.reason)
      return true;
  }
  return false;
}

}  // namespace tidemark::plan
