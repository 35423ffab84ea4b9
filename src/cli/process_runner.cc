#include "cli/process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "base/redact.h"
#include "resource/decode.h"

extern char** environ;

namespace tidemark::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Output kept while the runner runs: enough for the tail, bounded however much it writes.
constexpr size_t kKeptOutput = 64 * 1024;

std::string ErrnoText(int error) { return std::strerror(error); }

// "1h", "90s": the timeout as it is written in a plan.
std::string Written(std::chrono::milliseconds duration) {
  return resource::FormatDuration(duration);
}

// Waits for the child's output or its end; false when the deadline or a stop came first.
class Child {
 public:
  Child(pid_t pid, int output) : pid_(pid), output_(output) {}
  ~Child() {
    if (output_ >= 0) close(output_);
  }

  // Reads until end of output (the child and whatever it started closed it) or `until`.
  // Returns false on the deadline or a stop request.
  bool Drain(Clock::time_point until, const std::stop_token& stop) {
    char buffer[8192];
    while (output_ >= 0) {
      if (stop.stop_requested() || Clock::now() >= until) return false;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      pollfd ready{output_, POLLIN, 0};
      // Woken at least every 100 ms to see a stop request.
      const int polled = poll(&ready, 1, static_cast<int>(std::min<int64_t>(left.count(), 100)));
      if (polled < 0 && errno != EINTR) break;
      if (polled <= 0) continue;
      const ssize_t got = read(output_, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        close(output_);
        output_ = -1;
        break;
      }
      kept_.append(buffer, static_cast<size_t>(got));
      if (kept_.size() > 2 * kKeptOutput) kept_.erase(0, kept_.size() - kKeptOutput);
    }
    return true;
  }

  // Ends the process group: SIGTERM, then SIGKILL after `grace`.
  void Kill(std::chrono::seconds grace) {
    kill(-pid_, SIGTERM);
    const auto until = Clock::now() + grace;
    while (Clock::now() < until) {
      if (waitpid(pid_, &status_, WNOHANG) == pid_) {
        reaped_ = true;
        break;
      }
      usleep(20'000);
    }
    kill(-pid_, SIGKILL);  // whatever it started goes too
  }

  int Wait() {
    if (!reaped_) {
      while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
    }
    return status_;
  }

  const std::string& Output() const { return kept_; }

 private:
  pid_t pid_;
  int output_;
  int status_ = 0;
  bool reaped_ = false;
  std::string kept_;
};

std::string ExitText(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "ended with status " + std::to_string(status);
}

}  // namespace

Result<std::unique_ptr<ProcessRunner>> ProcessRunner::Make(const plan::MigrationPlan& plan,
                                                           resource::ObjectSource& objects) {
  if (!plan.runner || plan.runner->command.empty()) {
    return Status::InvalidArgument("plan " + plan.Key() + " has no spec.runner.command");
  }
  std::unique_ptr<ProcessRunner> runner(new ProcessRunner());
  runner->command_ = plan.runner->command;
  runner->working_dir_ = plan.runner->working_dir;
  runner->timeout_ = plan.runner->timeout;
  for (size_t i = 0; i < plan.runner->env.size(); ++i) {
    const plan::EnvVar& var = plan.runner->env[i];
    const std::string field = "spec.runner.env[" + std::to_string(i) + "] (" + var.name + ")";
    TM_ASSIGN_OR_RETURN(std::string value,
                        resource::ResolveValue(var.value, field, plan.meta.ns, objects,
                                               /*allow_local_sources=*/true));
    if (var.value.from && !value.empty()) runner->secrets_.push_back(value);
    runner->env_.emplace_back(var.name, std::move(value));
  }
  return runner;
}

ChildResult RunChild(const ChildSpec& spec, std::stop_token stop) {
  ChildResult result;
  const auto start = Clock::now();
  std::vector<std::string> words = spec.argv;
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  // tidemark's environment, with spec.env replacing or adding variables.
  std::map<std::string, std::string> variables;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const size_t equals = text.find('=');
    if (equals != std::string::npos) variables[text.substr(0, equals)] = text.substr(equals + 1);
  }
  for (const auto& [name, value] : spec.env) variables[name] = value;
  std::vector<std::string> entries;
  for (const auto& [name, value] : variables) entries.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& entry : entries) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int pipe_ends[2];
  if (pipe2(pipe_ends, O_CLOEXEC) != 0) {
    result.end = ChildResult::End::kNotStarted;
    result.failure = "pipe: " + ErrnoText(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDERR_FILENO);
  if (!spec.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, spec.working_dir.c_str());
  }
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);  // a group of its own, killed as one
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, argv[0], &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(pipe_ends[1]);
  if (spawned != 0) {
    close(pipe_ends[0]);
    result.end = ChildResult::End::kNotStarted;
    result.failure = ErrnoText(spawned);
    return result;
  }
  Child child(pid, pipe_ends[0]);
  const auto deadline = spec.timeout.count() > 0 ? start + spec.timeout : Clock::time_point::max();
  if (!child.Drain(deadline, stop)) {
    result.end = stop.stop_requested() ? ChildResult::End::kStopped : ChildResult::End::kTimedOut;
    child.Kill(ProcessRunner::kGrace);
    child.Wait();
    result.output = child.Output();
    return result;
  }
  const int status = child.Wait();
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  const bool succeeded = result.exit_code == 0;
  result.end = succeeded ? ChildResult::End::kSucceeded : ChildResult::End::kFailed;
  if (!succeeded) result.failure = ExitText(status);
  result.output = child.Output();
  return result;
}

engine::RunnerOutcome ProcessRunner::Run(const engine::RunnerTask& task, std::stop_token stop) {
  engine::RunnerOutcome outcome;
  const auto start = Clock::now();
  ChildSpec spec{command_, env_, working_dir_, timeout_};
  for (std::string& word : engine::RunnerArguments(task)) spec.argv.push_back(std::move(word));
  const ChildResult child = RunChild(spec, std::move(stop));
  switch (child.end) {
    case ChildResult::End::kNotStarted:
      outcome.failure = "could not start `" + command_.front() + "`" +
                        (working_dir_.empty() ? "" : " in " + working_dir_) + ": " + child.failure +
                        "; check spec.runner.command and workingDir";
      break;
    case ChildResult::End::kStopped:
      outcome.failure = "was stopped: tidemark is shutting down";
      break;
    case ChildResult::End::kTimedOut:
      outcome.failure =
          "timed out after " + Written(timeout_) + " (spec.runner.timeout) and was killed";
      break;
    case ChildResult::End::kFailed:
      outcome.failure = child.failure;
      break;
    case ChildResult::End::kSucceeded:
      break;
  }
  outcome.ok = child.end == ChildResult::End::kSucceeded;
  outcome.exit_code = child.exit_code;
  outcome.output_tail = engine::OutputTail(child.output, secrets_, kTailLines, kMaxLineBytes);
  outcome.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return outcome;
}

}  // namespace tidemark::cli
