#include "kube/merge_patch.h"

#include <gtest/gtest.h>

namespace tidemark::kube {
namespace {

using nlohmann::json;

// What an API server does with a merge patch (RFC 7386), to check that the patch we send
// turns the object into the one we mean.
json Applied(json target, const json& patch) {
  target.merge_patch(patch);
  return target;
}

TEST(MergePatchTest, AFieldThatShouldBeGoneIsNamedWithNull) {
  const json current = {{"observedGeneration", 2},
                        {"failure", {{"migration", "shop.0002"}, {"sqlState", "42P01"}}},
                        {"summary", {{"applied", 1}, {"pending", 1}}}};
  const json desired = {{"observedGeneration", 3}, {"summary", {{"applied", 2}, {"pending", 0}}}};
  const json patch = MergePatchReplacing(current, desired);
  EXPECT_EQ(patch, json({{"observedGeneration", 3},
                         {"failure", nullptr},
                         {"summary", {{"applied", 2}, {"pending", 0}}}}));
  EXPECT_EQ(Applied(current, patch), desired);
}

TEST(MergePatchTest, NestedFieldsAndArraysAsMergePatchesTreatThem) {
  const json current = {{"lastRun", {{"restorePoint", {{"at", "t1"}}}, {"steps", 3}}},
                        {"conditions", json::array({{{"type", "Ready"}}, {{"type", "Stalled"}}})},
                        {"same", {{"kept", true}}}};
  const json desired = {{"lastRun", {{"steps", 4}}},
                        {"conditions", json::array({{{"type", "Ready"}}})},
                        {"same", {{"kept", true}}}};
  const json patch = MergePatchReplacing(current, desired);
  EXPECT_EQ(patch, json({{"lastRun", {{"restorePoint", nullptr}, {"steps", 4}}},
                         {"conditions", json::array({{{"type", "Ready"}}})},
                         {"same", {{"kept", true}}}}));
  EXPECT_EQ(Applied(current, patch), desired);
}

TEST(MergePatchTest, WithNothingToRemoveThePatchIsTheDesiredObject) {
  const json status = {{"summary", {{"applied", 1}}}};
  EXPECT_EQ(MergePatchReplacing(status, status), status);
  EXPECT_EQ(MergePatchReplacing(json(), status), status);
  EXPECT_EQ(Applied(json::object(), MergePatchReplacing(json::object(), status)), status);
}

}  // namespace
}  // namespace tidemark::kube
