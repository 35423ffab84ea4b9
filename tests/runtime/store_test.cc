#include "runtime/store.h"

#include <gtest/gtest.h>

namespace tidemark::runtime {
namespace {

using nlohmann::json;
using Type = WatcherEvent::Type;

WatcherEvent Ev(Type type, const std::string& name = "", const std::string& data = "") {
  if (name.empty()) return {type, {}};
  return {type, {{"metadata", {{"name", name}, {"namespace", "ns"}}}, {"data", data}}};
}

TEST(StoreTest, AListingBecomesVisibleOnlyWhenItIsDone) {
  Store store;
  EXPECT_FALSE(store.HasSynced());
  EXPECT_TRUE(store.Apply(Ev(Type::kInit)).empty());
  EXPECT_TRUE(store.Apply(Ev(Type::kInitApply, "a", "1")).empty());
  EXPECT_EQ(store.Get("ns/a"), nullptr);  // still in the buffer
  EXPECT_EQ(store.Apply(Ev(Type::kInitDone)), std::vector<std::string>{"ns/a"});
  EXPECT_TRUE(store.HasSynced());
  ASSERT_NE(store.Get("ns/a"), nullptr);
  EXPECT_EQ((*store.Get("ns/a"))["data"], "1");
}

TEST(StoreTest, ARelistSwapsAtOnceAndReportsDroppedKeys) {
  Store store;
  store.Apply(Ev(Type::kInit));
  store.Apply(Ev(Type::kInitApply, "a", "1"));
  store.Apply(Ev(Type::kInitApply, "b", "1"));
  store.Apply(Ev(Type::kInitDone));
  const ObjectPtr old_a = store.Get("ns/a");

  store.Apply(Ev(Type::kInit));
  store.Apply(Ev(Type::kInitApply, "a", "2"));
  store.Apply(Ev(Type::kInitApply, "c", "2"));
  // During the relist readers still see the old, complete state.
  EXPECT_EQ(store.Size(), 2u);
  EXPECT_NE(store.Get("ns/b"), nullptr);
  EXPECT_EQ(store.Apply(Ev(Type::kInitDone)), (std::vector<std::string>{"ns/a", "ns/c", "ns/b"}));
  EXPECT_EQ(store.Keys(), (std::vector<std::string>{"ns/a", "ns/c"}));
  EXPECT_EQ(store.Get("ns/b"), nullptr);
  EXPECT_EQ((*store.Get("ns/a"))["data"], "2");
  EXPECT_EQ((*old_a)["data"], "1");  // a snapshot a reader kept is unchanged
}

TEST(StoreTest, ARelistStartedAgainForgetsTheHalfBuffer) {
  Store store;
  store.Apply(Ev(Type::kInit));
  store.Apply(Ev(Type::kInitApply, "stale", "1"));
  store.Apply(Ev(Type::kInit));  // the listing failed (410 on continue) and started over
  store.Apply(Ev(Type::kInitApply, "a", "1"));
  store.Apply(Ev(Type::kInitDone));
  EXPECT_EQ(store.Size(), 1u);
  EXPECT_EQ(store.Get("ns/stale"), nullptr);
}

TEST(StoreTest, ApplyAndDeleteChangeOneKey) {
  Store store;
  EXPECT_EQ(store.Apply(Ev(Type::kApply, "a", "1")), std::vector<std::string>{"ns/a"});
  EXPECT_EQ(store.Keys(), std::vector<std::string>{"ns/a"});
  EXPECT_EQ(store.Apply(Ev(Type::kDelete, "a")), std::vector<std::string>{"ns/a"});
  EXPECT_EQ(store.Get("ns/a"), nullptr);
  EXPECT_FALSE(store.HasSynced());  // only a listing syncs
}

TEST(StoreTest, KeepsEverythingButManagedFieldsAndTheLastAppliedCopy) {
  const json spec = {{"database", {{"dsnFrom", {{"secretKeyRef", {{"name", "db"}}}}}}},
                     {"migrations", json::array({{{"app", "shop"}, {"name", "0001"}}})}};
  const json status = {{"observedGeneration", 3},
                       {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}};
  json object = {
      {"apiVersion", "tidemark.dev/v1alpha1"},
      {"kind", "MigrationPlan"},
      {"metadata",
       {{"name", "shop"},
        {"namespace", "ns"},
        {"uid", "u-1"},
        {"generation", 3},
        {"deletionTimestamp", "2026-01-01T00:00:00Z"},
        {"labels", {{"team", "a"}}},
        {"annotations", {{kLastAppliedAnnotation, json{{"spec", spec}}.dump()}, {"owner", "ops"}}},
        {"managedFields", json::array({{{"manager", "kubectl"}, {"fieldsV1", spec}}})}}},
      {"spec", spec},
      {"status", status}};
  Store store;
  store.Apply({Type::kApply, object});
  const ObjectPtr cached = store.Get("ns/shop");
  ASSERT_NE(cached, nullptr);
  json expected = object;
  expected["metadata"].erase("managedFields");
  expected["metadata"]["annotations"].erase(kLastAppliedAnnotation);
  EXPECT_EQ(*cached, expected);  // spec, status, generation, labels, other annotations kept
  EXPECT_FALSE((*cached)["metadata"].contains("managedFields"));
}

}  // namespace
}  // namespace tidemark::runtime
