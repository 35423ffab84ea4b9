#include "cli/wait_command.h"

#include <iostream>
#include <optional>
#include <random>
#include <thread>

#include "base/backoff.h"
#include "cli/commands.h"
#include "postgres/connection.h"
#include "postgres/pg_store.h"
#include "resource/decode.h"

namespace tidemark::cli {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Ledgers that Django's own migrate changes send no notification: looked at this often.
constexpr std::chrono::seconds kRecheck{30};
// A lost or refused connection is tried again this way, within the timeout.
constexpr BackoffPolicy kReconnect{Millis(200), Millis(5'000), 2.0, 0.2};
// Names listed in one message; the rest are counted.
constexpr size_t kMaxListed = 20;

std::string List(const std::vector<std::string>& names) {
  std::string text;
  for (size_t i = 0; i < names.size() && i < kMaxListed; ++i) {
    text += (i ? ", " : "") + names[i];
  }
  if (names.size() > kMaxListed) {
    text += ", and " + std::to_string(names.size() - kMaxListed) + " more";
  }
  return text;
}

// What `wait` waits for: named steps (in the ledger as rows, or by the plan's squash rules
// when a plan is given), or else the plan's pre-deploy steps.
struct Awaited {
  std::vector<plan::StepId> steps;
  std::optional<plan::MigrationPlan> plan;
};

// The awaited steps not applied yet. Unavailable when the session is lost; any other
// error is for a person (no SELECT on the ledger, a step the plan lacks). Without a plan
// the ledger is read through `store`, made once per session: it remembers that the
// tables exist, so that a look is one query.
Result<std::vector<std::string>> Missing(const Awaited& awaited, postgres::LedgerListener& listener,
                                         ledger::StorePtr& store) {
  std::vector<std::string> missing;
  if (!awaited.plan) {
    std::set<std::string> apps;
    for (const plan::StepId& id : awaited.steps) apps.insert(id.app);
    if (!store) {
      TM_ASSIGN_OR_RETURN(store, listener.Store());
    }
    TM_ASSIGN_OR_RETURN(ledger::Recorded recorded, store->Read({apps.begin(), apps.end()}));
    for (const plan::StepId& id : awaited.steps) {
      if (!recorded.applied.count(id)) missing.push_back(id.ToString());
    }
    return missing;
  }
  engine::Options options;
  options.execute = false;
  options.phase = plan::Phase::kPreDeploy;
  const engine::Report report = engine::Reconcile(
      *awaited.plan, [&listener] { return listener.Store(); }, options);
  if (!report.ledger_read) {
    const plan::Outcome& out = report.outcome;
    if (out.progressing) return Status::Unavailable(out.progressing->message);
    return Status::FailedPrecondition(out.stalled ? out.stalled->message
                                                  : "cannot read the ledger");
  }
  if (awaited.steps.empty()) {
    // A stalled plan's pre-deploy part is not done, whatever it lists: the timeout says why.
    if (report.outcome.stalled) {
      missing.push_back(std::string(plan::ReasonName(report.outcome.stalled->reason)) + " (" +
                        report.outcome.stalled->message + ")");
    }
    for (const plan::PendingAction& action : report.outcome.pending) {
      missing.push_back(action.migration.ToString());
    }
    return missing;
  }
  for (const plan::StepId& id : awaited.steps) {
    const auto view = std::find_if(report.steps.begin(), report.steps.end(),
                                   [&](const engine::StepView& v) { return v.step->id == id; });
    if (view == report.steps.end()) {
      return Status::InvalidArgument("--for " + id.ToString() + ": plan " + awaited.plan->Key() +
                                     " has no such step");
    }
    if (!view->applied) missing.push_back(id.ToString());
  }
  return missing;
}

}  // namespace

int RunWait(const CommonOptions& common, const WaitFlags& flags) {
  std::chrono::milliseconds timeout;
  if (!resource::ParseDuration(flags.timeout, &timeout)) {
    return Invalid("--timeout " + flags.timeout + ": write a duration such as 30s, 10m or 1h");
  }
  Awaited awaited;
  for (const std::string& text : flags.steps) {
    auto id = plan::ParseStepId(text);
    if (!id) return Invalid("--for " + text + ": write app.migration, e.g. shop.0002_order_title");
    awaited.steps.push_back(*id);
  }
  if (awaited.steps.empty() && flags.files.empty()) {
    return Invalid(
        "name what to wait for: --for APP.NAME (any number), or -f FILES for the "
        "plan's pre-deploy steps");
  }

  CommonOptions load = common;
  load.files = flags.files;
  Loaded loaded;
  plan::DatabaseSpec database;
  postgres::ConnectOptions options;
  options.application_name = "tidemark-wait";
  if (!flags.files.empty()) {
    auto plans = LoadPlans(load);
    if (!plans.ok()) return Invalid(plans.status().message());
    loaded = std::move(plans).value();
    auto chosen = OnePlan(loaded);
    if (!chosen.ok()) return Invalid(chosen.status().message());
    awaited.plan = *chosen;
    database = awaited.plan->database;
    options.schema = database.schema;
    options.ledger = awaited.plan->ledger;
  } else {
    if (common.database.empty()) {
      return Invalid("--database DSN (or DATABASE_URL) is needed without -f");
    }
    database.dsn.literal = common.database;
    options.schema = flags.schema;
    options.ledger.table = flags.ledger_table;
  }
  const std::string ns = awaited.plan ? awaited.plan->meta.ns : "default";
  auto params = postgres::ResolveConnection(database, ns, loaded.files,
                                            /*allow_local_sources=*/true);
  if (!params.ok()) return Invalid(params.status().message());

  const auto deadline = SteadyClock::now() + timeout;
  std::mt19937 random(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  uint32_t failures = 0;
  std::unique_ptr<postgres::LedgerListener> listener;
  ledger::StorePtr store;  // on the listener's session: reset before it
  auto disconnect = [&] {
    store.reset();
    listener.reset();
  };
  std::vector<std::string> missing;
  std::string problem;  // the last connection problem, said at the timeout
  bool announced = false;
  for (;;) {
    if (!listener) {
      auto opened = postgres::LedgerListener::Open(*params, options);
      if (opened.ok()) {
        listener = std::move(opened).value();
      } else {
        problem = opened.status().message();
      }
    }
    if (listener) {
      auto found = Missing(awaited, *listener, store);
      if (found.ok()) {
        failures = 0;
        problem.clear();
        missing = std::move(found).value();
        if (missing.empty()) {
          std::cout << "ready: the awaited steps are applied\n";
          return kExitOk;
        }
        if (!announced) {
          std::cerr << "waiting for " << missing.size() << " steps: " << List(missing) << "\n";
          announced = true;
        }
      } else if (found.status().code() == StatusCode::kUnavailable) {
        problem = found.status().message();
        disconnect();
      } else {
        return Invalid(found.status().message());
      }
    }
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (remaining.count() <= 0) {
      std::cerr << "timed out after " << flags.timeout << "; ";
      if (missing.empty()) {
        std::cerr << "the ledger could not be read: " << problem << "\n";
      } else {
        std::cerr << "still not applied: " << List(missing)
                  << (problem.empty() ? "" : "; last problem: " + problem) << "\n";
      }
      return kExitPending;
    }
    if (listener) {
      auto notified = listener->Await(std::min<std::chrono::milliseconds>(remaining, kRecheck));
      if (!notified.ok()) {
        problem = notified.status().message();
        disconnect();  // reconnect at once, then back off if that fails
      }
      continue;
    }
    const Millis delay = BackoffDelay(kReconnect, ++failures, unit(random));
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(remaining, delay));
  }
}

}  // namespace tidemark::cli
