#include "runtime/work_queue.h"

namespace tidemark::runtime {

WorkQueue::WorkQueue(WorkQueueOptions options) : options_(options) {}

void WorkQueue::AddLocked(const std::string& key) {
  if (shutting_down_ || dirty_.count(key)) return;
  dirty_.insert(key);
  if (processing_.count(key)) return;  // Done() queues it again
  queue_.push_back(key);
  ready_.notify_one();
}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard lock(mutex_);
  AddLocked(key);
}

void WorkQueue::AddAfter(const std::string& key, std::chrono::nanoseconds delay) {
  std::lock_guard lock(mutex_);
  if (shutting_down_) return;
  if (delay <= std::chrono::nanoseconds::zero()) {
    AddLocked(key);
    return;
  }
  const MonoTime at = options_.clock->Now() + delay;
  if (const auto found = delayed_at_.find(key); found != delayed_at_.end()) {
    if (found->second <= at) return;  // an earlier wake-up is already planned
    for (auto [it, end] = delayed_.equal_range(found->second); it != end; ++it) {
      if (it->second == key) {
        delayed_.erase(it);
        break;
      }
    }
  }
  delayed_.emplace(at, key);
  delayed_at_[key] = at;
  ready_.notify_all();  // waiting workers recompute how long to sleep
}

void WorkQueue::AddRateLimited(const std::string& key) {
  uint32_t failures;
  {
    std::lock_guard lock(mutex_);
    failures = ++failures_[key];
  }
  AddAfter(key, BackoffDelay(options_.backoff, failures));
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard lock(mutex_);
  failures_.erase(key);
}

uint32_t WorkQueue::NumRequeues(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto found = failures_.find(key);
  return found == failures_.end() ? 0 : found->second;
}

void WorkQueue::MoveDueLocked() {
  const MonoTime now = options_.clock->Now();
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    const std::string key = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    delayed_at_.erase(key);
    AddLocked(key);
  }
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (shutting_down_) return std::nullopt;
    MoveDueLocked();
    if (!queue_.empty()) break;
    if (delayed_.empty()) {
      ready_.wait(lock);
    } else {
      options_.clock->WaitUntil(ready_, lock, delayed_.begin()->first);
    }
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return key;
}

void WorkQueue::Done(const std::string& key) {
  std::lock_guard lock(mutex_);
  processing_.erase(key);
  if (dirty_.count(key) && !shutting_down_) {
    queue_.push_back(key);
    ready_.notify_one();
  }
}

size_t WorkQueue::Len() {
  std::lock_guard lock(mutex_);
  MoveDueLocked();
  return queue_.size();
}

void WorkQueue::ShutDown() {
  std::lock_guard lock(mutex_);
  shutting_down_ = true;
  ready_.notify_all();
}

bool WorkQueue::ShuttingDown() const {
  std::lock_guard lock(mutex_);
  return shutting_down_;
}

}  // namespace tidemark::runtime
