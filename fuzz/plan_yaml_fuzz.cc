// Plan files as `tidemark run -f` reads them: the documents of one text (plans, ConfigMaps,
// Secrets), each plan completed with the steps of the ConfigMaps beside it and its graph
// checked.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_checks.h"
#include "plan/graph.h"
#include "resource/objects.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tidemark;
  const std::string text(reinterpret_cast<const char*>(data), size);
  resource::LoadedFiles files;
  const Status added = files.AddText(text, "plan.yaml");
  fuzz::CheckMessage(added, 16384);
  for (plan::MigrationPlan& plan : files.plans) {
    fuzz::CheckMessage(resource::CompletePlan(&plan, files), 16384);
    if (const auto problem = plan::Validate(plan))
      fuzz::CheckMessage(Status::InvalidArgument(problem->message));
  }
  return 0;
}
