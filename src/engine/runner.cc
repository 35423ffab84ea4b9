#include "engine/runner.h"

namespace tidemark::engine {

std::vector<std::string> RunnerArguments(const RunnerTask& task) {
  switch (task.kind) {
    case RunnerTask::Kind::kApply:
      return {"apply", task.step.app, task.step.name};
    case RunnerTask::Kind::kRevert:
      return {"revert", task.step.app, task.step.name};
    case RunnerTask::Kind::kPostMigrate:
      return {"post-migrate"};
  }
  return {};
}

std::string DescribeTask(const RunnerTask& task) {
  switch (task.kind) {
    case RunnerTask::Kind::kApply:
      return "apply " + task.step.ToString();
    case RunnerTask::Kind::kRevert:
      return "revert " + task.step.ToString();
    case RunnerTask::Kind::kPostMigrate:
      return "post-migrate";
  }
  return "";
}

}  // namespace tidemark::engine
