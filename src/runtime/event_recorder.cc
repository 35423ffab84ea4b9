#include "runtime/event_recorder.h"

#include <cstdio>

#include "base/log.h"
#include "base/text.h"

namespace tidemark::runtime {
namespace {

using nlohmann::json;

constexpr size_t kMaxNote = 1024;

json Regarding(const json& object) {
  const json metadata = object.value("metadata", json::object());
  json reference{{"apiVersion", object.value("apiVersion", "")},
                 {"kind", object.value("kind", "")},
                 {"name", metadata.value("name", "")}};
  for (const char* field : {"namespace", "uid", "resourceVersion"}) {
    const std::string value = metadata.value(field, "");
    if (!value.empty()) reference[field] = value;
  }
  return reference;
}

}  // namespace

EventRecorder::EventRecorder(const kube::Client& client, EventRecorderOptions options)
    : client_(client), options_(std::move(options)), writer_([this] { WriteQueued(); }) {}

EventRecorder::~EventRecorder() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  writer_.join();
}

void EventRecorder::Record(const json& regarding, EventType type, const std::string& reason,
                           const std::string& action, const std::string& note) {
  Pending event{Regarding(regarding),
                type,
                reason,
                action,
                Truncate(note, kMaxNote),
                options_.clock->Now(),
                options_.clock->WallNow()};
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= options_.max_queued) {
      log::Warn("event dropped: too many waiting to be sent", {{"reason", reason}});
      return;
    }
    queue_.push_back(std::move(event));
  }
  changed_.notify_all();
}

void EventRecorder::Flush() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return queue_.empty() && !writing_; });
}

void EventRecorder::WriteQueued() {
  std::unique_lock lock(mutex_);
  while (true) {
    changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything is sent
    const Pending event = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    const Status written = Write(event);
    if (!written.ok()) {
      log::Warn("event not written", {{"object", event.reference.value("name", "")},
                                      {"reason", event.reason},
                                      {"error", written.message()}});
    }
    lock.lock();
    if (stopping_ && !written.ok() && !queue_.empty()) {
      // Shutting down with the API server unreachable: no timeout per remaining event.
      log::Warn("events dropped at shutdown", {{"count", std::to_string(queue_.size())}});
      queue_.clear();
    }
    writing_ = false;
    changed_.notify_all();
  }
}

Status EventRecorder::Write(const Pending& pending) {
  const json& reference = pending.reference;
  const std::string object_ns = reference.value("namespace", "");
  const std::string event_ns = object_ns.empty() ? "default" : object_ns;
  const std::string& text = pending.note;
  const std::string& reason = pending.reason;
  const std::string uid = reference.value("uid", "");
  const Key key{uid.empty() ? kube::ObjectKey(object_ns, reference.value("name", "")) : uid, reason,
                text};
  const MonoTime now = pending.now;
  const std::string wall_now = FormatRfc3339Micro(pending.wall_now);

  // Forget series that ended, so memory stays bounded; a look every few seconds is enough
  // (a walk over every series for each event was a quarter of the controller's CPU).
  if (now >= next_prune_) {
    for (auto it = series_.begin(); it != series_.end();) {
      it = now - it->second.last >= options_.series_window ? series_.erase(it) : std::next(it);
    }
    next_prune_ = now + kPruneEvery;
  }
  auto found = series_.find(key);
  if (found != series_.end() && now - found->second.last >= options_.series_window) {
    series_.erase(found);  // ended, not pruned yet
    found = series_.end();
  }
  if (found != series_.end()) {
    Series& series = found->second;
    json patch{{"series", {{"count", series.count + 1}, {"lastObservedTime", wall_now}}}};
    auto patched = client_.Patch(kube::resources::kEvents, series.ns, series.name,
                                 kube::PatchType::kMerge, patch);
    if (patched.ok()) {
      ++series.count;
      series.last = now;
      return Status::Ok();
    }
    if (patched.status().code() != StatusCode::kNotFound) return patched.status();
    series_.erase(found);  // the Event was deleted (events expire): start a new one
  }

  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".%llx",
                static_cast<unsigned long long>(pending.wall_now.time_since_epoch() /
                                                std::chrono::nanoseconds(1)));
  const std::string name = reference.value("name", "unnamed") + suffix;
  json event{{"apiVersion", "events.k8s.io/v1"},
             {"kind", "Event"},
             {"metadata", {{"name", name}, {"namespace", event_ns}}},
             {"eventTime", wall_now},
             {"type", pending.type == EventType::kWarning ? "Warning" : "Normal"},
             {"reason", reason},
             {"action", pending.action},
             {"note", text},
             {"reportingController", options_.reporting_controller},
             {"reportingInstance", options_.reporting_instance},
             {"regarding", reference}};
  auto created = client_.Create(kube::resources::kEvents, event_ns, event);
  if (!created.ok()) return created.status();
  if (series_.size() >= options_.max_remembered) series_.erase(series_.begin());
  series_[key] = Series{event_ns, name, 1, now};
  return Status::Ok();
}

}  // namespace tidemark::runtime
