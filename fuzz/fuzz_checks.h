// What every fuzz target checks of an error besides "no crash": the message is bounded, and
// it survives every serialiser (the status, an event, a log line) as valid UTF-8.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "base/status.h"
#include "base/text.h"

namespace tidemark::fuzz {

// Stops the run (libFuzzer keeps the input as a crash) when `status` breaks the rules.
inline void CheckMessage(const Status& status, size_t max_bytes = kMaxMessage) {
  if (status.ok()) return;
  const std::string& message = status.message();
  if (message.empty() || message.size() > max_bytes) {
    std::fprintf(stderr, "error message of %zu bytes (limit %zu)\n", message.size(), max_bytes);
    std::abort();
  }
  const std::string shown = Printable(message, max_bytes);
  if (FirstInvalidUtf8(shown) || FirstInvalidUtf8(DumpJson(nlohmann::json(message)))) {
    std::fprintf(stderr, "error message not made valid UTF-8\n");
    std::abort();
  }
}

}  // namespace tidemark::fuzz
