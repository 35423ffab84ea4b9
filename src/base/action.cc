#include "base/action.h"

namespace tidemark {

const char* ReconcileResultName(ReconcileResult result) {
  switch (result) {
    case ReconcileResult::kSuccess:
      return "success";
    case ReconcileResult::kRequeue:
      return "requeue";
    case ReconcileResult::kError:
      return "error";
  }
  return "error";
}

std::string Action::ToString() const {
  const std::string result = ReconcileResultName(result_);
  switch (kind_) {
    case Kind::kRequeueAfter:
      return "RequeueAfter(" + std::to_string(delay_.count()) + "ms, " + result + ")";
    case Kind::kBackoff:
      return "Backoff(" + result + (restarts_backoff_ ? ", restarted)" : ")");
    case Kind::kAwaitChange:
      return "AwaitChange(" + result + ")";
  }
  return "Action(?)";
}

}  // namespace tidemark
