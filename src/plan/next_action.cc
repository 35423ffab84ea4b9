#include "plan/next_action.h"

namespace tidemark::plan {

tidemark::Action NextAction(const Outcome& outcome, bool status_published,
                            const RequeuePolicy& policy) {
  if (!status_published) return tidemark::Action::Error();
  if (outcome.stalled) return tidemark::Action::Retry();  // SPEC 3: retries never give up for good
  if (outcome.progressing) {
    return outcome.progressing->reason == Reason::kWaitingForLock
               ? tidemark::Action::RequeueAfter(policy.lock_retry)
               : tidemark::Action::Retry();
  }
  if (outcome.idle_reason == Reason::kSuspended)
    return tidemark::Action::AwaitChange();  // touches nothing
  if (outcome.idle_reason)
    return tidemark::Action::Done(policy.resync);  // a dry run: nothing to retry
  if (!outcome.pending.empty()) return tidemark::Action::Retry();
  return tidemark::Action::Done(policy.resync);
}

}  // namespace tidemark::plan
