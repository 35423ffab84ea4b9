// Reads the Prometheus text exposition format the way a scraper does, for assertions on
// sample values and metric types. Test-only; covers what prometheus-cpp writes (no
// timestamps, labels as name="value" pairs).
#pragma once

#include <map>
#include <optional>
#include <string>

namespace tidemark::testing {

struct Exposition {
  // "name{label=\"value\",...}" (labels as written) -> value; "name" when there are none.
  std::map<std::string, double> samples;
  // Family name -> its "# TYPE" (counter, gauge, histogram, ...).
  std::map<std::string, std::string> types;

  std::optional<double> Value(const std::string& series) const {
    auto it = samples.find(series);
    if (it == samples.end()) return std::nullopt;
    return it->second;
  }
};

Exposition ParseExposition(const std::string& text);

}  // namespace tidemark::testing
