#include "plan/step_graph.h"

#include <algorithm>

#include "base/text.h"

namespace tidemark::plan {
namespace {

constexpr size_t kCycleEndsShown = 4;

std::string Join(const std::vector<std::string>& parts, const char* separator) {
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

// A pre-deploy step runs before the new pods start, so it cannot need a step that waits
// for their rollout.
std::optional<Problem> CheckPhases(const Step& step, const Step& dependency) {
  if (step.phase != Phase::kPreDeploy || dependency.phase != Phase::kPostDeploy) {
    return std::nullopt;
  }
  return Problem{Reason::kInvalidSpec,
                 step.origin + ".dependencies: pre-deploy step " + step.id.ToString() +
                     " depends on post-deploy step " + dependency.id.ToString() +
                     ", which runs only after the app's rollout; make " + step.id.ToString() +
                     " PostDeploy too, or " + dependency.id.ToString() + " PreDeploy"};
}

}  // namespace

std::optional<Problem> Graph::Build(const std::vector<Step>& steps,
                                    const std::set<StepId>& ledger) {
  for (const Step& step : steps) {
    auto [it, inserted] = defined_.emplace(step.id, &step);
    if (!inserted) {
      return Problem{Reason::kInvalidSpec, "step " + step.id.ToString() + " is defined twice (" +
                                               it->second->origin + " and " + step.origin +
                                               "); remove one of them"};
    }
  }
  for (const Step& step : steps) {
    for (const StepId& replaced : step.replaces) {
      if (replaced == step.id) {
        return Problem{Reason::kInvalidSpec, step.origin + ".replaces: step " + step.id.ToString() +
                                                 " replaces itself; remove it from the list"};
      }
      auto [it, inserted] = replaced_by_.emplace(replaced, step.id);
      if (!inserted) {
        return Problem{Reason::kInvalidSpec,
                       "step " + replaced.ToString() + " is replaced by two squashed steps, " +
                           it->second.ToString() + " and " + step.id.ToString() +
                           "; keep one squash per replaced step"};
      }
    }
  }
  for (const Step& step : steps) nodes_[step.id].step = &step;
  for (const Step& step : steps) {
    for (const StepId& dependency : step.dependencies) {
      if (dependency == step.id) {
        return Problem{Reason::kDependencyCycle, step.origin + ".dependencies: step " +
                                                     step.id.ToString() +
                                                     " depends on itself; remove that dependency"};
      }
      if (auto defined = defined_.find(dependency); defined != defined_.end()) {
        if (auto problem = CheckPhases(step, *defined->second)) return problem;
        Link(dependency, step.id);
      } else if (auto squash = replaced_by_.find(dependency); squash != replaced_by_.end()) {
        // Django points a dependency on a replaced step at its squash.
        if (auto problem = CheckPhases(step, *defined_.at(squash->second))) return problem;
        if (squash->second != step.id) Link(squash->second, step.id);
      } else {
        return Problem{Reason::kUnknownDependency,
                       step.origin + ".dependencies: step " + step.id.ToString() + " depends on " +
                           dependency.ToString() +
                           ", which no step of this plan defines; add that step (inline or "
                           "through migrationsFrom) or correct the name"};
      }
    }
  }
  // Django's loader: a squash stands for its replaced steps unless they are partly applied.
  for (const Step& step : steps) {
    if (step.replaces.empty()) continue;
    const size_t applied_count =
        std::count_if(step.replaces.begin(), step.replaces.end(),
                      [&](const StepId& id) { return ledger.count(id) > 0; });
    if (applied_count == step.replaces.size()) applied_.insert(step.id);
    if (applied_count == 0 || applied_count == step.replaces.size()) {
      ReplaceSquashedNodes(step);
    } else if (auto problem = RemoveSquashNode(step)) {
      return problem;
    }
  }
  for (const auto& [id, node] : nodes_) {
    if (node.step->replaces.empty() && ledger.count(id)) applied_.insert(id);
  }
  return std::nullopt;
}

void Graph::ReplaceSquashedNodes(const Step& squash) {
  const std::set<StepId> replaced(squash.replaces.begin(), squash.replaces.end());
  for (const StepId& id : squash.replaces) {
    auto found = nodes_.find(id);
    if (found == nodes_.end()) continue;
    const Node node = found->second;
    nodes_.erase(found);
    for (const StepId& child : node.children) {
      nodes_[child].parents.erase(id);
      if (!replaced.count(child) && child != squash.id) Link(squash.id, child);
    }
    for (const StepId& parent : node.parents) {
      nodes_[parent].children.erase(id);
      if (!replaced.count(parent) && parent != squash.id) Link(parent, squash.id);
    }
  }
}

std::optional<Problem> Graph::RemoveSquashNode(const Step& squash) {
  std::optional<StepId> last_replaced;
  for (auto it = squash.replaces.rbegin(); it != squash.replaces.rend(); ++it) {
    if (nodes_.count(*it)) {
      last_replaced = *it;
      break;
    }
  }
  if (!last_replaced) {
    return Problem{Reason::kInvalidSpec,
                   "squashed step " + squash.id.ToString() +
                       " is partly applied in the ledger, but the steps it replaces are not in "
                       "the plan; add the replaced steps back until every database has applied "
                       "the squash completely"};
  }
  const std::set<StepId> replaced(squash.replaces.begin(), squash.replaces.end());
  const Node node = nodes_.at(squash.id);
  nodes_.erase(squash.id);
  for (const StepId& child : node.children) {
    nodes_[child].parents.erase(squash.id);
    if (!replaced.count(child)) Link(*last_replaced, child);
  }
  for (const StepId& parent : node.parents) nodes_[parent].children.erase(squash.id);
  return std::nullopt;
}

std::vector<StepId> Graph::UnknownApplied(const std::set<StepId>& ledger) const {
  // Rows of other apps belong to other plans sharing the ledger (or to apps not managed
  // here), as Django ignores applied migrations of apps it does not load.
  const std::set<std::string> apps = Apps();
  std::vector<StepId> unknown;
  for (const StepId& id : ledger) {
    if (apps.count(id.app) && !defined_.count(id) && !replaced_by_.count(id)) {
      unknown.push_back(id);
    }
  }
  return unknown;
}

std::optional<Problem> Graph::FindCycle() const {
  // Depth-first search with colours; the grey path at a back edge is the cycle.
  enum class Colour { kWhite, kGrey, kBlack };
  std::map<StepId, Colour> colour;
  for (const auto& [id, node] : nodes_) colour[id] = Colour::kWhite;
  for (const auto& [start, start_node] : nodes_) {
    if (colour[start] != Colour::kWhite) continue;
    std::vector<std::pair<StepId, std::vector<StepId>>> stack;  // node, children left
    auto push = [&](const StepId& id) {
      colour[id] = Colour::kGrey;
      const auto& children = nodes_.at(id).children;
      stack.emplace_back(id, std::vector<StepId>(children.rbegin(), children.rend()));
    };
    push(start);
    while (!stack.empty()) {
      auto& [id, pending] = stack.back();
      if (pending.empty()) {
        colour[id] = Colour::kBlack;
        stack.pop_back();
        continue;
      }
      const StepId next = pending.back();
      pending.pop_back();
      if (colour[next] == Colour::kGrey) {
        std::vector<std::string> path;
        bool in_cycle = false;
        for (const auto& frame : stack) {
          if (frame.first == next) in_cycle = true;
          if (in_cycle) path.push_back(frame.first.ToString());
        }
        path.push_back(next.ToString());
        if (path.size() > 2 * kCycleEndsShown + 1) {  // a message stays short: both ends
          const size_t hidden = path.size() - 2 * kCycleEndsShown;
          path.erase(path.begin() + kCycleEndsShown, path.end() - kCycleEndsShown);
          path.insert(path.begin() + kCycleEndsShown,
                      "(" + GroupThousands(hidden) + " more steps)");
        }
        return Problem{Reason::kDependencyCycle, "dependency cycle: " + Join(path, " -> ") +
                                                     "; remove one of these dependencies"};
      }
      if (colour[next] == Colour::kWhite) push(next);
    }
  }
  return std::nullopt;
}

std::set<std::string> Graph::Apps() const {
  std::set<std::string> apps;
  for (const auto& [id, node] : nodes_) apps.insert(id.app);
  return apps;
}

std::vector<StepId> Graph::Leaves(const std::string& app) const {
  std::vector<StepId> leaves;
  for (const auto& [id, node] : nodes_) {
    if (id.app != app) continue;
    const bool has_child_in_app = std::any_of(node.children.begin(), node.children.end(),
                                              [&](const StepId& c) { return c.app == app; });
    if (!has_child_in_app) leaves.push_back(id);
  }
  return leaves;
}

std::optional<Problem> Graph::FindConflicts() const {
  std::vector<std::string> conflicts;
  for (const std::string& app : Apps()) {
    const std::vector<StepId> leaves = Leaves(app);
    if (leaves.size() < 2) continue;
    std::vector<std::string> names;
    for (const StepId& leaf : leaves) names.push_back(leaf.name);
    conflicts.push_back(ListSome(names, kNamesShown) + " in " + app);
  }
  if (conflicts.empty()) return std::nullopt;
  return Problem{Reason::kInvalidSpec,
                 "conflicting migrations: more than one latest step (" +
                     ListSome(conflicts, kNamesShown, "; ") +
                     "); add a merge step that depends on all of them (Django: makemigrations "
                     "--merge)"};
}

std::vector<StepId> Graph::Walk(const StepId& start, bool forwards, std::set<StepId>& seen) const {
  std::vector<StepId> visited;
  std::vector<std::pair<StepId, bool>> stack{{start, false}};
  while (!stack.empty()) {
    auto [id, processed] = stack.back();
    stack.pop_back();
    if (seen.count(id)) continue;
    if (processed) {
      seen.insert(id);
      visited.push_back(id);
      continue;
    }
    stack.emplace_back(id, true);
    const Node& node = nodes_.at(id);
    for (const StepId& next : forwards ? node.parents : node.children) {
      if (!seen.count(next)) stack.emplace_back(next, false);
    }
  }
  return visited;
}

}  // namespace tidemark::plan
