// An in-memory cache of one kind of object, keyed by "namespace/name" (kube-rs's
// reflector::store). The watcher's events fill it; a re-list is collected in a buffer and
// swapped in at once, so readers never see half a listing.
//
// Objects are shared immutable snapshots (ObjectPtr): readers keep them as long as they
// like. Every method is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/watcher_event.h"

namespace tidemark::runtime {

using ObjectPtr = std::shared_ptr<const nlohmann::json>;

class Store {
 public:
  // Applies a watcher event and returns the keys whose object may have changed, for the
  // work queue: the key of an Apply or Delete; at InitDone every key of the new listing and
  // every key it dropped (a listing's objects become visible only then).
  std::vector<std::string> Apply(const WatcherEvent& event);

  // The object under "ns/name" (or "name" when cluster-scoped); null when absent.
  ObjectPtr Get(const std::string& key) const;
  std::vector<ObjectPtr> List() const;
  size_t Size() const;
  // True once the first listing is complete (for /readyz).
  bool HasSynced() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, ObjectPtr> objects_;  // guarded by mutex_
  std::map<std::string, ObjectPtr> buffer_;   // guarded by mutex_: the listing in progress
  bool synced_ = false;                       // guarded by mutex_
};

}  // namespace tidemark::runtime
