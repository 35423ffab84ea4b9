#include "plan/approval.h"

#include <algorithm>

#include "base/hash.h"

namespace tidemark::plan {
namespace {

constexpr std::string_view kPrefix = "sha256:";

// Each field with its length first, so that no choice of names can make two different
// action lists read the same.
void AddField(std::string& canonical, std::string_view field) {
  canonical += std::to_string(field.size());
  canonical += ':';
  canonical += field;
  canonical += '\n';
}

}  // namespace

std::string ApprovalDigest(const std::vector<Action>& actions, bool fake_all) {
  if (actions.empty()) return "";
  std::string canonical = "tidemark approval v1\n";
  for (const Action& action : actions) {
    const Step& step = *action.step;
    const bool forward = action.kind != ActionKind::kRevert;
    const RecordedAction recorded = Recorded(forward, action.kind == ActionKind::kFake || fake_all);
    AddField(canonical, RecordedActionName(recorded));
    AddField(canonical, step.id.app);
    AddField(canonical, step.id.name);
    AddField(canonical, step.atomic ? "atomic" : "non-atomic");
    AddField(canonical, step.python ? "python" : "sql");
    AddField(canonical, Sha256Hex(forward ? step.forward : step.backward.value_or("")));
    // How a back-fill runs is part of what is approved (absent for other steps, whose
    // digests stay what they were).
    if (forward && step.kind == StepKind::kBackfill) {
      AddField(canonical, "backfill " + std::to_string(step.backfill.batch_delay.count()) + "ms " +
                              std::to_string(step.backfill.max_batches));
    }
  }
  return std::string(kPrefix) + Sha256Hex(canonical);
}

bool IsApprovalDigest(std::string_view text) {
  if (text.size() != kPrefix.size() + 64 || text.substr(0, kPrefix.size()) != kPrefix) {
    return false;
  }
  return std::all_of(text.begin() + kPrefix.size(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string DescribeApproval(const Approval& approval) {
  std::string text =
      "waiting for approval of the pending actions: review them (tidemark plan), "
      "then set spec.approvedDigest (CLI: apply --approve) to " +
      approval.digest;
  if (!approval.approved.empty()) {
    text += "; the approved digest " + approval.approved +
            " is of other actions (the steps, their SQL or the ledger changed since), so "
            "nothing ran";
  }
  return text;
}

}  // namespace tidemark::plan
