// Logging: one line per event, text on a terminal, JSON lines in a cluster.
//
// spdlog provides the sinks, levels and thread safety; this header only adds structured
// fields ("plan", "step", "reconcile") so that both formats carry the same facts. Never pass
// a secret or a connection string with a password as a field: see RedactDsn in
// base/redact.h. All functions are thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tidemark::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kText, kJson };

using Fields = std::vector<std::pair<std::string, std::string>>;

// Configures the process-wide logger (stderr). Safe to call again to change settings.
void Init(Format format, Level level);
// Parses "debug|info|warn|error"; false when the name is unknown.
bool ParseLevel(std::string_view name, Level* level);

void Write(Level level, std::string_view message, const Fields& fields = {});
inline void Debug(std::string_view m, const Fields& f = {}) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, const Fields& f = {}) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, const Fields& f = {}) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, const Fields& f = {}) { Write(Level::kError, m, f); }

}  // namespace tidemark::log
