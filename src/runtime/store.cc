#include "runtime/store.h"

#include "kube/client.h"

namespace tidemark::runtime {
namespace {

// What the store keeps of `object`: its bytes, without server-side apply's managedFields
// and kubectl's last-applied copy, which are often larger than the rest of the object.
std::shared_ptr<const std::vector<std::uint8_t>> Pack(const nlohmann::json& object) {
  nlohmann::json kept = object;
  const auto metadata = kept.find("metadata");
  if (metadata != kept.end() && metadata->is_object()) {
    metadata->erase("managedFields");
    const auto annotations = metadata->find("annotations");
    if (annotations != metadata->end() && annotations->is_object()) {
      annotations->erase(kLastAppliedAnnotation);
    }
  }
  std::vector<std::uint8_t> bytes = nlohmann::json::to_msgpack(kept);
  bytes.shrink_to_fit();  // the encoder grows the vector by doubling
  return std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes));
}

}  // namespace

std::vector<std::string> Store::Apply(const WatcherEvent& event) {
  // Encoded before the lock is taken: readers wait only for the map update.
  const bool keeps =
      event.type == WatcherEvent::Type::kInitApply || event.type == WatcherEvent::Type::kApply;
  Packed packed = keeps ? Pack(event.object) : nullptr;
  std::lock_guard lock(mutex_);
  switch (event.type) {
    case WatcherEvent::Type::kInit:
      buffer_.clear();
      return {};
    case WatcherEvent::Type::kInitApply:
      buffer_[kube::ObjectKey(event.object)] = std::move(packed);
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
      objects_[key] = std::move(packed);
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
  Packed packed;
  {
    std::lock_guard lock(mutex_);
    const auto found = objects_.find(key);
    if (found == objects_.end()) return nullptr;
    packed = found->second;
  }
  // Decoded outside the lock; bytes from to_msgpack() always decode.
  return std::make_shared<const nlohmann::json>(nlohmann::json::from_msgpack(*packed));
}

std::vector<std::string> Store::Keys() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> keys;
  keys.reserve(objects_.size());
  for (const auto& [key, object] : objects_) keys.push_back(key);
  return keys;
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
