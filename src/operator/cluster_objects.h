// The ConfigMaps and Secrets a plan names, read from the controller's watch caches
// (never from the API server on the reconcile path).
#pragma once

#include <string>
#include <vector>

#include "resource/objects.h"
#include "runtime/kind_cache.h"

namespace tidemark::op {

// Caches of ConfigMaps and Secrets keyed "ns/name". Thread-safe (the stores are).
class ClusterObjects : public resource::ObjectSource {
 public:
  ClusterObjects(const runtime::KindCache& config_maps, const runtime::KindCache& secrets)
      : config_maps_(config_maps), secrets_(secrets) {}

  Result<std::map<std::string, std::string>> ConfigMapData(const std::string& ns,
                                                           const std::string& name) override;
  Result<std::string> SecretValue(const std::string& ns, const std::string& name,
                                  const std::string& key) override;
  Result<std::map<std::string, std::string>> SecretData(const std::string& ns,
                                                        const std::string& name) override;

 private:
  Result<runtime::ObjectPtr> Secret(const std::string& ns, const std::string& name) const;

  const runtime::KindCache& config_maps_;
  const runtime::KindCache& secrets_;
};

}  // namespace tidemark::op
