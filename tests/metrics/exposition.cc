#include "tests/metrics/exposition.h"

#include <limits>
#include <sstream>
#include <stdexcept>

namespace tidemark::testing {

Exposition ParseExposition(const std::string& text) {
  Exposition result;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (line.starts_with("# TYPE ")) {
      std::istringstream fields(line.substr(7));
      std::string name, type;
      fields >> name >> type;
      result.types[name] = type;
      continue;
    }
    if (line.starts_with('#')) continue;
    // The value follows the last space; label values of ours never hold one.
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) throw std::runtime_error("bad sample line: " + line);
    const std::string value = line.substr(space + 1);
    double number = 0;
    if (value == "+Inf") {
      number = std::numeric_limits<double>::infinity();
    } else {
      number = std::stod(value);
    }
    result.samples[line.substr(0, space)] = number;
  }
  return result;
}

}  // namespace tidemark::testing
