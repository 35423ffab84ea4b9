#include "runtime/kind_cache.h"

namespace tidemark::runtime {

KindCache::KindCache(kube::ResourceRef ref, std::string label_selector,
                     const std::vector<std::string>& namespaces)
    : ref_(std::move(ref)), label_selector_(std::move(label_selector)) {
  if (namespaces.empty()) {
    shards_.push_back(std::make_unique<Shard>());
  } else {
    for (const std::string& ns : namespaces) {
      auto shard = std::make_unique<Shard>();
      shard->ns = ns;
      shards_.push_back(std::move(shard));
    }
  }
}

ObjectPtr KindCache::Get(const std::string& key) const {
  const std::string ns = key.substr(0, key.find('/'));
  for (const auto& shard : shards_) {
    if (shard->ns.empty() || shard->ns == ns) return shard->store.Get(key);
  }
  return nullptr;
}

std::vector<std::string> KindCache::Keys() const {
  std::vector<std::string> all;
  for (const auto& shard : shards_) {
    for (std::string& key : shard->store.Keys()) all.push_back(std::move(key));
  }
  return all;
}

bool KindCache::HasSynced() const {
  for (const auto& shard : shards_) {
    if (!shard->store.HasSynced()) return false;
  }
  return true;
}

}  // namespace tidemark::runtime
