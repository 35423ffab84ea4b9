// A MigrationPlan as JSON, both ways it arrives: an object from the API server (parsed as
// the watch decoder parses it, then decoded as the controller decodes it) and a JSON plan
// file (`tidemark run -f plan.json`).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz/fuzz_checks.h"
#include "plan/graph.h"
#include "resource/decode.h"
#include "resource/objects.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tidemark;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const nlohmann::json object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!object.is_discarded()) {
    auto plan = resource::DecodePlan(object, "MigrationPlan default/fuzz");
    if (plan.ok()) {
      if (const auto problem = plan::Validate(*plan)) {
        fuzz::CheckMessage(Status::InvalidArgument(problem->message));
      }
    } else {
      fuzz::CheckMessage(plan.status(), 16384);
    }
  }
  resource::LoadedFiles files;
  fuzz::CheckMessage(files.AddText(text, "plan.json"), 16384);
  return 0;
}
