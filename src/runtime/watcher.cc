#include "runtime/watcher.h"

#include "base/log.h"

namespace tidemark::runtime {
namespace {

using Phase = WatcherState::Phase;

// A failure: same phase, longer back-off.
void Fail(WatcherState* state, WatcherStep* step, const WatcherTuning& tuning, double unit_random) {
  ++state->failures;
  step->delay = BackoffDelay(tuning.backoff, state->failures, unit_random);
  step->restarted = true;
}

void Relist(WatcherState* state, WatcherStep* step) {
  state->phase = Phase::kEmpty;
  state->continue_token.clear();
  state->resource_version.clear();
  step->restarted = true;
}

void OnList(WatcherState* state, ListResult result, WatcherStep* step, const WatcherTuning& tuning,
            double unit_random) {
  if (state->phase == Phase::kWatching) return;  // no list was asked for
  if (!result.page.ok()) {
    if (result.page.status().code() == StatusCode::kGone) {
      Relist(state, step);  // the continue token expired: start the listing over
    } else {
      Fail(state, step, tuning, unit_random);  // ask for the same page again
    }
    return;
  }
  kube::ObjectList& page = *result.page;
  if (state->phase == Phase::kEmpty) step->events.push_back({WatcherEvent::Type::kInit, {}});
  for (auto& item : page.items) {
    step->events.push_back({WatcherEvent::Type::kInitApply, std::move(item)});
  }
  state->failures = 0;
  if (!page.continue_token.empty()) {
    state->phase = Phase::kListing;
    state->continue_token = std::move(page.continue_token);
    return;
  }
  step->events.push_back({WatcherEvent::Type::kInitDone, {}});
  state->phase = Phase::kWatching;
  state->continue_token.clear();
  state->resource_version = std::move(page.resource_version);
}

void OnEvent(WatcherState* state, WatchEventReceived received, WatcherStep* step) {
  if (state->phase != Phase::kWatching) return;  // no watch was asked for
  kube::WatchEvent& event = received.event;
  const std::string version = kube::ResourceVersionOf(event.object);
  if (!version.empty()) state->resource_version = version;
  state->failures = 0;
  switch (event.type) {
    case kube::WatchEvent::Type::kAdded:
    case kube::WatchEvent::Type::kModified:
      step->events.push_back({WatcherEvent::Type::kApply, std::move(event.object)});
      break;
    case kube::WatchEvent::Type::kDeleted:
      step->events.push_back({WatcherEvent::Type::kDelete, std::move(event.object)});
      break;
    case kube::WatchEvent::Type::kBookmark:
      break;
  }
}

void OnWatchEnd(WatcherState* state, const WatchEnded& ended, WatcherStep* step,
                const WatcherTuning& tuning, double unit_random) {
  if (state->phase != Phase::kWatching) return;
  if (ended.status.code() == StatusCode::kCancelled) return;
  const bool quick = !ended.saw_event && ended.duration < tuning.quick_close;
  if (ended.status.code() == StatusCode::kGone) {
    Relist(state, step);
    // A version that expires again at once must not make the watcher spin.
    if (quick) Fail(state, step, tuning, unit_random);
    return;
  }
  if (!ended.status.ok() || quick) {
    Fail(state, step, tuning, unit_random);  // watch again from the same version
  } else {
    state->failures = 0;  // a healthy stream that the server ended on time
  }
}

}  // namespace

WatcherStep StepWatcher(WatcherState* state, WatcherInput input, const WatcherTuning& tuning,
                        double unit_random) {
  WatcherStep step;
  if (auto* list = std::get_if<ListResult>(&input)) {
    OnList(state, std::move(*list), &step, tuning, unit_random);
  } else if (auto* event = std::get_if<WatchEventReceived>(&input)) {
    OnEvent(state, std::move(*event), &step);
  } else {
    OnWatchEnd(state, std::get<WatchEnded>(input), &step, tuning, unit_random);
  }
  return step;
}

Watcher::Watcher(const kube::Client& client, kube::ResourceRef ref, WatcherOptions options)
    : client_(client),
      ref_(std::move(ref)),
      options_(std::move(options)),
      random_(std::random_device{}()) {}

void Watcher::Run(const std::function<void(const WatcherEvent&)>& on_event, std::stop_token stop) {
  WatcherState state;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const Clock& clock = *options_.clock;
  const auto apply = [&](WatcherInput input) {
    const WatcherStep step = StepWatcher(&state, std::move(input), options_.tuning, unit(random_));
    for (const WatcherEvent& event : step.events) on_event(event);
    if (step.restarted && options_.on_restart) options_.on_restart();
    return step.delay;
  };

  while (!stop.stop_requested()) {
    Millis delay{0};
    if (state.phase != WatcherState::Phase::kWatching) {
      kube::ListOptions list;
      list.label_selector = options_.label_selector;
      list.field_selector = options_.field_selector;
      list.limit = options_.page_size;
      list.continue_token = state.continue_token;
      auto page = client_.List(ref_, options_.ns, list);
      if (!page.ok()) {
        log::Warn("listing failed",
                  {{"resource", ref_.plural}, {"error", page.status().ToString()}});
      }
      delay = apply(ListResult{std::move(page)});
    } else {
      kube::WatchOptions watch;
      watch.resource_version = state.resource_version;
      watch.label_selector = options_.label_selector;
      watch.field_selector = options_.field_selector;
      watch.timeout_seconds =
          static_cast<int>(options_.watch_timeout_seconds * (1.0 + unit(random_)));
      bool saw_event = false;
      const MonoTime started = clock.Now();
      const Status status = client_.Watch(
          ref_, options_.ns, watch,
          [&](kube::WatchEvent event) {
            saw_event = true;
            apply(WatchEventReceived{std::move(event)});
            return true;
          },
          stop);
      if (!status.ok() && status.code() != StatusCode::kCancelled) {
        log::Info("watch ended", {{"resource", ref_.plural}, {"status", status.ToString()}});
      }
      delay = apply(WatchEnded{status, saw_event, clock.Now() - started});
    }
    if (delay > Millis(0) && !clock.SleepFor(delay, stop)) break;
  }
}

}  // namespace tidemark::runtime
