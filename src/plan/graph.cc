#include "plan/graph.h"

#include <algorithm>
#include <map>
#include <optional>

#include "base/text.h"

namespace tidemark::plan {
namespace {

struct Node {
  const Step* step = nullptr;
  std::set<StepId> parents;
  std::set<StepId> children;
};

// Messages name a few steps and count the rest, however large the plan.
constexpr size_t kNamesShown = 5;
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

// Finds the target's step: an exact name, or a unique prefix as Django's migrate accepts.
std::variant<std::optional<StepId>, Problem> ResolveTarget(const Graph& graph, const Target& target,
                                                           size_t index) {
  const std::string field = "spec.targets[" + std::to_string(index) + "]";
  if (target.migration == "zero") return std::optional<StepId>();
  std::vector<StepId> matches;
  for (const auto& [id, node] : graph.nodes()) {
    if (id.app != target.app) continue;
    if (id.name == target.migration) return std::optional<StepId>(id);
    if (id.name.rfind(target.migration, 0) == 0) matches.push_back(id);
  }
  if (matches.size() == 1) return std::optional<StepId>(matches[0]);
  if (matches.size() > 1) {
    std::vector<std::string> names;
    for (const StepId& id : matches) names.push_back(id.name);
    return Problem{Reason::kInvalidSpec,
                   field + ".migration: \"" + target.migration + "\" matches several steps of " +
                       target.app + " (" + ListSome(names, kNamesShown) + "); write the full name"};
  }
  return Problem{Reason::kInvalidSpec, field + ".migration: app " + target.app + " has no step \"" +
                                           target.migration +
                                           "\"; use a step name of that app or \"zero\""};
}

// The steps a target leaves out: its app's steps that the target does not need, and every
// step of any app that needs one of them (what `manage.py migrate APP NAME` unapplies).
std::set<StepId> LeftOutBy(const Graph& graph, const std::string& app,
                           const std::optional<StepId>& target) {
  std::set<StepId> kept;
  if (target) graph.Walk(*target, /*forwards=*/true, kept);
  std::set<StepId> left_out;
  for (const auto& [id, node] : graph.nodes()) {
    if (id.app == app && !kept.count(id)) graph.Walk(id, /*forwards=*/false, left_out);
  }
  return left_out;
}

// The targets that, added for the apps not targeted yet, leave out what `left_out` holds:
// each app with a desired step in it stays at its last desired step outside it, or at zero.
// Written as a plan's spec.targets entries.
std::string TargetsToAdd(const std::vector<StepId>& desired_order, const std::set<StepId>& left_out,
                         const std::set<std::string>& targeted_apps) {
  std::map<std::string, std::optional<StepId>> stays_at;
  for (const StepId& id : desired_order) {
    if (!targeted_apps.count(id.app) && left_out.count(id)) stays_at.try_emplace(id.app);
  }
  for (const StepId& id : desired_order) {
    auto found = stays_at.find(id.app);
    if (found != stays_at.end() && !left_out.count(id)) found->second = id;
  }
  std::vector<std::string> targets;
  for (const auto& [app, step] : stays_at) {
    targets.push_back("{app: " + app + ", migration: " + (step ? step->name : "zero") + "}");
  }
  return Join(targets, ", ");
}

}  // namespace

RecordedAction Recorded(bool forward, bool fake) {
  if (fake) return forward ? RecordedAction::kFake : RecordedAction::kFakeRevert;
  return forward ? RecordedAction::kApply : RecordedAction::kRevert;
}

const char* RecordedActionName(RecordedAction action) {
  switch (action) {
    case RecordedAction::kApply:
      return "apply";
    case RecordedAction::kRevert:
      return "revert";
    case RecordedAction::kFake:
      return "fake";
    case RecordedAction::kFakeRevert:
      return "fake-revert";
  }
  return "apply";
}

const char* ActionName(ActionKind kind) {
  switch (kind) {
    case ActionKind::kApply:
      return "apply";
    case ActionKind::kRevert:
      return "revert";
    case ActionKind::kFake:
      return "fake";
  }
  return "apply";
}

size_t Diff::CountOf(ActionKind kind) const {
  return std::count_if(actions.begin(), actions.end(),
                       [&](const Action& a) { return a.kind == kind; });
}

DiffOrProblem ComputeDiff(const std::vector<Step>& steps, const std::vector<Target>& targets,
                          const std::set<StepId>& ledger, const std::vector<StepId>& fake) {
  Graph graph;
  if (auto problem = graph.Build(steps, ledger)) return *problem;
  if (auto problem = graph.FindCycle()) return *problem;
  if (auto problem = graph.FindConflicts()) return *problem;

  // Roots of the desired state: each target, and the leaf of every untargeted app.
  const std::set<std::string> apps = graph.Apps();
  struct Targeted {
    std::optional<StepId> step;  // nullopt: zero
    size_t index;                // in `targets`
  };
  std::map<std::string, Targeted> targeted;  // by app
  for (size_t i = 0; i < targets.size(); ++i) {
    const Target& target = targets[i];
    const std::string field = "spec.targets[" + std::to_string(i) + "]";
    if (!apps.count(target.app)) {
      return Problem{Reason::kInvalidSpec, field + ".app: no step of this plan belongs to app \"" +
                                               target.app + "\"; check the app label"};
    }
    auto resolved = ResolveTarget(graph, target, i);
    if (auto* problem = std::get_if<Problem>(&resolved)) return *problem;
    if (!targeted.emplace(target.app, Targeted{std::get<0>(resolved), i}).second) {
      return Problem{Reason::kInvalidSpec, field + ".app: app " + target.app +
                                               " has two targets; keep one target per app"};
    }
  }
  std::vector<StepId> roots;
  for (const std::string& app : apps) {
    auto found = targeted.find(app);
    if (found == targeted.end()) {
      for (const StepId& leaf : graph.Leaves(app)) roots.push_back(leaf);
    } else if (found->second.step) {
      roots.push_back(*found->second.step);
    }
  }
  std::sort(roots.begin(), roots.end());

  // What the targets read as `migrate APP NAME` leave out, in their app and in others.
  std::set<StepId> left_out;
  std::map<StepId, size_t> left_out_by;  // step -> the index of the target that left it out
  for (const auto& [app, target] : targeted) {
    if (!targets[target.index].with_dependents) continue;
    for (const StepId& id : LeftOutBy(graph, app, target.step)) {
      left_out.insert(id);
      left_out_by.emplace(id, target.index);
    }
  }

  // The desired set, in Django's forwards-plan order.
  std::vector<StepId> desired_order;
  std::set<StepId> desired;
  std::map<StepId, StepId> needed_by;  // step -> the root that first pulled it in
  for (const StepId& root : roots) {
    // A node listed by an earlier root has its ancestors listed too, so sharing the set
    // of listed nodes between walks gives Django's order without walking them again.
    for (const StepId& id : graph.Walk(root, /*forwards=*/true, desired)) {
      if (left_out.count(id)) continue;
      desired_order.push_back(id);
      needed_by.emplace(id, root);
    }
  }
  for (const StepId& id : left_out) desired.erase(id);

  // A target that needs a step another target leaves out with its dependents.
  for (const auto& [app, target] : targeted) {
    if (!target.step || !left_out.count(*target.step)) continue;
    const size_t other = left_out_by.at(*target.step);
    return Problem{Reason::kTargetConflict,
                   "spec.targets[" + std::to_string(target.index) + "] wants app " + app + " at " +
                       target.step->name + ", which needs a step that the target " +
                       targets[other].app + "." + targets[other].migration +
                       " reverts with its dependents; move one of the two targets"};
  }

  // A target is contradicted when another root needs a later step of the targeted app.
  std::set<std::string> targeted_apps;
  for (const auto& [app, target] : targeted) targeted_apps.insert(app);
  for (const auto& [app, target] : targeted) {
    std::set<StepId> allowed;
    if (target.step) graph.Walk(*target.step, /*forwards=*/true, allowed);
    for (const StepId& id : desired_order) {
      if (id.app != app || allowed.count(id)) continue;
      const StepId& root = needed_by.at(id);
      const std::string at = target.step ? target.step->name : std::string("zero");
      std::string remedy = "add a target for app " + root.app + " that does not need it";
      if (!targeted_apps.count(root.app)) {
        remedy = "add " +
                 TargetsToAdd(desired_order, LeftOutBy(graph, app, target.step), targeted_apps) +
                 " to spec.targets (what `manage.py migrate " + app + " " + at + "` reverts)";
      }
      return Problem{Reason::kTargetConflict, "spec.targets[" + std::to_string(target.index) +
                                                  "] wants app " + app + " at " + at + ", but " +
                                                  root.ToString() + " needs " + id.ToString() +
                                                  "; " + remedy + ", or move the target of " + app};
    }
  }

  Diff diff;
  diff.applied = graph.applied();
  diff.unknown_applied = graph.UnknownApplied(ledger);
  const auto& nodes = graph.nodes();

  // Reverts: applied but not desired, dependents first (Django's backwards plan).
  std::set<StepId> reverting;
  for (const auto& [id, node] : nodes) {
    if (diff.applied.count(id) && !desired.count(id)) reverting.insert(id);
  }
  std::set<StepId> walked;
  for (const StepId& id : reverting) {
    for (const StepId& step : graph.Walk(id, /*forwards=*/false, walked)) {
      if (reverting.count(step)) diff.actions.push_back({ActionKind::kRevert, nodes.at(step).step});
    }
  }
  const std::set<StepId> faked(fake.begin(), fake.end());
  for (const StepId& id : desired_order) {
    if (diff.applied.count(id)) continue;
    const ActionKind kind = faked.count(id) ? ActionKind::kFake : ActionKind::kApply;
    diff.actions.push_back({kind, nodes.at(id).step});
  }

  // Display order: per app, the app's steps in the order of one walk over every leaf.
  std::set<StepId> shown;
  std::vector<StepId> order;
  for (const std::string& app : apps) {
    for (const StepId& leaf : graph.Leaves(app)) {
      for (StepId& id : graph.Walk(leaf, true, shown)) order.push_back(std::move(id));
    }
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const StepId& a, const StepId& b) { return a.app < b.app; });
  for (const StepId& id : order) diff.nodes.push_back(nodes.at(id).step);
  return diff;
}

std::optional<Problem> Validate(const MigrationPlan& plan) {
  for (size_t i = 0; i < plan.fake.size(); ++i) {
    const StepId& id = plan.fake[i];
    const bool known = std::any_of(plan.migrations.begin(), plan.migrations.end(),
                                   [&](const Step& s) { return s.id == id; });
    if (!known) {
      return Problem{Reason::kInvalidSpec, "spec.fake[" + std::to_string(i) + "]: no step " +
                                               id.ToString() + " in this plan; correct the name"};
    }
  }
  DiffOrProblem result = ComputeDiff(plan.migrations, plan.targets, {}, plan.fake);
  if (auto* problem = std::get_if<Problem>(&result)) return *problem;
  return std::nullopt;
}

}  // namespace tidemark::plan
