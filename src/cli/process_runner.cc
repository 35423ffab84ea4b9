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

// Replaces what is not valid UTF-8 by '?', byte by byte.
std::string ValidUtf8(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t length = c < 0x80           ? 1
                          : (c >> 5) == 0x6  ? 2
                          : (c >> 4) == 0xE  ? 3
                          : (c >> 3) == 0x1E ? 4
                                             : 0;
    bool valid = length > 0 && i + length <= text.size() && (length == 1 || c >= 0xC2);
    for (size_t k = 1; valid && k < length; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    }
    if (!valid) {
      out += '?';
      ++i;
      continue;
    }
    out.append(text, i, length);
    i += length;
  }
  return out;
}

std::string Replaced(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
    text.replace(at, secret.size(), "***");
  }
  return text;
}

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

std::string OutputTail(const std::string& output, const std::vector<std::string>& secrets,
                       size_t lines, size_t line_bytes) {
  std::string text = output;
  for (const std::string& secret : secrets) text = Replaced(std::move(text), secret);
  std::vector<std::string> kept;
  size_t end = text.size();
  while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r')) --end;
  while (end > 0 && kept.size() < lines) {
    const size_t start = text.rfind('\n', end - 1);
    const size_t from = start == std::string::npos ? 0 : start + 1;
    std::string line = text.substr(from, end - from);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > line_bytes) line = line.substr(0, line_bytes) + "...";
    kept.insert(kept.begin(), RedactDsn(ValidUtf8(line)));
    if (start == std::string::npos) break;
    end = start;
  }
  std::string tail;
  for (const std::string& line : kept) tail += (tail.empty() ? "" : "\n") + line;
  return tail;
}

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

engine::RunnerOutcome ProcessRunner::Run(const engine::RunnerTask& task, std::stop_token stop) {
  engine::RunnerOutcome outcome;
  const auto start = Clock::now();
  auto finish = [&](std::string failure, const std::string& output) {
    outcome.ok = failure.empty();
    outcome.failure = std::move(failure);
    outcome.output_tail = OutputTail(output, secrets_, kTailLines, kMaxLineBytes);
    outcome.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return outcome;
  };
  std::vector<std::string> words = command_;
  for (std::string& word : engine::RunnerArguments(task)) words.push_back(std::move(word));
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  // tidemark's environment, with runner.env replacing or adding variables.
  std::map<std::string, std::string> variables;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const size_t equals = text.find('=');
    if (equals != std::string::npos) variables[text.substr(0, equals)] = text.substr(equals + 1);
  }
  for (const auto& [name, value] : env_) variables[name] = value;
  std::vector<std::string> entries;
  for (const auto& [name, value] : variables) entries.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& entry : entries) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int pipe_ends[2];
  if (pipe2(pipe_ends, O_CLOEXEC) != 0)
    return finish("could not start: pipe: " + ErrnoText(errno), "");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDERR_FILENO);
  if (!working_dir_.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, working_dir_.c_str());
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
    return finish("could not start `" + command_.front() + "`" +
                      (working_dir_.empty() ? "" : " in " + working_dir_) + ": " +
                      ErrnoText(spawned) + "; check spec.runner.command and workingDir",
                  "");
  }
  Child child(pid, pipe_ends[0]);
  if (!child.Drain(start + timeout_, stop)) {
    const bool stopping = stop.stop_requested();
    child.Kill(kGrace);
    child.Wait();
    return finish(
        stopping ? "was stopped: tidemark is shutting down"
                 : "timed out after " + Written(timeout_) + " (spec.runner.timeout) and was killed",
        child.Output());
  }
  const int status = child.Wait();
  const bool succeeded = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return finish(succeeded ? "" : ExitText(status), child.Output());
}

}  // namespace tidemark::cli
