// A ConfigMap key holding steps (spec.migrationsFrom), as both the CLI and the controller
// read it: one YAML document with a list of steps, appended to a plan whose graph is then
// checked.
#include <cstdint>
#include <map>
#include <string>

#include "fuzz/fuzz_checks.h"
#include "plan/graph.h"
#include "resource/objects.h"

namespace {

using namespace tidemark;

// One ConfigMap, "steps", whose key steps.yaml is the input.
class OneConfigMap : public resource::ObjectSource {
 public:
  explicit OneConfigMap(std::string text) : text_(std::move(text)) {}
  Result<std::map<std::string, std::string>> ConfigMapData(const std::string&,
                                                           const std::string&) override {
    return std::map<std::string, std::string>{{"steps.yaml", text_}};
  }
  Result<std::string> SecretValue(const std::string&, const std::string& name,
                                  const std::string&) override {
    return Status::NotFound("Secret " + name);
  }
  Result<std::map<std::string, std::string>> SecretData(const std::string&,
                                                        const std::string& name) override {
    return Status::NotFound("Secret " + name);
  }

 private:
  std::string text_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  OneConfigMap objects(std::string(reinterpret_cast<const char*>(data), size));
  plan::MigrationPlan plan;
  plan.meta.name = "fuzz";
  plan.config_map_names = {"steps"};
  const Status completed = resource::CompletePlan(&plan, objects);
  fuzz::CheckMessage(completed, 16384);
  if (completed.ok()) {
    if (const auto problem = plan::Validate(plan)) {
      fuzz::CheckMessage(Status::InvalidArgument(problem->message));
    }
  }
  return 0;
}
