#include "base/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/text.h"

namespace tidemark::log {
namespace {

struct State {
  std::mutex mutex;
  Format format = Format::kText;
  std::shared_ptr<spdlog::logger> logger;
};

State& GetState() {
  static State state;
  return state;
}

spdlog::level::level_enum ToSpd(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// A log line stays bounded whatever a message quotes (a statement, a server's answer).
constexpr size_t kMaxLogMessage = 8192;
constexpr size_t kMaxLogField = 2048;

}  // namespace

void Init(Format format, Level level) {
  State& state = GetState();
  std::lock_guard lock(state.mutex);
  state.format = format;
  if (!state.logger) {
    state.logger = std::make_shared<spdlog::logger>(
        "tidemark", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    state.logger->set_pattern("%v");  // the line is formatted here, with its fields
  }
  state.logger->set_level(ToSpd(level));
  state.logger->flush_on(spdlog::level::debug);
}

bool ParseLevel(std::string_view name, Level* level) {
  if (name == "debug")
    *level = Level::kDebug;
  else if (name == "info")
    *level = Level::kInfo;
  else if (name == "warn" || name == "warning")
    *level = Level::kWarn;
  else if (name == "error")
    *level = Level::kError;
  else
    return false;
  return true;
}

void Write(Level level, std::string_view message, const Fields& fields) {
  State& state = GetState();
  if (!state.logger) Init(Format::kText, Level::kInfo);
  if (!state.logger->should_log(ToSpd(level))) return;
  std::string line;
  if (state.format == Format::kJson) {
    nlohmann::ordered_json entry;
    entry["time"] = FormatRfc3339Micro(SystemClock().WallNow());
    entry["level"] = LevelName(level);
    entry["msg"] = Printable(message, kMaxLogMessage);
    for (const auto& [key, value] : fields) entry[key] = Printable(value, kMaxLogField);
    line = DumpJson(entry);
  } else {
    line = FormatRfc3339Micro(SystemClock().WallNow()) + " " + LevelName(level) + " " +
           Printable(message, kMaxLogMessage);
    for (const auto& [key, raw] : fields) {
      const std::string value = Printable(raw, kMaxLogField);
      const bool quote = value.find(' ') != std::string::npos || value.empty();
      line += " " + key + "=" + (quote ? "\"" + value + "\"" : value);
    }
  }
  state.logger->log(ToSpd(level), "{}", line);
}

}  // namespace tidemark::log
