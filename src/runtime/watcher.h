// The watcher: lists a kind of object, then watches it, and keeps doing so through stream
// ends, errors and expired versions, as client-go's reflector and kube-rs's watcher do.
//
// The logic is a state machine stepped by one pure function, StepWatcher(), fed with the
// results of the list and watch calls; tests drive it without a server. Watcher::Run()
// makes the calls and feeds the machine. Phases:
//
//   kEmpty --list page--> kListing (more pages) --last page--> kWatching(rv of the list)
//   kWatching --event--> kWatching(rv of the event; BOOKMARKs only move rv)
//   kWatching --stream ends--> kWatching(same rv): watch again
//   any --410 Gone--> kEmpty: list again
//   failures (and watches ending within 1 s with no event) back off 800 ms .. 30 s.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <stop_token>
#include <string>
#include <variant>
#include <vector>

#include "base/backoff.h"
#include "base/clock.h"
#include "base/status.h"
#include "kube/client.h"
#include "runtime/watcher_event.h"

namespace tidemark::runtime {

struct WatcherState {
  enum class Phase { kEmpty, kListing, kWatching };
  Phase phase = Phase::kEmpty;
  std::string continue_token;    // kListing: the next page to ask for
  std::string resource_version;  // kWatching: where the next watch starts
  uint32_t failures = 0;         // consecutive failures, for the back-off
};

// The inputs of the machine: what the last call gave.
struct ListResult {
  Result<kube::ObjectList> page;
};
struct WatchEventReceived {
  kube::WatchEvent event;
};
struct WatchEnded {
  Status status;                      // OK: the server closed the stream
  bool saw_event = false;             // any event (bookmarks too) during the stream
  std::chrono::nanoseconds duration;  // how long the stream lasted
};
using WatcherInput = std::variant<ListResult, WatchEventReceived, WatchEnded>;

struct WatcherStep {
  std::vector<WatcherEvent> events;  // for the store and the work queue, in order
  Millis delay{0};                   // wait this long before the next call
  bool restarted = false;            // the stream broke (error, 410, quick close)
};

struct WatcherTuning {
  BackoffPolicy backoff = BackoffPolicy::Watch();
  std::chrono::nanoseconds quick_close = std::chrono::seconds(1);  // shorter counts as failure
};

// Advances `state` by one input. `unit_random` in [0, 1) jitters the back-off.
WatcherStep StepWatcher(WatcherState* state, WatcherInput input, const WatcherTuning& tuning,
                        double unit_random);

struct WatcherOptions {
  std::string ns;              // "": every namespace
  std::string label_selector;  // shard by label (SPEC 4)
  std::string field_selector;
  int64_t page_size = 500;  // list limit per page
  // Each watch asks the server to end it after 1x to 2x this, at random (client-go's
  // spread, so that replicas do not all re-watch at once).
  int watch_timeout_seconds = 300;
  WatcherTuning tuning;
  const Clock* clock = &SystemClock();  // not owned
  // Called on each restart of the stream after a failure, an expired version or a quick
  // close (tidemark_watch_restarts_total{resource}); not for the routine re-watch after
  // the server's timeout.
  std::function<void()> on_restart;
};

class Watcher {
 public:
  // `client` must outlive the Watcher.
  Watcher(const kube::Client& client, kube::ResourceRef ref, WatcherOptions options = {});

  // Lists and watches until `stop` is requested, calling `on_event` on this thread for
  // each event, in order. Not reentrant: one Run per Watcher at a time.
  void Run(const std::function<void(const WatcherEvent&)>& on_event, std::stop_token stop);

 private:
  const kube::Client& client_;
  const kube::ResourceRef ref_;
  const WatcherOptions options_;
  std::mt19937_64 random_;
};

}  // namespace tidemark::runtime
