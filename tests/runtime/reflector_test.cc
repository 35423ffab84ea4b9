// Watcher + Store + WorkQueue wired as the operator wires them, against the test API
// server, through stream drops and compaction (410).
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "runtime/store.h"
#include "runtime/watcher.h"
#include "runtime/work_queue.h"
#include "server_fixture.h"

namespace tidemark::runtime {
namespace {

using nlohmann::json;

class ReflectorTest : public ApiServerTest {
 protected:
  ReflectorTest() {
    // No bookmark may move the watcher's version behind the test's back.
    server_options_.bookmark_interval = std::chrono::hours(1);
  }

  void SetUp() override {
    ApiServerTest::SetUp();
    CreateNamespace("prod");
    CreateNamespace("other");
  }

  void Put(const std::string& name, const std::string& value, const std::string& ns = "prod") {
    json object{{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"data", {{"v", value}}}};
    auto existing = client_->Get(kube::resources::kConfigMaps, ns, name);
    if (existing.ok()) {
      object["metadata"]["resourceVersion"] = kube::ResourceVersionOf(*existing);
      ASSERT_TRUE(client_->Replace(kube::resources::kConfigMaps, object).ok());
    } else {
      ASSERT_TRUE(client_->Create(kube::resources::kConfigMaps, ns, object).ok());
    }
  }
  std::string ValueOf(const std::string& key) {
    const ObjectPtr object = store_.Get(key);
    return object ? (*object)["data"].value("v", "") : "";
  }
  void StartWatcher() {
    WatcherOptions options;
    options.ns = "prod";
    options.page_size = 2;  // several pages for the first listing
    options.tuning.backoff.initial = Millis(10);
    options.on_restart = [this] { ++restarts_; };
    watcher_ = std::make_unique<Watcher>(*client_, kube::resources::kConfigMaps, options);
    thread_ = std::thread([this] {
      watcher_->Run(
          [this](const WatcherEvent& event) {
            for (const std::string& key : store_.Apply(event)) queue_.Add(key);
          },
          stop_.get_token());
    });
  }
  void TearDown() override {
    stop_.request_stop();
    if (thread_.joinable()) thread_.join();
  }
  // Takes every queued key (without processing anything).
  std::set<std::string> Drain() {
    std::set<std::string> keys;
    while (queue_.Len() > 0) {
      const auto key = queue_.Get();
      keys.insert(*key);
      queue_.Done(*key);
    }
    return keys;
  }

  Store store_;
  WorkQueue queue_;
  std::atomic<int> restarts_{0};
  std::unique_ptr<Watcher> watcher_;
  std::stop_source stop_;
  std::thread thread_;
};

TEST_F(ReflectorTest, ListsThenFollowsChangesThroughDropsAndCompaction) {
  for (const char* name : {"a", "b", "c", "d", "e"}) Put(name, "1");
  StartWatcher();
  ASSERT_TRUE(Eventually([&] { return store_.HasSynced(); }));
  EXPECT_EQ(store_.Size(), 5u);
  EXPECT_EQ(Drain(), (std::set<std::string>{"prod/a", "prod/b", "prod/c", "prod/d", "prod/e"}));

  Put("a", "2");
  ASSERT_TRUE(client_->Delete(kube::resources::kConfigMaps, "prod", "b").ok());
  ASSERT_TRUE(Eventually([&] { return ValueOf("prod/a") == "2" && !store_.Get("prod/b"); }));
  EXPECT_EQ(Drain(), (std::set<std::string>{"prod/a", "prod/b"}));
  EXPECT_EQ(restarts_, 0);

  // The server drops every watch: the watcher resumes from its last version, missing nothing.
  server_->DropWatches();
  Put("c", "2");
  ASSERT_TRUE(Eventually([&] { return ValueOf("prod/c") == "2"; }));

  // A change the watcher does not see (another namespace) and a compaction make its
  // version too old: its next watch gets 410, so it lists again.
  Put("elsewhere", "1", "other");
  server_->Compact();
  server_->DropWatches();
  Put("d", "3");
  ASSERT_TRUE(Eventually([&] { return ValueOf("prod/d") == "3" && restarts_ >= 1; }));
  EXPECT_EQ(store_.Size(), 4u);
  EXPECT_EQ(ValueOf("prod/e"), "1");
}

}  // namespace
}  // namespace tidemark::runtime
