// The cached objects of one kind, from one watcher per watched namespace (or one for the
// whole cluster). Shards keep re-lists independent: a re-list replaces only its namespace.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kube/client.h"
#include "runtime/store.h"

namespace tidemark::runtime {

class KindCache {
 public:
  struct Shard {
    std::string ns;  // "" watches every namespace
    Store store;
  };

  // `namespaces` empty: one shard for the whole cluster.
  KindCache(kube::ResourceRef ref, std::string label_selector,
            const std::vector<std::string>& namespaces);

  // "ns/name" -> the object, or null. Thread-safe.
  ObjectPtr Get(const std::string& key) const;
  // Every key of every shard (an object is decoded only when Get() asks for it).
  std::vector<std::string> Keys() const;
  bool HasSynced() const;

  const kube::ResourceRef& ref() const { return ref_; }
  const std::string& label_selector() const { return label_selector_; }
  std::vector<std::unique_ptr<Shard>>& shards() { return shards_; }

 private:
  const kube::ResourceRef ref_;
  const std::string label_selector_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace tidemark::runtime
