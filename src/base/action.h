// What a reconcile asks to happen next to its object, as kube-rs's `Action` and
// controller-runtime's `Result` say it: look again after a delay, retry with the object's
// exponential back-off, or wait for a change. The reconciler only decides; whoever drives
// it (runtime::Controller in the cluster, `tidemark run --watch` on files) carries it out.
//
// Every Action also names the result label of tidemark_reconcile_total, so that the
// metric always agrees with what the controller did. A plain value; thread-compatible.
#pragma once

#include <chrono>
#include <string>

namespace tidemark {

// The `result` label of tidemark_reconcile_total (SPEC section 6).
enum class ReconcileResult { kSuccess, kRequeue, kError };
const char* ReconcileResultName(ReconcileResult result);

class Action {
 public:
  enum class Kind {
    kRequeueAfter,  // look again once delay() has passed; the back-off is forgotten
    kBackoff,       // look again after the object's next back-off delay (doubling per try)
    kAwaitChange,   // nothing to do until the object, or something it names, changes
  };

  // Done: the back-off is forgotten, and the object is looked at again after `resync`, so
  // that changes made behind the controller's back (drift) are seen.
  static Action Done(std::chrono::milliseconds resync) {
    return {Kind::kRequeueAfter, resync, ReconcileResult::kSuccess};
  }
  // Not done, and waiting by design (a lock, a Job, a rollout): look again after `delay`
  // instead of backing off.
  static Action RequeueAfter(std::chrono::milliseconds delay) {
    return {Kind::kRequeueAfter, delay, ReconcileResult::kRequeue};
  }
  // Not done, for a reason that may go away by itself or by a person's hand: retry with
  // back-off, which never gives up (5 ms doubling to 5 min).
  static Action Retry() { return {Kind::kBackoff, {}, ReconcileResult::kRequeue}; }
  // The reconcile itself failed (its result could not be published): retry with back-off.
  static Action Error() { return {Kind::kBackoff, {}, ReconcileResult::kError}; }
  // Nothing will change until the object does (a suspended plan).
  static Action AwaitChange() { return {Kind::kAwaitChange, {}, ReconcileResult::kSuccess}; }

  // The same back-off, counted from a first failure again: the reconcile moved its object on
  // (ran a step, or ended differently from before), so the delays that earlier failures
  // built up no longer apply.
  Action RestartingBackoff() const {
    Action restarted = *this;
    restarted.restarts_backoff_ = kind_ == Kind::kBackoff;
    return restarted;
  }

  Kind kind() const { return kind_; }
  std::chrono::milliseconds delay() const { return delay_; }  // kRequeueAfter only
  ReconcileResult result() const { return result_; }
  bool restarts_backoff() const { return restarts_backoff_; }  // kBackoff only

  bool operator==(const Action&) const = default;
  // "RequeueAfter(600000ms, success)", "Backoff(error, restarted)": for tests and logs.
  std::string ToString() const;

 private:
  Action(Kind kind, std::chrono::milliseconds delay, ReconcileResult result)
      : kind_(kind), delay_(delay), result_(result) {}

  Kind kind_;
  std::chrono::milliseconds delay_;
  ReconcileResult result_;
  bool restarts_backoff_ = false;
};

}  // namespace tidemark
