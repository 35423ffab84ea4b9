// An in-memory cache of one kind of object, keyed by "namespace/name" (kube-rs's
// reflector::store). The watcher's events fill it; a re-list is collected in a buffer and
// swapped in at once, so readers never see half a listing.
//
// Each object is kept compactly, as MessagePack bytes without the metadata nothing reads
// (managedFields, kubectl's last-applied-configuration): a parsed nlohmann::json costs
// about eight times as much, and the operator caches every plan. Get() decodes the bytes
// into a shared immutable snapshot (ObjectPtr), which the reader owns. Every method is
// thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/watcher_event.h"

namespace tidemark::runtime {

using ObjectPtr = std::shared_ptr<const nlohmann::json>;

// The annotation `kubectl apply` writes: a second copy of the whole object.
inline constexpr char kLastAppliedAnnotation[] = "kubectl.kubernetes.io/last-applied-configuration";

class Store {
 public:
  // Applies a watcher event and returns the keys whose object may have changed, for the
  // work queue: the key of an Apply or Delete; at InitDone every key of the new listing and
  // every key it dropped (a listing's objects become visible only then).
  std::vector<std::string> Apply(const WatcherEvent& event);

  // The object under "ns/name" (or "name" when cluster-scoped); null when absent.
  ObjectPtr Get(const std::string& key) const;
  // Every key, in order; reading objects one by one with Get() keeps one parsed at a time.
  std::vector<std::string> Keys() const;
  size_t Size() const;
  // True once the first listing is complete (for /readyz).
  bool HasSynced() const;

 private:
  // An object's MessagePack bytes; shared, so Get() copies only a pointer under the lock.
  using Packed = std::shared_ptr<const std::vector<std::uint8_t>>;

  mutable std::mutex mutex_;
  std::map<std::string, Packed> objects_;  // guarded by mutex_
  std::map<std::string, Packed> buffer_;   // guarded by mutex_: the listing in progress
  bool synced_ = false;                    // guarded by mutex_
};

}  // namespace tidemark::runtime
