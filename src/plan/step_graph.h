// The migration graph as Django's loader builds it: one node per step, squash rules applied
// against the ledger, and the walks, leaves and checks that the diff in graph.cc reads.
// Internal to plan/: other layers see only ComputeDiff and Validate (graph.h).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "plan/graph.h"

namespace tidemark::plan {

struct Node {
  const Step* step = nullptr;
  std::set<StepId> parents;
  std::set<StepId> children;
};

// Messages name a few steps and count the rest, however large the plan.
inline constexpr size_t kNamesShown = 5;

class Graph {
 public:
  // Returns a Problem, or nullopt once the graph is built and squash rules are applied.
  std::optional<Problem> Build(const std::vector<Step>& steps, const std::set<StepId>& ledger);

  const std::map<StepId, Node>& nodes() const { return nodes_; }
  const std::set<StepId>& applied() const { return applied_; }
  std::vector<StepId> UnknownApplied(const std::set<StepId>& ledger) const;

  std::optional<Problem> FindCycle() const;
  std::optional<Problem> FindConflicts() const;
  // Nodes of `app` with no child in the same app (Django's leaf_nodes(app)).
  std::vector<StepId> Leaves(const std::string& app) const;
  std::set<std::string> Apps() const;
  // Django's iterative_dfs: post-order over parents (forwards) or children (backwards).
  // Nodes in `seen` are skipped with everything behind them (already listed); the walk
  // adds what it lists to `seen`, so one set serves a sequence of walks.
  std::vector<StepId> Walk(const StepId& start, bool forwards, std::set<StepId>& seen) const;
  std::vector<StepId> Walk(const StepId& start, bool forwards) const {
    std::set<StepId> seen;
    return Walk(start, forwards, seen);
  }

 private:
  void Link(const StepId& parent, const StepId& child) {
    nodes_[parent].children.insert(child);
    nodes_[child].parents.insert(parent);
  }
  void ReplaceSquashedNodes(const Step& squash);
  std::optional<Problem> RemoveSquashNode(const Step& squash);

  std::map<StepId, const Step*> defined_;
  std::map<StepId, StepId> replaced_by_;  // replaced step -> the squash that replaces it
  std::map<StepId, Node> nodes_;
  std::set<StepId> applied_;
};

}  // namespace tidemark::plan
