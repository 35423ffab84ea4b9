// Pieces of the objects the Deployment and StatefulSet controllers write, shared by the
// rollout verdict's unit tests and the rollout gate's end-to-end tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace tidemark::testing {

// The pod template of app "web" at `image`.
inline nlohmann::json PodTemplate(const std::string& image) {
  return {{"metadata", {{"labels", {{"app", "web"}}}}},
          {"spec", {{"containers", {{{"name", "web"}, {"image", image}}}}}}};
}

// metadata.ownerReferences naming the apps/v1 controller of an object.
inline nlohmann::json ControllerOwner(const std::string& kind, const std::string& name,
                                      const std::string& uid) {
  return nlohmann::json::array({{{"apiVersion", "apps/v1"},
                                 {"kind", kind},
                                 {"name", name},
                                 {"uid", uid},
                                 {"controller", true},
                                 {"blockOwnerDeletion", true}}});
}

}  // namespace tidemark::testing
