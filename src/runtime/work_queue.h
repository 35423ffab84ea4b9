// The work queue of client-go: the reconcile contract of SPEC 3 and STYLE.md.
//
// Keys ("namespace/name") wait in FIFO order; a key is never handed to two workers at once
// (a key added while it is being processed goes back on the queue when Done() is called);
// a key added many times before a worker takes it is processed once. AddRateLimited()
// delays a key by its own exponential back-off (5 ms .. 5 min), which Forget() resets.
// AddAfter() schedules a requeue or resync.
//
// Every method is thread-safe. Unlike client-go, ShutDown() stops handing out keys at once
// (keys still queued are dropped): the controller stops when it stops leading.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "base/backoff.h"
#include "base/clock.h"

namespace tidemark::runtime {

struct WorkQueueOptions {
  BackoffPolicy backoff = BackoffPolicy::Reconcile();  // AddRateLimited's per-key delays
  const Clock* clock = &SystemClock();                 // not owned
};

class WorkQueue;
using WorkQueuePtr = std::unique_ptr<WorkQueue>;

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options = {});
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `key` unless it is queued already; ignored after ShutDown().
  void Add(const std::string& key);
  // Queues `key` once `delay` has passed (at once when delay <= 0). Of several pending
  // delays for one key, the earliest wins.
  void AddAfter(const std::string& key, std::chrono::nanoseconds delay);
  // AddAfter with the key's next back-off delay: each call without Forget() doubles it.
  void AddRateLimited(const std::string& key);
  // Resets the key's back-off (after a successful reconcile).
  void Forget(const std::string& key);
  // How many AddRateLimited calls since the last Forget.
  uint32_t NumRequeues(const std::string& key) const;

  // Blocks until a key is ready and returns it, now marked as processing; nullopt once
  // ShutDown() was called. Every key returned must be given back with Done().
  std::optional<std::string> Get();
  // Ends the processing of `key`; if it was added meanwhile it is queued again.
  void Done(const std::string& key);

  // Keys ready to be processed (tidemark_workqueue_depth); delayed ones do not count.
  size_t Len();
  // Wakes every Get() with nullopt; later Adds are dropped.
  void ShutDown();
  bool ShuttingDown() const;

 private:
  // Moves the delayed keys whose time has come to the queue. mutex_ is held.
  void MoveDueLocked();
  void AddLocked(const std::string& key);

  const WorkQueueOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;                 // a key was queued, a delay changed, or shutdown
  std::deque<std::string> queue_;                 // guarded by mutex_
  std::unordered_set<std::string> dirty_;         // guarded by mutex_: needs processing
  std::unordered_set<std::string> processing_;    // guarded by mutex_
  std::multimap<MonoTime, std::string> delayed_;  // guarded by mutex_
  std::unordered_map<std::string, MonoTime> delayed_at_;  // guarded by mutex_: key -> its time
  std::unordered_map<std::string, uint32_t> failures_;    // guarded by mutex_
  bool shutting_down_ = false;                            // guarded by mutex_
};

}  // namespace tidemark::runtime
