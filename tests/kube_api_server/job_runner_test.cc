// The test API server's job runner (kube_job_runner.h), seen through the real kubectl: a Job
// runs its container's command here, with its env from Secrets and its working dir, and its
// status, pods, logs and deletion behave as on a cluster.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/support/kubectl_cluster.h"
#include "tests/support/process.h"

namespace tidemark::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tidemark-jobs-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "work");
    auto started = KubectlCluster::Start(dir_.string());
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    cluster_ = std::move(*started);
  }
  void TearDown() override {
    cluster_.reset();
    fs::remove_all(dir_);
  }

  ProcessResult Kubectl(const std::vector<std::string>& args, const std::string& input = "") {
    return cluster_->Kubectl(args, input);
  }

  // Applies a Job running `script` with sh in dir_/work, TOKEN from the Secret app.
  void ApplyJob(const std::string& name, const std::string& script, const json& extra_spec = {}) {
    json job = json::parse(R"({"apiVersion": "batch/v1", "kind": "Job",
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
          "containers": [{"name": "app", "image": "shop:1.4", "command": ["sh", "-c"],
            "env": [{"name": "TOKEN",
                     "valueFrom": {"secretKeyRef": {"name": "app", "key": "token"}}}]}]}}}})");
    job["metadata"]["name"] = name;
    json& app = job["spec"]["template"]["spec"]["containers"][0];
    app["args"] = json::array({script});
    app["workingDir"] = (dir_ / "work").string();
    if (!extra_spec.is_null()) job["spec"].update(extra_spec);
    const auto applied = Kubectl({"apply", "-f", "-"}, job.dump());
    ASSERT_EQ(applied.exit_code, 0) << applied.err;
  }

  json Get(const std::vector<std::string>& what) {
    std::vector<std::string> args = {"get"};
    args.insert(args.end(), what.begin(), what.end());
    args.insert(args.end(), {"-o", "json"});
    const auto got = Kubectl(args);
    EXPECT_EQ(got.exit_code, 0) << got.err;
    return json::parse(got.out, nullptr, false);
  }

  fs::path dir_;
  std::unique_ptr<KubectlCluster> cluster_;
};

TEST_F(JobRunnerTest, AJobRunsItsCommandWithItsSecretAndKubectlShowsItsLog) {
  ASSERT_EQ(
      Kubectl({"create", "secret", "generic", "app", "--from-literal=token=s3cret"}).exit_code, 0);
  ApplyJob("hello",
           "echo started in $(pwd); echo token length ${#TOKEN}; test \"$TOKEN\" = s3cret");
  const auto waited = Kubectl({"wait", "--for=condition=complete", "job/hello", "--timeout=60s"});
  ASSERT_EQ(waited.exit_code, 0) << waited.err;

  const auto listed = Kubectl({"get", "jobs"});
  EXPECT_NE(listed.out.find("hello"), std::string::npos) << listed.out;
  const auto logs = Kubectl({"logs", "job/hello"});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_EQ(logs.out, "started in " + (dir_ / "work").string() + "\ntoken length 6\n");

  const json job = Get({"job", "hello"});
  EXPECT_EQ(job["status"].value("succeeded", 0), 1);
  EXPECT_EQ(job["status"].value("active", -1), 0);
  EXPECT_TRUE(job["status"].contains("startTime"));
  EXPECT_TRUE(job["status"].contains("completionTime"));
  const json pods = Get({"pods", "-l", "job-name=hello"});
  ASSERT_EQ(pods["items"].size(), 1u);
  const json& pod = pods["items"][0];
  EXPECT_EQ(pod["status"]["phase"], "Succeeded");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["uid"], job["metadata"]["uid"]);
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(pod["metadata"]["labels"]["controller-uid"], job["metadata"]["uid"]);
}

TEST_F(JobRunnerTest, AFailedPodFailsTheJobPastItsBackoffLimitAndKeepsItsLog) {
  ASSERT_EQ(Kubectl({"create", "secret", "generic", "app", "--from-literal=token=x"}).exit_code, 0);
  ApplyJob("broken", "echo one; echo two; echo three >&2; exit 3");
  const auto waited = Kubectl({"wait", "--for=condition=failed", "job/broken", "--timeout=60s"});
  ASSERT_EQ(waited.exit_code, 0) << waited.err;
  const json job = Get({"job", "broken"});
  EXPECT_EQ(job["status"].value("failed", 0), 1);
  EXPECT_FALSE(job["status"].contains("completionTime"));
  bool failed = false;
  for (const json& condition : job["status"]["conditions"]) {
    if (condition["type"] == "Failed") {
      failed = true;
      EXPECT_EQ(condition["reason"], "BackoffLimitExceeded");
    }
  }
  EXPECT_TRUE(failed) << job.dump();
  const json pods = Get({"pods", "-l", "job-name=broken"});
  ASSERT_EQ(pods["items"].size(), 1u);
  const json& pod = pods["items"][0];
  EXPECT_EQ(pod["status"]["phase"], "Failed");
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], 3);
  const auto tail = Kubectl({"logs", "job/broken", "--tail=2"});
  EXPECT_EQ(tail.out, "two\nthree\n");
}

TEST_F(JobRunnerTest, AMissingSecretKeepsTheContainerWaiting) {
  ApplyJob("waiting", "echo never");
  ASSERT_TRUE(Eventually([&] {
    const json pods = Get({"pods", "-l", "job-name=waiting"});
    return !pods["items"].empty() && pods["items"][0]["status"]["phase"] == "Pending";
  }));
  const json pod = Get({"pods", "-l", "job-name=waiting"})["items"][0];
  const json waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"];
  EXPECT_EQ(waiting["reason"], "CreateContainerConfigError");
  EXPECT_EQ(waiting["message"], "secret \"app\" not found");
  EXPECT_EQ(Get({"job", "waiting"})["status"].value("active", 0), 1);
}

TEST_F(JobRunnerTest, DeletingAJobDeletesItsPodsAndKillsTheProcessUnlessOrphaned) {
  ASSERT_EQ(Kubectl({"create", "secret", "generic", "app", "--from-literal=token=x"}).exit_code, 0);
  ApplyJob("sleeper", "echo $$ > pid; exec sleep 300");
  ApplyJob("orphaning", "exec sleep 300");
  const fs::path pid_file = dir_ / "work" / "pid";
  ASSERT_TRUE(Eventually([&] { return fs::exists(pid_file) && fs::file_size(pid_file) > 0; }));
  const pid_t pid = std::stoi([&] {
    std::ifstream in(pid_file);
    std::string text;
    in >> text;
    return text;
  }());
  ASSERT_EQ(kill(pid, 0), 0);

  const auto deleted = Kubectl({"delete", "job", "sleeper"});  // propagation Background
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_TRUE(Get({"pods", "-l", "job-name=sleeper"})["items"].empty());
  EXPECT_TRUE(Eventually([&] { return kill(pid, 0) != 0; })) << "the process still runs";

  const auto orphaned = Kubectl({"delete", "job", "orphaning", "--cascade=orphan"});
  ASSERT_EQ(orphaned.exit_code, 0) << orphaned.err;
  const json pods = Get({"pods", "-l", "job-name=orphaning"});
  ASSERT_EQ(pods["items"].size(), 1u);
  EXPECT_FALSE(pods["items"][0]["metadata"].contains("ownerReferences"));
  EXPECT_EQ(pods["items"][0]["status"]["phase"], "Running");
}

TEST_F(JobRunnerTest, AJobPastItsActiveDeadlineFailsAndATtlDeletesItOnceFinished) {
  ASSERT_EQ(Kubectl({"create", "secret", "generic", "app", "--from-literal=token=x"}).exit_code, 0);
  ApplyJob("slow", "exec sleep 300", {{"activeDeadlineSeconds", 1}});
  ApplyJob("brief", "true", {{"ttlSecondsAfterFinished", 1}});
  const auto waited = Kubectl({"wait", "--for=condition=failed", "job/slow", "--timeout=60s"});
  ASSERT_EQ(waited.exit_code, 0) << waited.err;
  const json job = Get({"job", "slow"});
  for (const json& condition : job["status"]["conditions"]) {
    if (condition["type"] == "Failed") {
      EXPECT_EQ(condition["reason"], "DeadlineExceeded");
    }
  }
  const auto gone = Kubectl({"wait", "--for=delete", "job/brief", "--timeout=60s"});
  EXPECT_EQ(gone.exit_code, 0) << gone.err;
}

}  // namespace
}  // namespace tidemark::testing
