// Runs a program and collects its exit code and output: the tests use tidemark, psql,
// kubectl and Django the way a user does, from the outside.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tidemark::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal number when killed by a signal
  std::string out;
  std::string err;
};

struct ProcessOptions {
  std::map<std::string, std::string> env;  // added to (and overriding) the parent's
  std::string input;                       // written to standard input
  std::string cwd;                         // empty: the current folder
  int timeout_seconds = 300;               // then SIGKILL, exit_code 137
};

ProcessResult RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// A child running in the background, for tests that kill or race processes.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv,
                             const ProcessOptions& options = {});
  ~BackgroundProcess();  // kills the child if still running
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Kill(int signal);
  // True once the child has exited (reaps it without blocking).
  bool Poll();
  // Waits for the exit and returns the collected output.
  ProcessResult Wait();

 private:
  bool Reap(int waitpid_options);

  pid_t pid_ = -1;
  std::string out_path_;
  std::string err_path_;
  bool waited_ = false;
  ProcessResult result_;
};

// Polls `condition` until it holds or `limit` passes; false then. A guard against hanging
// on something another process or thread does, never a timing assertion.
bool Eventually(const std::function<bool()>& condition,
                std::chrono::seconds limit = std::chrono::seconds(90));

// A TCP port on 127.0.0.1 that was free a moment ago (for servers that need one named).
int FreeLoopbackPort();

// Path of a program built by this build tree, e.g. BuiltProgram("tidemark").
std::string BuiltProgram(const std::string& name);
// Path of a file in the source tree, e.g. SourcePath("examples/shop.yaml").
std::string SourcePath(const std::string& relative);
// Path of the real kubectl the tests drive ($KUBECTL; tests/CMakeLists.txt names it).
std::string KubectlProgram();

}  // namespace tidemark::testing
