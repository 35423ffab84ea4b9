#include "operator/cluster_objects.h"

#include "base/base64.h"

namespace tidemark::op {

Result<std::map<std::string, std::string>> ClusterObjects::ConfigMapData(const std::string& ns,
                                                                         const std::string& name) {
  runtime::ObjectPtr object = config_maps_.Get(ns + "/" + name);
  if (!object) {
    return Status::NotFound("ConfigMap " + name + " (namespace " + ns +
                            ") does not exist; create it, or fix spec.migrationsFrom");
  }
  std::map<std::string, std::string> data;
  const auto found = object->find("data");
  if (found == object->end() || !found->is_object()) return data;
  for (auto it = found->begin(); it != found->end(); ++it) {
    if (it->is_string()) data[it.key()] = it->get<std::string>();
  }
  return data;
}

Result<std::string> ClusterObjects::SecretValue(const std::string& ns, const std::string& name,
                                                const std::string& key) {
  runtime::ObjectPtr object = secrets_.Get(ns + "/" + name);
  if (!object) {
    return Status::NotFound("Secret " + name + " (namespace " + ns +
                            ") does not exist; create it, or fix the secretKeyRef");
  }
  const nlohmann::json data = object->value("data", nlohmann::json::object());
  if (!data.contains(key) || !data[key].is_string()) {
    return Status::NotFound("Secret " + name + " (namespace " + ns + ") has no key \"" + key +
                            "\"");
  }
  auto decoded = Base64Decode(data[key].get<std::string>());
  if (!decoded.ok()) {
    return Status::InvalidArgument("Secret " + name + " key " + key + " is not valid base64");
  }
  return decoded;
}

}  // namespace tidemark::op
