#include "plan/graph.h"

#include <algorithm>
#include <map>
#include <optional>

#include "base/text.h"
#include "plan/step_graph.h"

namespace tidemark::plan {
namespace {

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
  return ListSome(targets, targets.size());
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
