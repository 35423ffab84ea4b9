// Approval bound to exactly what will run (SPEC section 5, policy.approval: Required): the
// digest of the actions a run would carry out, which a person approves by writing it in
// spec.approvedDigest (or `tidemark apply --approve`). Pure: no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "plan/graph.h"

namespace tidemark::plan {

// What the status says about approval when policy.approval is Required (or the command line
// passed --approve): the digest of the pending actions and the one a person approved.
struct Approval {
  std::string digest;    // of the actions that would run now
  std::string approved;  // spec.approvedDigest or --approve; empty: none given
  bool Approved() const { return !digest.empty() && approved == digest; }
};

// "sha256:" and 64 lower-case hex digits over, in order, each action's recorded kind
// (apply, revert, fake, fake-revert), app, name, whether it is atomic, whether it has
// Python code, and the sha256 of the SQL of its direction (forward for apply and fake,
// backward for revert). Any change to what would run, its order or its SQL changes it.
// `fake_all` records every action without running it (`apply --fake`). Empty for no action.
std::string ApprovalDigest(const std::vector<Action>& actions, bool fake_all);

// True for text shaped like a digest ApprovalDigest makes.
bool IsApprovalDigest(std::string_view text);

// Why a plan waits: what to approve, and why a given approval does not count.
std::string DescribeApproval(const Approval& approval);

}  // namespace tidemark::plan
