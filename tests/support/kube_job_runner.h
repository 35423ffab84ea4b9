// The one part of the test API server that simulates rather than serves: no kubelet and no
// Job controller run here, so this runs batch/v1 Jobs on the test machine.
//
// For a created Job it does what the Job controller and a kubelet would: it creates a Pod
// (generateName `JOB-`, labels `job-name`/`controller-uid` and their `batch.kubernetes.io/`
// twins, a controlling ownerReference with blockOwnerDeletion), runs the pod template's
// first container `command` + `args` as a local process (the image is ignored) in its
// `workingDir`, with this process's environment plus the container's `env` (`value`, or
// `valueFrom.secretKeyRef` / `configMapKeyRef` read from the stored objects, after the keys of
// its `envFrom` `secretRef` / `configMapRef` objects, each with its `prefix`), and keeps its
// standard output and error as the pod's log (GET .../pods/NAME/log). The Pod goes Running,
// then Succeeded or Failed; the Job's status follows as the Job controller writes it:
// `startTime`, `active`, `succeeded`/`failed`, then a `Complete` condition and
// `completionTime`, or a `Failed` condition with reason `BackoffLimitExceeded` once more
// pods failed than `backoffLimit` (default 6; a failed pod is replaced at once, without the
// controller's back-off) or `DeadlineExceeded` after `activeDeadlineSeconds`.
// `ttlSecondsAfterFinished` deletes a finished Job (background propagation). A deleted Pod's
// process is killed (SIGKILL to its process group), as the kubelet would; pods go with their
// Job through the server's garbage collection (ownerReferences). A container whose env names
// a missing Secret or key stays Waiting (CreateContainerConfigError) and runs nothing.
//
// Thread-safety: ObserveLocked and Log are called with the server's mutex held; the
// runner's own threads take that mutex before its own, never the other way round.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/kube_api_server.h"

namespace tidemark::testing {

// What kube-apiserver fills in on a new Job (its uid already set): a selector on
// `batch.kubernetes.io/controller-uid` with the same labels on the pod template (kubectl
// logs job/NAME finds its pods by it), backoffLimit 6, completions and parallelism 1.
void DefaultNewJob(nlohmann::json& job);

class KubeJobRunner {
 public:
  // `server` must outlive the runner.
  explicit KubeJobRunner(KubeApiServer::Impl& server);
  ~KubeJobRunner();
  KubeJobRunner(const KubeJobRunner&) = delete;
  KubeJobRunner& operator=(const KubeJobRunner&) = delete;

  // Kills every process still running and joins the runner's threads; idempotent. Called
  // without the server's mutex.
  void Stop();

  // Every stored change (with the server's mutex held): a new Job starts, a deleted Pod's
  // process is killed.
  void ObserveLocked(const std::string& storage, const std::string& event_type,
                     const nlohmann::json& object);

  // The output of a pod run here so far, its last `tail_lines` lines when >= 0; nullopt
  // for a pod that never ran a process.
  std::optional<std::string> Log(const std::string& pod_key, long tail_lines) const;

 private:
  struct Work {
    enum class Kind { kStart, kExited, kKill } kind;
    std::string key;  // Job key (kStart), pod key (kExited, kKill)
    int wait_status = 0;
  };
  struct Process {
    std::string job_key;
    pid_t pid = -1;
    bool running = true;
    std::string output;
    std::thread reader;
  };
  struct Timers {
    std::optional<std::chrono::steady_clock::time_point> deadline;  // activeDeadlineSeconds
    std::optional<std::chrono::steady_clock::time_point> expiry;    // ttlSecondsAfterFinished
  };

  void Loop();
  void Push(Work work);
  // The steps of Loop, each with the server's mutex held.
  void StartPodLocked(const std::string& job_key);
  void ExitedLocked(const std::string& pod_key, int wait_status);
  void FireTimersLocked(std::chrono::steady_clock::time_point now);
  void FinishJobLocked(nlohmann::json job, bool succeeded, const std::string& reason,
                       const std::string& message);
  // Starts the process of a pod and its reader thread; false (with `why`) when it cannot.
  bool Spawn(const std::string& pod_key, const std::string& job_key,
             const std::vector<std::string>& argv, const std::vector<std::string>& env,
             const std::string& working_dir, std::string* why);

  KubeApiServer::Impl& server_;
  mutable std::mutex mu_;  // guards everything below; taken after the server's mutex
  std::condition_variable wake_;
  bool stopping_ = false;
  std::deque<Work> queue_;
  std::map<std::string, Process> processes_;  // by pod key, kept until Stop
  std::map<std::string, Timers> timers_;      // by Job key
  std::thread loop_;
};

}  // namespace tidemark::testing
