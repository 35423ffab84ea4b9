#include "operator/job_runner.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "base/clock.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/text.h"

namespace tidemark::op {
namespace {

using engine::RunnerOutcome;
using engine::RunnerTask;
using nlohmann::json;

constexpr char kManagedBy[] = "app.kubernetes.io/managed-by";
constexpr char kPlanLabel[] = "tidemark.dev/plan";
constexpr char kStepLabel[] = "tidemark.dev/step";
constexpr char kDirectionLabel[] = "tidemark.dev/direction";
// The exact task, as annotations: label values are cut to 63 characters.
constexpr char kStepAnnotation[] = "tidemark.dev/step";
constexpr char kDirectionAnnotation[] = "tidemark.dev/direction";
constexpr char kRecordedAnnotation[] = "tidemark.dev/recorded";
constexpr size_t kMaxNote = 1024;

std::string Direction(RunnerTask::Kind kind) {
  switch (kind) {
    case RunnerTask::Kind::kApply:
      return "apply";
    case RunnerTask::Kind::kRevert:
      return "revert";
    case RunnerTask::Kind::kPostMigrate:
      return "post-migrate";
  }
  return "";
}

// Lower case letters, digits and '-' (anything else becomes '-'), at most `max` characters,
// starting and ending with a letter or digit.
std::string DnsPart(const std::string& text, size_t max) {
  std::string out;
  for (const char c : text) {
    const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += std::isalnum(static_cast<unsigned char>(lower)) ? lower : '-';
    if (out.size() == max) break;
  }
  const auto not_dash = [](char c) { return c != '-'; };
  out.erase(out.begin(), std::find_if(out.begin(), out.end(), not_dash));
  out.erase(std::find_if(out.rbegin(), out.rend(), not_dash).base(), out.end());
  return out;
}

// A label value: the text when it is one (at most 63 of [A-Za-z0-9._-], alphanumeric at both
// ends), else a cut of it with a hash of the whole.
std::string LabelValue(const std::string& text) {
  const bool valid =
      !text.empty() && text.size() <= 63 &&
      std::isalnum(static_cast<unsigned char>(text.front())) &&
      std::isalnum(static_cast<unsigned char>(text.back())) &&
      std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
      });
  if (valid) return text;
  const std::string head = DnsPart(text, 52);
  return (head.empty() ? "" : head + "-") + Sha256Hex(text).substr(0, 10);
}

// The Job's condition of `type` when it is True. A new Job has no status yet.
std::optional<json> FindCondition(const json& job, const std::string& type) {
  const json status = job.value("status", json::object());
  for (const json& condition : status.value("conditions", json::array())) {
    if (condition.value("type", "") == type && condition.value("status", "") == "True") {
      return condition;
    }
  }
  return std::nullopt;
}

bool HasCondition(const json& job, const std::string& type) {
  return FindCondition(job, type).has_value();
}

bool Finished(const json& job) {
  return HasCondition(job, "Complete") || HasCondition(job, "Failed");
}

std::string Annotation(const json& job, const std::string& key) {
  return job["metadata"].value("annotations", json::object()).value(key, "");
}

std::optional<RunnerTask> TaskOf(const json& job) {
  const std::string direction = Annotation(job, kDirectionAnnotation);
  RunnerTask task;
  if (direction == "post-migrate") {
    task.kind = RunnerTask::Kind::kPostMigrate;
    return task;
  }
  if (direction != "apply" && direction != "revert") return std::nullopt;
  task.kind = direction == "apply" ? RunnerTask::Kind::kApply : RunnerTask::Kind::kRevert;
  const std::string step = Annotation(job, kStepAnnotation);
  const size_t dot = step.find('.');
  if (dot == std::string::npos) return std::nullopt;
  task.step = {step.substr(0, dot), step.substr(dot + 1)};
  return task;
}

// "Job shop-apply-0123456789 (apply shop.0003_backfill)".
std::string Describe(const json& job) {
  const std::string step = Annotation(job, kStepAnnotation);
  return "Job " + job["metadata"].value("name", "") + " (" + Annotation(job, kDirectionAnnotation) +
         (step.empty() ? "" : " " + step) + ")";
}

// The engine's lasting id of the Job's run (RunnerOutcome::run_id): its uid, which a Job
// made again under the same name does not share, with its name for people who read it.
std::string RunId(const json& job) {
  const json& meta = job["metadata"];
  return "Job " + meta.value("namespace", "") + "/" + meta.value("name", "") + " (uid " +
         meta.value("uid", "") + ")";
}

double DurationMs(const json& job) {
  const json status = job.value("status", json::object());
  auto started = ParseRfc3339(status.value("startTime", ""));
  auto ended = ParseRfc3339(status.value("completionTime", ""));
  if (!started.ok() || !ended.ok()) return 0;
  return std::chrono::duration<double, std::milli>(*ended - *started).count();
}

}  // namespace

std::vector<std::string> JobControl::PlansOwning(const std::string& job_key) const {
  const runtime::ObjectPtr job = jobs_.Get(job_key);
  if (!job) return {};
  const json metadata = job->value("metadata", json::object());
  for (const json& owner : metadata.value("ownerReferences", json::array())) {
    if (owner.value("kind", "") == "MigrationPlan" && owner.value("controller", false)) {
      return {kube::ObjectKey(metadata.value("namespace", ""), owner.value("name", ""))};
    }
  }
  return {};
}

bool JobControl::WasRecorded(const std::string& uid) const {
  std::lock_guard lock(mu_);
  return recorded_.count(uid) > 0;
}

void JobControl::NoteRecorded(const std::string& uid) {
  std::lock_guard lock(mu_);
  recorded_.insert(uid);
}

std::string JobName(const plan::MigrationPlan& plan, const RunnerTask& task) {
  const std::string hash =
      Sha256Hex(plan.meta.ns + "/" + plan.meta.name + "/" + engine::DescribeTask(task) + "/" +
                std::to_string(plan.meta.generation))
          .substr(0, 10);
  const std::string head = DnsPart(plan.meta.name + "-" + Direction(task.kind), 63 - 11);
  return (head.empty() ? "tidemark" : head) + "-" + hash;
}

json MakeJob(const plan::MigrationPlan& plan, const RunnerTask& task) {
  json job = {{"apiVersion", "batch/v1"}, {"kind", "Job"}};
  json spec_template = json::parse(plan.runner->job_template_json);
  json metadata = spec_template.value("metadata", json::object());
  const std::string step = task.kind == RunnerTask::Kind::kPostMigrate ? "" : task.step.ToString();
  const json labels = {{kManagedBy, "tidemark"},
                       {kPlanLabel, LabelValue(plan.meta.name)},
                       {kStepLabel, step.empty() ? "post-migrate" : LabelValue(step)},
                       {kDirectionLabel, Direction(task.kind)}};
  metadata["name"] = JobName(plan, task);
  metadata["namespace"] = plan.meta.ns;
  metadata["labels"].update(labels);
  metadata["annotations"].update(
      {{kStepAnnotation, step}, {kDirectionAnnotation, Direction(task.kind)}});
  metadata["ownerReferences"] = json::array({json{{"apiVersion", "tidemark.dev/v1alpha1"},
                                                  {"kind", "MigrationPlan"},
                                                  {"name", plan.meta.name},
                                                  {"uid", plan.meta.uid},
                                                  {"controller", true},
                                                  {"blockOwnerDeletion", true}}});
  job["metadata"] = metadata;
  json spec = spec_template["spec"];
  spec["backoffLimit"] = 0;  // a step runs once: Django's executor is not to be retried blindly
  if (!spec.contains("ttlSecondsAfterFinished"))
    spec["ttlSecondsAfterFinished"] = JobRunner::kTtlSeconds;
  if (!spec.contains("activeDeadlineSeconds")) {
    spec["activeDeadlineSeconds"] = std::max<int64_t>(
        1, std::chrono::duration_cast<std::chrono::seconds>(plan.runner->timeout).count());
  }
  spec["template"]["metadata"]["labels"].update(labels);
  json& container = spec["template"]["spec"]["containers"][0];
  for (const std::string& word : engine::RunnerArguments(task)) container["args"].push_back(word);
  job["spec"] = spec;
  return job;
}

std::vector<std::string> SecretValuesOf(const json& job, resource::ObjectSource& objects) {
  const std::string ns = job["metadata"].value("namespace", "");
  const json pod = job.value("/spec/template/spec"_json_pointer, json::object());
  std::vector<std::string> secrets;
  const auto add = [&secrets](const std::string& value) {
    if (!value.empty()) secrets.push_back(value);
  };
  for (const char* list : {"initContainers", "containers"}) {
    for (const json& container : pod.value(list, json::array())) {
      for (const json& entry : container.value("env", json::array())) {
        const json ref =
            entry.value("valueFrom", json::object()).value("secretKeyRef", json::object());
        if (ref.empty()) continue;
        auto value = objects.SecretValue(ns, ref.value("name", ""), ref.value("key", ""));
        if (value.ok()) add(*value);
      }
      for (const json& source : container.value("envFrom", json::array())) {
        const json ref = source.value("secretRef", json::object());
        if (ref.empty()) continue;
        auto data = objects.SecretData(ns, ref.value("name", ""));
        if (!data.ok()) continue;
        for (const auto& [key, value] : *data) add(value);
      }
    }
  }
  return secrets;
}

std::vector<json> JobRunner::Jobs() const {
  std::vector<json> jobs;
  const std::string prefix = plan_.meta.ns + "/";
  for (const std::string& key : control_.jobs().Keys()) {
    if (key.rfind(prefix, 0) != 0) continue;
    const runtime::ObjectPtr job = control_.jobs().Get(key);
    if (!job) continue;
    for (const json& owner : (*job)["metadata"].value("ownerReferences", json::array())) {
      if (owner.value("uid", "") == plan_.meta.uid) jobs.push_back(*job);
    }
  }
  std::sort(jobs.begin(), jobs.end(), [](const json& a, const json& b) {
    return a["metadata"].value("creationTimestamp", "") <
           b["metadata"].value("creationTimestamp", "");
  });
  return jobs;
}

RunnerOutcome JobRunner::Run(const RunnerTask& task, std::stop_token stop) {
  (void)stop;  // nothing to wait for: the Job runs on
  const std::string name = JobName(plan_, task);
  if (const runtime::ObjectPtr cached = control_.jobs().Get(kube::ObjectKey(plan_.meta.ns, name))) {
    return OutcomeOf(*cached);
  }
  RunnerOutcome outcome;
  outcome.running = "Job " + name + " runs " + engine::DescribeTask(task);
  auto created =
      control_.client().Create(kube::resources::kJobs, plan_.meta.ns, MakeJob(plan_, task));
  if (created.ok()) {
    outcome.run_id = RunId(*created);
    log::Info("runner Job created",
              {{"plan", plan_.Key()}, {"job", name}, {"task", engine::DescribeTask(task)}});
    sink_.RecordEvent(plan_object_, runtime::EventType::kNormal, "JobCreated", "RunStep",
                      "created Job " + name + " to " + engine::DescribeTask(task));
  } else if (created.status().code() != StatusCode::kAlreadyExists) {
    // Made before, and not in the cache yet: it is adopted once its event arrives.
    outcome.running.clear();
    outcome.failure = "could not be started: " + created.status().message();
  }
  return outcome;
}

RunnerOutcome JobRunner::OutcomeOf(const json& job) {
  RunnerOutcome outcome;
  outcome.run_id = RunId(job);
  outcome.recorded = Annotation(job, kRecordedAnnotation) == "true" ||
                     control_.WasRecorded(job["metadata"].value("uid", ""));
  if (const std::optional<json> failed = FindCondition(job, "Failed")) {
    outcome.failure = "ran as " + Describe(job) + ", which failed (" + failed->value("reason", "") +
                      ": " + failed->value("message", "") + ")";
    outcome.output_tail = FailedPodLog(job);
  } else if (HasCondition(job, "Complete")) {
    outcome.ok = true;
    outcome.duration_ms = DurationMs(job);
  } else {
    outcome.running = Describe(job) + " is running";
  }
  return outcome;
}

std::string JobRunner::FailedPodLog(const json& job) {
  const std::string ns = plan_.meta.ns;
  const std::string name = job["metadata"].value("name", "");
  kube::ListOptions options;
  options.label_selector = "job-name=" + name;
  auto pods = control_.client().List(kube::resources::kPods, ns, options);
  if (!pods.ok()) return "(the log of its pod cannot be read: " + pods.status().message() + ")";
  std::string pod_name;
  for (const json& pod : pods->items) {
    if (pod["status"].value("phase", "") == "Failed") pod_name = pod["metadata"].value("name", "");
  }
  if (pod_name.empty()) return "";
  auto log = control_.client().PodLog(ns, pod_name, static_cast<int>(kTailLines));
  if (!log.ok())
    return "(the log of pod " + pod_name + " cannot be read: " + log.status().message() + ")";
  return engine::OutputTail(*log, SecretValuesOf(job, objects_), kTailLines, kMaxLineBytes);
}

std::optional<engine::RunningTask> JobRunner::Running() {
  for (const json& job : Jobs()) {
    if (!Finished(job))
      return engine::RunningTask{Describe(job) + " is running", TaskOf(job), RunId(job)};
  }
  return std::nullopt;
}

engine::RunState JobRunner::Find(const std::string& run_id) {
  for (const json& job : Jobs()) {
    if (RunId(job) == run_id) return engine::RunState::kHeld;
  }
  // Not in the cache, which may lag behind the server: the server says.
  const std::string prefix = "Job " + plan_.meta.ns + "/";
  const size_t end = run_id.find(" (uid ");
  if (run_id.rfind(prefix, 0) != 0 || end == std::string::npos) return engine::RunState::kUnknown;
  auto job = control_.client().Get(kube::resources::kJobs, plan_.meta.ns,
                                   run_id.substr(prefix.size(), end - prefix.size()));
  if (job.ok()) return RunId(*job) == run_id ? engine::RunState::kHeld : engine::RunState::kGone;
  return job.status().code() == StatusCode::kNotFound ? engine::RunState::kGone
                                                      : engine::RunState::kUnknown;
}

std::vector<engine::FinishedTask> JobRunner::Unrecorded() {
  std::vector<engine::FinishedTask> finished;
  for (const json& job : Jobs()) {
    if (!Finished(job)) continue;
    const std::optional<RunnerTask> task = TaskOf(job);
    if (!task) continue;  // not one of ours to record
    RunnerOutcome outcome = OutcomeOf(job);
    if (outcome.recorded) continue;
    finished.push_back({*task, std::move(outcome), job["metadata"].value("name", "")});
  }
  return finished;
}

void JobRunner::MarkRecorded(const engine::FinishedTask& finished) {
  const runtime::ObjectPtr job = control_.jobs().Get(kube::ObjectKey(plan_.meta.ns, finished.id));
  if (!job) return;
  control_.NoteRecorded((*job)["metadata"].value("uid", ""));
  auto patched = control_.client().Patch(
      kube::resources::kJobs, plan_.meta.ns, finished.id, kube::PatchType::kMerge,
      {{"metadata", {{"annotations", {{kRecordedAnnotation, "true"}}}}}});
  if (!patched.ok()) {
    log::Warn("runner Job not annotated as recorded",
              {{"job", finished.id}, {"error", patched.status().message()}});
  }
  const bool ok = finished.outcome.ok;
  sink_.RecordEvent(
      plan_object_, ok ? runtime::EventType::kNormal : runtime::EventType::kWarning,
      ok ? "JobSucceeded" : "JobFailed", "RunStep",
      Truncate(Describe(*job) + (ok ? " succeeded" : " failed: " + finished.outcome.failure),
               kMaxNote));
}

}  // namespace tidemark::op
