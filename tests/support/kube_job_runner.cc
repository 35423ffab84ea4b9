#include "tests/support/kube_job_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>

#include "base/base64.h"
#include "tests/support/kube_api_server_impl.h"

extern char** environ;

namespace tidemark::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr char kJobs[] = "batch/jobs";
constexpr char kPods[] = "/pods";
constexpr char kSecrets[] = "/secrets";
constexpr char kConfigMaps[] = "/configmaps";

bool HasCondition(const json& job, const std::string& type) {
  const json status = job.value("status", json::object());  // none before the first write
  for (const json& condition : status.value("conditions", json::array())) {
    if (condition.value("type", "") == type && condition.value("status", "") == "True") return true;
  }
  return false;
}

bool Finished(const json& job) {
  return HasCondition(job, "Complete") || HasCondition(job, "Failed");
}

json Condition(const std::string& type, const std::string& reason, const std::string& message) {
  const std::string now = NowTimestamp();
  json condition = {
      {"type", type}, {"status", "True"}, {"lastProbeTime", now}, {"lastTransitionTime", now}};
  if (!reason.empty()) condition["reason"] = reason;
  if (!message.empty()) condition["message"] = message;
  return condition;
}

// Finds a stored object by storage and key.
using Finder = std::function<const json*(const std::string& storage, const std::string& key)>;

// The value of one `env` entry: `value`, or a key of a Secret or ConfigMap in `ns`; the
// kubelet's message when it cannot be read.
std::optional<std::string> EnvValue(const Finder& find, const std::string& ns, const json& entry,
                                    std::string* why) {
  if (!entry.contains("valueFrom")) return entry.value("value", "");
  const json& from = entry["valueFrom"];
  const bool secret = from.contains("secretKeyRef");
  const json ref = from.value(secret ? "secretKeyRef" : "configMapKeyRef", json::object());
  if (ref.empty()) {
    *why = "env " + entry.value("name", "") +
           ": only value, secretKeyRef and configMapKeyRef run here";
    return std::nullopt;
  }
  const std::string name = ref.value("name", "");
  const std::string key = ref.value("key", "");
  const json* object = find(secret ? kSecrets : kConfigMaps, ObjectKey(ns, name));
  const json data = object ? object->value("data", json::object()) : json::object();
  if (!object || !data.contains(key)) {
    if (ref.value("optional", false)) return std::string();
    *why = object ? "couldn't find key " + key + " in " + (secret ? "Secret " : "ConfigMap ") + ns +
                        "/" + name
                  : std::string(secret ? "secret" : "configmap") + " \"" + name + "\" not found";
    return std::nullopt;
  }
  if (!secret) return data[key].get<std::string>();
  auto decoded = Base64Decode(data[key].get<std::string>());
  if (!decoded.ok()) {
    *why = "secret " + name + " key " + key + " is not base64";
    return std::nullopt;
  }
  return *decoded;
}

// The variables of one `envFrom` entry: every key of a Secret or ConfigMap in `ns`, named
// `prefix` + key; the kubelet's message when it cannot be read.
std::optional<std::vector<std::string>> EnvFromValues(const Finder& find, const std::string& ns,
                                                      const json& source, std::string* why) {
  const bool secret = source.contains("secretRef");
  const json ref = source.value(secret ? "secretRef" : "configMapRef", json::object());
  if (ref.empty()) {
    *why = "envFrom: only secretRef and configMapRef run here";
    return std::nullopt;
  }
  const std::string name = ref.value("name", "");
  const json* object = find(secret ? kSecrets : kConfigMaps, ObjectKey(ns, name));
  std::vector<std::string> variables;
  if (!object) {
    if (ref.value("optional", false)) return variables;
    *why = std::string(secret ? "secret" : "configmap") + " \"" + name + "\" not found";
    return std::nullopt;
  }
  const json data = object->value("data", json::object());
  for (auto it = data.begin(); it != data.end(); ++it) {
    std::string value = it->is_string() ? it->get<std::string>() : "";
    if (secret) {
      auto decoded = Base64Decode(value);
      if (!decoded.ok()) {
        *why = "secret " + name + " key " + it.key() + " is not base64";
        return std::nullopt;
      }
      value = *decoded;
    }
    variables.push_back(source.value("prefix", "") + it.key() + "=" + value);
  }
  return variables;
}

}  // namespace

void DefaultNewJob(json& job) {
  const json& meta = job["metadata"];
  const std::string uid = meta.value("uid", "");
  const std::string name = meta.value("name", "");
  json& spec = job["spec"];
  if (!spec.is_object()) spec = json::object();
  if (!spec.contains("selector")) {
    spec["selector"] = {{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}};
  }
  json& labels = spec["template"]["metadata"]["labels"];
  if (!labels.is_object()) labels = json::object();
  labels["batch.kubernetes.io/controller-uid"] = uid;
  labels["batch.kubernetes.io/job-name"] = name;
  labels["controller-uid"] = uid;
  labels["job-name"] = name;
  for (const char* field : {"completions", "parallelism"}) {
    if (!spec.contains(field)) spec[field] = 1;
  }
  if (!spec.contains("backoffLimit")) spec["backoffLimit"] = 6;
  if (!spec.contains("completionMode")) spec["completionMode"] = "NonIndexed";
  if (!spec.contains("suspend")) spec["suspend"] = false;
}

KubeJobRunner::KubeJobRunner(KubeApiServer::Impl& server)
    : server_(server), loop_([this] { Loop(); }) {}

KubeJobRunner::~KubeJobRunner() { Stop(); }

void KubeJobRunner::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    wake_.notify_all();
  }
  if (loop_.joinable()) loop_.join();  // no process starts after this
  std::vector<std::thread> readers;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, process] : processes_) {
      if (process.running) kill(-process.pid, SIGKILL);
      if (process.reader.joinable()) readers.push_back(std::move(process.reader));
    }
  }
  for (std::thread& reader : readers) reader.join();
}

void KubeJobRunner::ObserveLocked(const std::string& storage, const std::string& event_type,
                                  const json& object) {
  if (storage == kJobs && event_type == "ADDED") {
    Push({Work::Kind::kStart, ObjectKey(object)});
  } else if (storage == kPods && event_type == "DELETED") {
    Push({Work::Kind::kKill, ObjectKey(object)});
  }
}

void KubeJobRunner::Push(Work work) {
  std::lock_guard lock(mu_);
  queue_.push_back(std::move(work));
  wake_.notify_all();
}

std::optional<std::string> KubeJobRunner::Log(const std::string& pod_key, long tail_lines) const {
  std::lock_guard lock(mu_);
  const auto it = processes_.find(pod_key);
  if (it == processes_.end()) return std::nullopt;
  const std::string& output = it->second.output;
  if (tail_lines < 0) return output;
  size_t start = output.size();
  if (start > 0 && output.back() == '\n') --start;  // the last line's own newline
  for (long line = 0; line < tail_lines; ++line) {
    const size_t newline = start == 0 ? std::string::npos : output.rfind('\n', start - 1);
    if (newline == std::string::npos) return output;  // fewer lines than asked for
    start = newline;
  }
  return tail_lines == 0 ? std::string() : output.substr(start + 1);
}

void KubeJobRunner::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    std::optional<SteadyClock::time_point> next;
    for (const auto& [key, timers] : timers_) {
      for (const auto& at : {timers.deadline, timers.expiry}) {
        if (at && (!next || *at < *next)) next = at;
      }
    }
    if (queue_.empty()) {
      if (next) {
        wake_.wait_until(lock, *next);
      } else {
        wake_.wait(lock);
      }
    }
    if (stopping_) break;
    std::deque<Work> work;
    work.swap(queue_);
    lock.unlock();
    {
      std::lock_guard server_lock(server_.mu);
      for (const Work& item : work) {
        switch (item.kind) {
          case Work::Kind::kStart:
            StartPodLocked(item.key);
            break;
          case Work::Kind::kExited:
            ExitedLocked(item.key, item.wait_status);
            break;
          case Work::Kind::kKill: {
            std::lock_guard own(mu_);
            const auto it = processes_.find(item.key);
            if (it != processes_.end() && it->second.running) kill(-it->second.pid, SIGKILL);
            break;
          }
        }
      }
      FireTimersLocked(SteadyClock::now());
    }
    lock.lock();
  }
}

void KubeJobRunner::StartPodLocked(const std::string& job_key) {
  const json* stored = server_.FindLocked(kJobs, job_key);
  if (!stored) return;
  json job = *stored;
  const json& meta = job["metadata"];
  if (meta.contains("deletionTimestamp") || Finished(job) || job["spec"].value("suspend", false)) {
    return;
  }
  const std::string ns = meta.value("namespace", "");
  const std::string name = meta.value("name", "");
  const std::string uid = meta.value("uid", "");
  const json template_spec = job["spec"]["template"].value("spec", json::object());
  const json labels = job["spec"]["template"]["metadata"].value("labels", json::object());
  json pod = {{"metadata",
               {{"generateName", name + "-"},
                {"labels", labels},
                {"ownerReferences", json::array({json{{"apiVersion", "batch/v1"},
                                                      {"kind", "Job"},
                                                      {"name", name},
                                                      {"uid", uid},
                                                      {"controller", true},
                                                      {"blockOwnerDeletion", true}}})}}},
              {"spec", template_spec}};
  const ResourceTypePtr pod_type = server_.FindTypeLocked("v1", "pods");
  const Reply created = server_.CreateLocked(*pod_type, ns, pod, WriteOptions{});
  if (created.code != 201) return;
  pod = created.body;
  const std::string pod_key = ObjectKey(pod);

  const json container = template_spec.value("containers", json::array()).empty()
                             ? json::object()
                             : template_spec["containers"][0];
  std::vector<std::string> argv;
  for (const char* field : {"command", "args"}) {
    for (const json& word : container.value(field, json::array())) {
      argv.push_back(word.is_string() ? word.get<std::string>() : word.dump());
    }
  }
  std::vector<std::string> env;
  std::string why = argv.empty() ? "no command: the image's entrypoint cannot run here" : "";
  const Finder find = [this](const std::string& storage, const std::string& key) {
    return server_.FindLocked(storage, key);
  };
  // envFrom first: `env` replaces what it sets (Spawn keeps the last of a name).
  for (const json& source : container.value("envFrom", json::array())) {
    if (!why.empty()) break;
    if (auto variables = EnvFromValues(find, ns, source, &why)) {
      env.insert(env.end(), variables->begin(), variables->end());
    }
  }
  for (const json& entry : container.value("env", json::array())) {
    if (!why.empty()) break;
    if (auto value = EnvValue(find, ns, entry, &why)) {
      env.push_back(entry.value("name", "") + "=" + *value);
    }
  }
  const std::string now = NowTimestamp();
  const std::string container_name = container.value("name", "");
  const bool running =
      why.empty() && Spawn(pod_key, job_key, argv, env, container.value("workingDir", ""), &why);
  pod["status"] = {{"phase", running ? "Running" : "Pending"}, {"startTime", now}};
  // json::array: a braced list of one object would be that object.
  pod["status"]["containerStatuses"] = json::array({json{
      {"name", container_name},
      {"image", container.value("image", "")},
      {"ready", running},
      {"restartCount", 0},
      {"state", running ? json{{"running", {{"startedAt", now}}}}
                        : json{{"waiting",
                                {{"reason", "CreateContainerConfigError"}, {"message", why}}}}}}});
  server_.PutLocked(kPods, pod);

  if (!job["status"].contains("startTime")) job["status"]["startTime"] = now;
  job["status"]["active"] = job["status"].value("active", 0) + 1;
  job["status"]["ready"] = running ? 1 : 0;
  server_.PutLocked(kJobs, job);
  if (job["spec"].contains("activeDeadlineSeconds")) {
    std::lock_guard lock(mu_);
    timers_[job_key].deadline =
        SteadyClock::now() +
        std::chrono::seconds(job["spec"]["activeDeadlineSeconds"].get<int64_t>());
  }
}

bool KubeJobRunner::Spawn(const std::string& pod_key, const std::string& job_key,
                          const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          const std::string& working_dir, std::string* why) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    *why = "cannot create a pipe";
    return false;
  }
  // Everything the child needs is built before fork: it only calls async-signal-safe code.
  std::vector<std::string> environment;
  for (char** entry = environ; *entry; ++entry) environment.emplace_back(*entry);
  for (const std::string& variable : env) {
    const std::string prefix = variable.substr(0, variable.find('=') + 1);
    std::erase_if(environment, [&](const std::string& old) { return old.rfind(prefix, 0) == 0; });
    environment.push_back(variable);
  }
  std::vector<char*> child_argv, child_env;
  for (const std::string& word : argv) child_argv.push_back(const_cast<char*>(word.c_str()));
  child_argv.push_back(nullptr);
  for (const std::string& variable : environment) {
    child_env.push_back(const_cast<char*>(variable.c_str()));
  }
  child_env.push_back(nullptr);
  // posix_spawn, not fork: the child runs no code of this multi-threaded process (a forked
  // child can block on a lock another thread held, keeping the server's sockets open), and
  // it keeps none of the server's descriptors.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (!working_dir.empty()) posix_spawn_file_actions_addchdir_np(&actions, working_dir.c_str());
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);  // a deleted pod's process goes with its children
  pid_t pid = 0;
  const int spawned =
      posix_spawnp(&pid, child_argv[0], &actions, &attributes, child_argv.data(), child_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(pipe_fds[1]);
  if (spawned != 0) {
    close(pipe_fds[0]);
    *why =
        std::string("cannot start the container's command (check its command and workingDir): ") +
        std::strerror(spawned);
    return false;
  }
  std::lock_guard lock(mu_);
  Process& process = processes_[pod_key];
  process.job_key = job_key;
  process.pid = pid;
  process.reader = std::thread([this, pod_key, pid, fd = pipe_fds[0]] {
    char buffer[4096];
    while (true) {
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::lock_guard own(mu_);
      processes_[pod_key].output.append(buffer, static_cast<size_t>(n));
    }
    close(fd);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::lock_guard own(mu_);
    processes_[pod_key].running = false;
    queue_.push_back({Work::Kind::kExited, pod_key, status});
    wake_.notify_all();
  });
  return true;
}

void KubeJobRunner::ExitedLocked(const std::string& pod_key, int wait_status) {
  std::string job_key;
  {
    std::lock_guard lock(mu_);
    job_key = processes_[pod_key].job_key;
  }
  const int exit_code =
      WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  const bool succeeded = exit_code == 0;
  if (const json* stored = server_.FindLocked(kPods, pod_key)) {
    json pod = *stored;
    pod["status"]["phase"] = succeeded ? "Succeeded" : "Failed";
    for (json& status : pod["status"]["containerStatuses"]) {
      const std::string started = status["state"].contains("running")
                                      ? status["state"]["running"].value("startedAt", "")
                                      : "";
      status["ready"] = false;
      status["state"] = {{"terminated",
                          {{"exitCode", exit_code},
                           {"reason", succeeded ? "Completed" : "Error"},
                           {"startedAt", started},
                           {"finishedAt", NowTimestamp()}}}};
    }
    server_.PutLocked(kPods, pod);
  }
  const json* stored_job = server_.FindLocked(kJobs, job_key);
  if (!stored_job || Finished(*stored_job)) return;
  json job = *stored_job;
  json& status = job["status"];
  status["active"] = std::max(0, status.value("active", 1) - 1);
  status["ready"] = 0;
  if (succeeded) {
    status["succeeded"] = status.value("succeeded", 0) + 1;
    FinishJobLocked(std::move(job), true, "", "");
    return;
  }
  status["failed"] = status.value("failed", 0) + 1;
  if (status["failed"].get<int64_t>() > job["spec"].value("backoffLimit", int64_t{6})) {
    FinishJobLocked(std::move(job), false, "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit");
    return;
  }
  server_.PutLocked(kJobs, job);
  StartPodLocked(job_key);
}

void KubeJobRunner::FinishJobLocked(json job, bool succeeded, const std::string& reason,
                                    const std::string& message) {
  json& status = job["status"];
  json& conditions = status["conditions"];
  if (!conditions.is_array()) conditions = json::array();
  if (succeeded) {
    conditions.push_back(Condition("SuccessCriteriaMet", "CompletionsReached",
                                   "Reached expected number of succeeded pods"));
    conditions.push_back(
        Condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"));
    status["completionTime"] = NowTimestamp();
  } else {
    conditions.push_back(Condition("FailureTarget", reason, message));
    conditions.push_back(Condition("Failed", reason, message));
  }
  {
    std::lock_guard lock(mu_);
    Timers& timers = timers_[ObjectKey(job)];
    timers.deadline.reset();
    if (job["spec"].contains("ttlSecondsAfterFinished")) {
      timers.expiry = SteadyClock::now() +
                      std::chrono::seconds(job["spec"]["ttlSecondsAfterFinished"].get<int64_t>());
    }
  }
  server_.PutLocked(kJobs, job);
}

void KubeJobRunner::FireTimersLocked(SteadyClock::time_point now) {
  std::vector<std::string> expired, overdue;
  {
    std::lock_guard lock(mu_);
    for (auto it = timers_.begin(); it != timers_.end();) {
      if (it->second.expiry && *it->second.expiry <= now) {
        expired.push_back(it->first);
        it = timers_.erase(it);
        continue;
      }
      if (it->second.deadline && *it->second.deadline <= now) {
        overdue.push_back(it->first);
        it->second.deadline.reset();
      }
      ++it;
    }
    // The active pods of an overdue Job are ended, as the Job controller deletes them.
    for (auto& [pod_key, process] : processes_) {
      if (process.running &&
          std::find(overdue.begin(), overdue.end(), process.job_key) != overdue.end()) {
        kill(-process.pid, SIGKILL);
      }
    }
  }
  for (const std::string& key : overdue) {
    const json* job = server_.FindLocked(kJobs, key);
    if (!job || Finished(*job)) continue;
    json failed = *job;
    failed["status"]["active"] = 0;
    FinishJobLocked(std::move(failed), false, "DeadlineExceeded",
                    "Job was active longer than specified deadline");
  }
  const ResourceTypePtr job_type = server_.FindTypeLocked("batch/v1", "jobs");
  for (const std::string& key : expired) {
    if (const json* job = server_.FindLocked(kJobs, key)) {
      server_.DeleteObjectLocked(*job_type, *job, false, "Background");
    }
  }
}

}  // namespace tidemark::testing
