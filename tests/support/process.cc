#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace tidemark::testing {
namespace {

std::string ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string TempPath(const char* tag) {
  char pattern[64];
  std::snprintf(pattern, sizeof pattern, "/tmp/tidemark-%s-XXXXXX", tag);
  const int fd = mkstemp(pattern);
  if (fd >= 0) close(fd);
  return pattern;
}

// Forks and execs argv with stdout/stderr to files and stdin from `input`.
pid_t Spawn(const std::vector<std::string>& argv, const ProcessOptions& options,
            const std::string& out_path, const std::string& err_path) {
  const std::string in_path = TempPath("stdin");
  {
    std::ofstream in(in_path, std::ios::binary);
    in << options.input;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // own process group, so a kill reaches its children too
    const int in_fd = open(in_path.c_str(), O_RDONLY);
    const int out_fd = open(out_path.c_str(), O_WRONLY | O_TRUNC);
    const int err_fd = open(err_path.c_str(), O_WRONLY | O_TRUNC);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    // Nothing else is inherited: a server the child starts (PostgreSQL, dockerd) could
    // otherwise outlive the test holding the caller's descriptors, e.g. a build lock.
    close_range(3, ~0U, 0);
    unlink(in_path.c_str());
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) _exit(126);
    for (const auto& [key, value] : options.env) setenv(key.c_str(), value.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, const ProcessOptions& options) {
  BackgroundProcess process(argv, options);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(options.timeout_seconds);
  while (!process.Poll()) {
    if (std::chrono::steady_clock::now() > deadline) {
      process.Kill(SIGKILL);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return process.Wait();
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv,
                                     const ProcessOptions& options)
    : out_path_(TempPath("stdout")), err_path_(TempPath("stderr")) {
  pid_ = Spawn(argv, options, out_path_, err_path_);
}

BackgroundProcess::~BackgroundProcess() {
  if (!waited_) {
    Kill(SIGKILL);
    Wait();
  }
  unlink(out_path_.c_str());
  unlink(err_path_.c_str());
}

void BackgroundProcess::Kill(int signal) {
  if (pid_ > 0 && !waited_) kill(-pid_, signal);
}

bool BackgroundProcess::Reap(int options) {
  if (waited_) return true;
  int status = 0;
  if (waitpid(pid_, &status, options) != pid_) return false;
  result_.exit_code = DecodeWaitStatus(status);
  waited_ = true;
  result_.out = ReadWhole(out_path_);
  result_.err = ReadWhole(err_path_);
  return true;
}

bool BackgroundProcess::Poll() { return Reap(WNOHANG); }

ProcessResult BackgroundProcess::Wait() {
  Reap(0);
  return result_;
}

bool Eventually(const std::function<bool()>& condition, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

std::string BuiltProgram(const std::string& name) {
  const char* build = std::getenv("TIDEMARK_BINARY_DIR");
  return std::string(build ? build : TIDEMARK_BINARY_DIR_DEFAULT) + "/bin/" + name;
}

std::string SourcePath(const std::string& relative) {
  const char* source = std::getenv("TIDEMARK_SOURCE_DIR");
  return std::string(source ? source : TIDEMARK_SOURCE_DIR_DEFAULT) + "/" + relative;
}

std::string KubectlProgram() {
  const char* kubectl = std::getenv("KUBECTL");
  return kubectl ? kubectl : TIDEMARK_KUBECTL_DEFAULT;
}

}  // namespace tidemark::testing
