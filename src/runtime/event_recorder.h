// Records events.k8s.io/v1 Events about objects (what `kubectl describe` and
// `kubectl events` show). A repeat of the same (object, reason, note) within the series
// window does not make a new Event: the first Event's `series {count, lastObservedTime}`
// is patched instead, as client-go's event broadcaster does.
//
// Record() only queues the event, as client-go's broadcaster does: a reconcile never waits
// for the API server to take its events, and workers never wait for each other's. One
// writer thread sends them in order; a failure is a log line (events are best effort), and
// when more than `max_queued` wait, new ones are dropped. Thread-safe. The destructor
// sends what is queued before it returns (a draining controller loses no event), unless a
// write then fails: with the API server gone, the rest are dropped rather than each waiting
// for its timeout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
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
  size_t max_queued = 1000;               // events waiting to be sent
  const Clock* clock = &SystemClock();    // not owned
};

class EventRecorder;
using EventRecorderPtr = std::unique_ptr<EventRecorder>;

class EventRecorder {
 public:
  // `client` must outlive the recorder.
  EventRecorder(const kube::Client& client, EventRecorderOptions options);
  ~EventRecorder();

  // `regarding` is the object the event is about (its apiVersion, kind and metadata are
  // read); `reason` is one CamelCase word ("Applied"), `action` what was done ("Reconcile"),
  // `note` the human text, cut to 1024 characters.
  void Record(const nlohmann::json& regarding, EventType type, const std::string& reason,
              const std::string& action, const std::string& note);
  // Returns once every event recorded so far has been sent (or has failed).
  void Flush();

 private:
  struct Pending {
    nlohmann::json reference;  // the regarding object's reference
    EventType type;
    std::string reason, action, note;
    MonoTime now;  // when it was recorded
    WallTime wall_now;
  };
  void WriteQueued();
  Status Write(const Pending& event);

  struct Series {
    std::string ns, name;  // the Event object
    int64_t count = 1;
    MonoTime last;
  };
  using Key = std::tuple<std::string, std::string, std::string>;  // uid-or-key, reason, note

  const kube::Client& client_;
  const EventRecorderOptions options_;
  static constexpr std::chrono::seconds kPruneEvery{10};
  std::map<Key, Series> series_;  // the writer thread's only
  MonoTime next_prune_{};         // the writer thread's only
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Pending> queue_;  // guarded by mutex_
  bool writing_ = false;       // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
  std::thread writer_;
};

}  // namespace tidemark::runtime
