// The pure pieces under the test API server: YAML scalars, selectors, JSONPath, ages.
#include <gtest/gtest.h>

#include "tests/support/kube_selectors.h"
#include "tests/support/kube_yaml.h"

namespace tidemark::testing {
namespace {

using nlohmann::json;

TEST(KubeYamlTest, ScalarsFollowSigsK8sIoYaml) {
  const auto document = YamlToJson(
      "plain: Off\nquoted: 'Off'\nyes: yes\nnumber: 5432\nfloat: 1.5\nnothing: ~\n"
      "name: 0001_initial\nblock: |\n  SELECT 1;\nlist: [a, 2]\n");
  ASSERT_TRUE(document.ok()) << document.status().ToString();
  EXPECT_EQ((*document)["plain"], false);
  EXPECT_EQ((*document)["quoted"], "Off");
  EXPECT_EQ((*document)["yes"], true);
  EXPECT_EQ((*document)["number"], 5432);
  EXPECT_EQ((*document)["float"], 1.5);
  EXPECT_TRUE((*document)["nothing"].is_null());
  EXPECT_EQ((*document)["name"], "0001_initial");
  EXPECT_EQ((*document)["block"], "SELECT 1;\n");
  EXPECT_EQ((*document)["list"], json::array({"a", 2}));
}

TEST(KubeYamlTest, StreamsAndErrors) {
  const auto documents = YamlDocumentsToJson("a: 1\n---\n---\nb: 2\n");
  ASSERT_TRUE(documents.ok());
  EXPECT_EQ(documents->size(), 2u);
  EXPECT_FALSE(YamlToJson("a: 1\n---\nb: 2\n").ok());
  const auto broken = YamlToJson("a: [1, 2\n");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), StatusCode::kInvalidArgument);
}

TEST(LabelSelectorTest, RejectsMalformedRequirements) {
  EXPECT_FALSE(LabelSelector::Parse("tier in web").ok());
  EXPECT_FALSE(LabelSelector::Parse("tier between (a)").ok());
  EXPECT_FALSE(LabelSelector::Parse("a=b,,c").ok());
  const auto any = LabelSelector::Parse("");
  ASSERT_TRUE(any.ok());
  EXPECT_TRUE(any->Matches({{"metadata", json::object()}}));
}

TEST(JsonPathTest, PrinterColumnExpressions) {
  const json plan = {{"status",
                      {{"conditions",
                        {{{"type", "Stalled"}, {"status", "False"}},
                         {{"type", "Ready"}, {"status", "True"}, {"reason", "UpToDate"}}}},
                       {"summary", {{"applied", 3}}}}}};
  const auto ready = EvaluateJsonPath(plan, R"(.status.conditions[?(@.type=="Ready")].reason)");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(*ready, std::vector<json>{"UpToDate"});
  EXPECT_EQ(*EvaluateJsonPath(plan, ".status.summary.applied"), std::vector<json>{3});
  EXPECT_EQ(*EvaluateJsonPath(plan, ".status.conditions[0].type"), std::vector<json>{"Stalled"});
  EXPECT_EQ(EvaluateJsonPath(plan, ".status.conditions[*].status")->size(), 2u);
  EXPECT_TRUE(EvaluateJsonPath(plan, ".status.missing.field")->empty());
  EXPECT_FALSE(EvaluateJsonPath(plan, "status").ok());
}

TEST(HumanDurationTest, MatchesKubectlAges) {
  using std::chrono::seconds;
  EXPECT_EQ(HumanDuration(seconds(-5)), "<invalid>");
  EXPECT_EQ(HumanDuration(seconds(0)), "0s");
  EXPECT_EQ(HumanDuration(seconds(119)), "119s");
  EXPECT_EQ(HumanDuration(seconds(200)), "3m20s");
  EXPECT_EQ(HumanDuration(seconds(600)), "10m");
  EXPECT_EQ(HumanDuration(seconds(5 * 3600 + 60)), "5h1m");
  EXPECT_EQ(HumanDuration(seconds(30 * 3600)), "30h");
  EXPECT_EQ(HumanDuration(seconds(3 * 86400 + 7200)), "3d2h");
  EXPECT_EQ(HumanDuration(seconds(400 * 86400)), "400d");
}

}  // namespace
}  // namespace tidemark::testing
