#include "engine/runner.h"

#include "base/redact.h"
#include "base/text.h"

namespace tidemark::engine {

std::string OutputTail(const std::string& output, const std::vector<std::string>& secrets,
                       size_t lines, size_t line_bytes) {
  const std::string text = RedactValues(output, secrets);
  std::vector<std::string> kept;
  size_t end = text.size();
  while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r')) --end;
  while (end > 0 && kept.size() < lines) {
    const size_t start = text.rfind('\n', end - 1);
    const size_t from = start == std::string::npos ? 0 : start + 1;
    std::string line = text.substr(from, end - from);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    kept.insert(kept.begin(), RedactDsn(Printable(line, line_bytes)));
    if (start == std::string::npos) break;
    end = start;
  }
  std::string tail;
  for (const std::string& line : kept) tail += (tail.empty() ? "" : "\n") + line;
  return tail;
}

std::vector<std::string> RunnerArguments(const RunnerTask& task) {
  if (task.kind == RunnerTask::Kind::kPostMigrate) return {"post-migrate"};
  std::vector<std::string> words = {task.kind == RunnerTask::Kind::kApply ? "apply" : "revert",
                                    task.step.app, task.step.name};
  if (task.then_post_migrate) words.push_back("--post-migrate");
  return words;
}

std::string DescribeTask(const RunnerTask& task) {
  if (task.kind == RunnerTask::Kind::kPostMigrate) return "post-migrate";
  return std::string(task.kind == RunnerTask::Kind::kApply ? "apply " : "revert ") +
         task.step.ToString() + (task.then_post_migrate ? " then post-migrate" : "");
}

}  // namespace tidemark::engine
