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
  EXPECT_EQ(store.Size(), 2u);
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
  EXPECT_EQ(store.List().size(), 1u);
  EXPECT_EQ(store.Apply(Ev(Type::kDelete, "a")), std::vector<std::string>{"ns/a"});
  EXPECT_EQ(store.Get("ns/a"), nullptr);
  EXPECT_FALSE(store.HasSynced());  // only a listing syncs
}

}  // namespace
}  // namespace tidemark::runtime
