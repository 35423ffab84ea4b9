// `tidemark run`: reconcile every plan of the files with no cluster and print the status
// each would publish. With --watch it keeps going: at once when the files change, and
// otherwise as plan::NextAction says, the same rule book as the controller's: after the
// back-off of a plan that is not done (5 ms doubling to 5 min, never giving up), after a
// few seconds for a busy lock, and at the resync period when all is well, so that drift
// made by hand is seen.
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

#include "base/action.h"
#include "base/backoff.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/text.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "plan/next_action.h"
#include "resource/decode.h"
#include "resource/status_codec.h"

namespace tidemark::cli {
namespace {

std::atomic<bool> stop_requested{false};

void RequestStop(int) { stop_requested = true; }

// Changes whenever a plan file is added, removed or written.
std::string Fingerprint(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::string fingerprint;
  auto add = [&](const fs::path& path) {
    std::error_code error;
    const auto size = fs::file_size(path, error);
    const auto time = fs::last_write_time(path, error).time_since_epoch().count();
    fingerprint += path.string() + ":" + std::to_string(size) + ":" + std::to_string(time) + ";";
  };
  for (const std::string& path : paths) {
    std::error_code error;
    if (fs::is_directory(path, error)) {
      for (const auto& entry : fs::directory_iterator(path, error)) add(entry.path());
    } else {
      add(path);
    }
  }
  return fingerprint;
}

struct PlanSchedule {
  std::optional<MonoTime> next = MonoTime::min();  // nullopt: only when the files change
  uint32_t failures = 0;
  nlohmann::ordered_json status;  // the last status, for lastTransitionTime and change detection
};

// The status without its timestamps, to print a plan again only when something changed.
nlohmann::ordered_json WithoutTimes(nlohmann::ordered_json status) {
  for (auto& condition : status["conditions"]) condition.erase("lastTransitionTime");
  if (status.contains("lastApplied")) status["lastApplied"].erase("at");
  if (status.contains("failure")) status["failure"].erase("at");
  return status;
}

// Carries out the Action of a plan's reconcile, as runtime::Controller does with its queue.
void Schedule(const Action& action, MonoTime now, PlanSchedule* schedule) {
  switch (action.kind()) {
    case Action::Kind::kRequeueAfter:
      schedule->failures = 0;
      schedule->next = now + action.delay();
      return;
    case Action::Kind::kBackoff:
      if (action.restarts_backoff()) schedule->failures = 0;
      ++schedule->failures;
      schedule->next = now + BackoffDelay(BackoffPolicy::Reconcile(), schedule->failures);
      return;
    case Action::Kind::kAwaitChange:
      schedule->failures = 0;
      schedule->next.reset();
      return;
  }
}

// A reconcile in which an exception (a bug) ends the plan's run as Stalled/InternalError,
// so that --watch goes on serving the other plans, as the controller does.
engine::Report ReconcileCatching(const plan::MigrationPlan& plan, resource::ObjectSource& objects,
                                 const engine::Options& options, const engine::Observer& observer) {
  std::string what;
  try {
    return engine::Reconcile(plan, MakeConnector(plan, objects), options, observer);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "an exception of unknown type";
  }
  log::Error("reconcile threw an exception", {{"plan", plan.Key()}, {"error", what}});
  engine::Report report;
  report.outcome.stalled = plan::UnexpectedError(what);
  return report;
}

}  // namespace

int RunReconcileAll(const CommonOptions& common, bool watch, const std::string& interval_text,
                    RunMonitor* monitor) {
  std::chrono::milliseconds interval{2000};
  if (!resource::ParseDuration(interval_text, &interval) || interval.count() <= 0) {
    return Invalid("--interval: " + interval_text + " is not a duration");
  }
  const plan::RequeuePolicy requeue;
  const Clock& clock = SystemClock();
  if (watch) {
    std::signal(SIGINT, RequestStop);
    std::signal(SIGTERM, RequestStop);
  }
  const OutputFormat format =
      Format(common) == OutputFormat::kJson ? OutputFormat::kJson : OutputFormat::kYaml;
  std::map<std::string, PlanSchedule> schedules;
  std::unique_ptr<Loaded> loaded;  // plans outlive the connectors made from them
  std::string fingerprint;
  int exit_code = kExitOk;
  while (true) {
    const std::string current = Fingerprint(common.files);
    const bool changed = current != fingerprint;
    if (changed) {
      fingerprint = current;
      auto reloaded = LoadPlans(common);
      if (!reloaded.ok()) {
        std::cerr << "error: " << Printable(reloaded.status().message(), kMaxMessage) << "\n";
        if (!watch) return kExitInvalid;
        loaded.reset();
      } else {
        loaded = std::make_unique<Loaded>(std::move(reloaded).value());
        for (auto& [key, schedule] : schedules) schedule.failures = 0;  // a change: retry now
      }
    }
    if (loaded) {
      for (const plan::MigrationPlan& plan : loaded->plans) {
        PlanSchedule& schedule = schedules[plan.Key()];
        if (!changed && (!schedule.next || clock.Now() < *schedule.next)) continue;
        const MonoTime started = clock.Now();
        engine::Observer observer = ProgressPrinter(std::cerr);
        if (monitor) observer = monitor->Observe(plan, std::move(observer));
        auto runner = MakeRunner(plan, loaded->files);
        if (!runner.ok()) {
          std::cerr << "error: " << runner.status().message() << "\n";
          exit_code = kExitInvalid;
          schedule.next.reset();  // looked at again when the files change
          continue;
        }
        engine::Options options = BaseOptions(common);
        options.runner = runner->get();
        const engine::Report report = ReconcileCatching(plan, loaded->files, options, observer);
        const std::vector<plan::Condition> before = resource::ConditionsFromJson(schedule.status);
        const plan::PlanStatus computed =
            plan::ComputeStatus(report.outcome, plan.meta.generation, before, engine::NowRfc3339());
        const nlohmann::ordered_json status = resource::StatusToJson(computed);
        if (!watch || WithoutTimes(status) != WithoutTimes(schedule.status)) {
          if (format == OutputFormat::kYaml) std::cout << "---\n";
          PrintDocument({{"plan", plan.Key()}, {"status", status}}, format);
          std::cout << std::flush;
          PrintProblem(report);
        }
        schedule.status = status;
        const int code = ExitCode(report, /*pending_is_failure=*/true);
        const Action next = plan::NextAction(
            report.outcome, /*status_published=*/true, requeue,
            plan::MovedOn(report.done.size(), /*status_published=*/true, before, computed));
        if (monitor) {
          monitor->Reconciled(plan, report, code == kExitOk, next,
                              std::chrono::duration<double>(clock.Now() - started).count());
        }
        exit_code = std::max(exit_code, code);
        Schedule(next, clock.Now(), &schedule);
      }
    }
    if (!watch) return exit_code;
    // A signal handler can only set a flag: look at it every 50 ms while waiting.
    const MonoTime wake = clock.Now() + interval;
    while (!stop_requested && clock.Now() < wake) {
      (void)clock.SleepUntil(std::min(wake, clock.Now() + std::chrono::milliseconds(50)), {});
    }
    if (stop_requested) return kExitOk;
  }
}

}  // namespace tidemark::cli
