#include "plan/model.h"

namespace tidemark::plan {

std::optional<StepId> ParseStepId(std::string_view text) {
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == text.size()) return std::nullopt;
  return StepId{std::string(text.substr(0, dot)), std::string(text.substr(dot + 1))};
}

}  // namespace tidemark::plan
