// Reading plan files, and the objects a plan refers to (ConfigMaps with steps, Secrets
// with credentials), wherever they come from: files for the CLI, the cluster for the
// controller. docs/plan-format.md describes the shapes. The database fields become libpq
// parameters in postgres/connection.h.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "plan/model.h"

namespace tidemark::resource {

// Where ConfigMaps and Secrets are looked up. Implementations: LoadedFiles below, and the
// controller's cache of the cluster.
class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  // A ConfigMap's data; NotFound when absent.
  virtual Result<std::map<std::string, std::string>> ConfigMapData(const std::string& ns,
                                                                   const std::string& name) = 0;
  // One decoded value of a Secret; NotFound naming the Secret or the key when absent.
  virtual Result<std::string> SecretValue(const std::string& ns, const std::string& name,
                                          const std::string& key) = 0;
  // Every decoded value of a Secret by key (what `envFrom: secretRef` gives a container);
  // NotFound when absent.
  virtual Result<std::map<std::string, std::string>> SecretData(const std::string& ns,
                                                                const std::string& name) = 0;
};

// The documents of plan files: plans, and the ConfigMaps and Secrets beside them.
class LoadedFiles : public ObjectSource {
 public:
  std::vector<plan::MigrationPlan> plans;

  Result<std::map<std::string, std::string>> ConfigMapData(const std::string& ns,
                                                           const std::string& name) override;
  Result<std::string> SecretValue(const std::string& ns, const std::string& name,
                                  const std::string& key) override;
  Result<std::map<std::string, std::string>> SecretData(const std::string& ns,
                                                        const std::string& name) override;

  // Adds the documents of one YAML/JSON text; `origin` names it in messages.
  Status AddText(const std::string& text, const std::string& origin);

 private:
  std::map<std::string, std::map<std::string, std::string>> config_maps_;  // "ns/name" -> data
  std::map<std::string, std::map<std::string, std::string>> secrets_;      // decoded values
};

// Reads files and folders (a folder: its *.yaml, *.yml, *.json files in name order).
Result<LoadedFiles> LoadFiles(const std::vector<std::string>& paths);

// Appends the steps of spec.migrationsFrom to plan->migrations. The graph is checked
// later (plan::Validate, or the engine's diff), so that problems keep their reasons.
Status CompletePlan(plan::MigrationPlan* plan, ObjectSource& objects);

// The most a `file:` source of a field's value (a password, a connection string) may hold.
inline constexpr size_t kMaxValueFileBytes = 64 << 10;

// One field's value: its literal, or read from its source (`field` names it in messages:
// "spec.database.password"). `allow_local_sources` permits `env:` and `file:` sources (the
// CLI); the controller passes false so a plan cannot read the controller's own files.
Result<std::string> ResolveValue(const plan::Value& value, const std::string& field,
                                 const std::string& ns, ObjectSource& objects,
                                 bool allow_local_sources);

}  // namespace tidemark::resource
