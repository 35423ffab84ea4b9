#include "runtime/store.h"

#include "kube/client.h"

namespace tidemark::runtime {

std::vector<std::string> Store::Apply(const WatcherEvent& event) {
  std::lock_guard lock(mutex_);
  switch (event.type) {
    case WatcherEvent::Type::kInit:
      buffer_.clear();
      return {};
    case WatcherEvent::Type::kInitApply:
      buffer_[kube::ObjectKey(event.object)] = std::make_shared<const nlohmann::json>(event.object);
      return {};
    case WatcherEvent::Type::kInitDone: {
      std::vector<std::string> keys;
      for (const auto& [key, object] : buffer_) keys.push_back(key);
      for (const auto& [key, object] : objects_) {
        if (!buffer_.count(key)) keys.push_back(key);
      }
      objects_.swap(buffer_);
      buffer_.clear();
      synced_ = true;
      return keys;
    }
    case WatcherEvent::Type::kApply: {
      std::string key = kube::ObjectKey(event.object);
      objects_[key] = std::make_shared<const nlohmann::json>(event.object);
      return {std::move(key)};
    }
    case WatcherEvent::Type::kDelete: {
      std::string key = kube::ObjectKey(event.object);
      objects_.erase(key);
      return {std::move(key)};
    }
  }
  return {};
}

ObjectPtr Store::Get(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto found = objects_.find(key);
  return found == objects_.end() ? nullptr : found->second;
}

std::vector<ObjectPtr> Store::List() const {
  std::lock_guard lock(mutex_);
  std::vector<ObjectPtr> objects;
  objects.reserve(objects_.size());
  for (const auto& [key, object] : objects_) objects.push_back(object);
  return objects;
}

size_t Store::Size() const {
  std::lock_guard lock(mutex_);
  return objects_.size();
}

bool Store::HasSynced() const {
  std::lock_guard lock(mutex_);
  return synced_;
}

}  // namespace tidemark::runtime
