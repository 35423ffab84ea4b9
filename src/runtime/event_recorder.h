// Records events.k8s.io/v1 Events about objects (what `kubectl describe` and
// `kubectl events` show). A repeat of the same (object, reason, note) within the series
// window does not make a new Event: the first Event's `series {count, lastObservedTime}`
// is patched instead, as client-go's event broadcaster does.
//
// Record() writes synchronously on the caller's thread and is thread-safe. A failure to
// write an event is returned (and worth only a log line: events are best effort).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>

#include "base/clock.h"
#include "base/status.h"
#include "kube/client.h"

namespace tidemark::runtime {

enum class EventType { kNormal, kWarning };

struct EventRecorderOptions {
  std::string reporting_controller = "tidemark.dev/controller";
  std::string reporting_instance;         // this replica: the pod name
  std::chrono::minutes series_window{6};  // repeats closer than this are counted
  size_t max_remembered = 4096;           // events remembered for series
  const Clock* clock = &SystemClock();    // not owned
};

class EventRecorder;
using EventRecorderPtr = std::unique_ptr<EventRecorder>;

class EventRecorder {
 public:
  // `client` must outlive the recorder.
  EventRecorder(const kube::Client& client, EventRecorderOptions options);

  // `regarding` is the object the event is about (its apiVersion, kind and metadata are
  // read); `reason` is one CamelCase word ("Applied"), `action` what was done ("Reconcile"),
  // `note` the human text, cut to 1024 characters.
  Status Record(const nlohmann::json& regarding, EventType type, const std::string& reason,
                const std::string& action, const std::string& note);

 private:
  struct Series {
    std::string ns, name;  // the Event object
    int64_t count = 1;
    MonoTime last;
  };
  using Key = std::tuple<std::string, std::string, std::string>;  // uid-or-key, reason, note

  const kube::Client& client_;
  const EventRecorderOptions options_;
  std::mutex mutex_;
  std::map<Key, Series> series_;  // guarded by mutex_
};

}  // namespace tidemark::runtime
