// What the engine's tests share: plans built in code (steps of one app, "shop", each
// depending on the one before) and a reconcile against an in-memory ledger
// (tests/support/memory_store.h), so that no process and no PostgreSQL is involved.
#pragma once

#include <gmock/gmock.h>

#include <optional>
#include <string>
#include <vector>

#include "engine/reconcile.h"
#include "plan/model.h"
#include "tests/support/memory_store.h"

namespace tidemark::testing {

inline plan::StepId Shop(const std::string& name) { return {"shop", name}; }

// A reversible SQL step of app shop (backward nullopt: irreversible).
inline plan::Step SqlStep(const std::string& name, const std::string& forward,
                          std::optional<std::string> backward = "") {
  plan::Step step;
  step.id = Shop(name);
  step.forward = forward;
  step.backward = std::move(backward);
  step.origin = "engine_test";
  return step;
}

// A plan of `steps`; a step without dependencies depends on the one before it.
inline plan::MigrationPlan Chain(std::vector<plan::Step> steps) {
  plan::MigrationPlan plan;
  plan.meta = {"orders", "default", "uid-1", 1};
  for (size_t i = 1; i < steps.size(); ++i) {
    if (steps[i].dependencies.empty()) steps[i].dependencies = {steps[i - 1].id};
  }
  plan.migrations = std::move(steps);
  return plan;
}

// The plan's target for app shop.
inline void Target(plan::MigrationPlan& plan, const std::string& migration) {
  plan.targets = {{"shop", migration}};
}

inline std::vector<std::string> Pending(const plan::Outcome& outcome) {
  std::vector<std::string> pending;
  for (const plan::PendingAction& action : outcome.pending) {
    pending.push_back(std::string(plan::RecordedActionName(action.action)) + " " +
                      action.migration.ToString());
  }
  return pending;
}

inline std::vector<std::string> Done(const engine::Report& report) {
  std::vector<std::string> done;
  for (const plan::StepRecord& record : report.done) {
    done.push_back(std::string(plan::RecordedActionName(record.action)) + " " +
                   record.migration.ToString());
  }
  return done;
}

class EngineTest : public ::testing::Test {
 protected:
  static constexpr char kNow[] = "2026-12-01T12:00:00Z";

  engine::Report Reconcile(const plan::MigrationPlan& plan, const engine::Options& options = {}) {
    return Reconcile(
        plan, [this] { return db_.Connect(); }, options);
  }
  engine::Report Reconcile(const plan::MigrationPlan& plan, const engine::Connector& connect,
                           const engine::Options& options) {
    return engine::Reconcile(plan, connect, options, {}, [] { return std::string(kNow); });
  }
  // Reconciles and expects the plan to end where it should, with nothing left to do.
  void ReconcileDone(const plan::MigrationPlan& plan, const engine::Options& options = {}) {
    const engine::Report report = Reconcile(plan, options);
    ASSERT_FALSE(report.outcome.stalled) << report.outcome.stalled->message;
    ASSERT_FALSE(report.outcome.progressing) << report.outcome.progressing->message;
    ASSERT_TRUE(report.outcome.pending.empty());
  }
  std::set<plan::StepId> Ledger() const { return db_.LedgerRows(); }
  int Runs(const plan::StepId& id) const {
    const CallCounts calls = db_.Calls();
    auto found = calls.runs_of.find(id);
    return found == calls.runs_of.end() ? 0 : found->second;
  }

  MemoryDatabase db_;
};

}  // namespace tidemark::testing
