// What ships next to the binary queries only metrics the binary exports: the Grafana
// dashboard, the PrometheusRule alerts and docs/metrics.md are checked against the samples
// Metrics::Serialize() really writes, and the dashboard's PromQL against promtool.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "metrics/metrics.h"
#include "tests/metrics/exposition.h"
#include "tests/support/process.h"

namespace tidemark::metrics {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Sample names (what PromQL selects: families plus _bucket/_sum/_count) of a Metrics object
// in which every family has series.
std::set<std::string> ExportedSampleNames() {
  Metrics metrics("dev");
  metrics.SetPlanState("ns", "plan", 1, false);
  metrics.SetDrift("ns", "plan", 1, 1);
  metrics.SetPostDeployPendingSince("ns", "plan", WallTime(std::chrono::seconds(1'700'000'000)));
  std::set<std::string> names;
  for (const auto& [series, value] : testing::ParseExposition(metrics.Serialize()).samples) {
    names.insert(series.substr(0, series.find('{')));
  }
  return names;
}

std::set<std::string> MetricNamesIn(const std::string& expr) {
  static const std::regex kName(R"(\btidemark_[a-z0-9_]+)");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), kName);
       it != std::sregex_iterator(); ++it) {
    names.insert(it->str());
  }
  return names;
}

// Every "expr" of the dashboard, and the queries of its template variables.
void CollectQueries(const nlohmann::json& node, std::vector<std::string>* queries) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if ((key == "expr" || key == "definition") && value.is_string()) {
        queries->push_back(value.get<std::string>());
      } else {
        CollectQueries(value, queries);
      }
    }
  } else if (node.is_array()) {
    for (const auto& item : node) CollectQueries(item, queries);
  }
}

std::vector<std::string> DashboardQueries() {
  const nlohmann::json dashboard =
      nlohmann::json::parse(ReadFile(testing::SourcePath("docs/grafana/tidemark-dashboard.json")));
  std::vector<std::string> queries;
  CollectQueries(dashboard["panels"], &queries);
  CollectQueries(dashboard["templating"], &queries);
  return queries;
}

std::vector<std::string> AlertQueries() {
  const YAML::Node rule =
      YAML::LoadFile(testing::SourcePath("manifests/monitoring/prometheusrule.yaml"));
  std::vector<std::string> queries;
  for (const auto& group : rule["spec"]["groups"]) {
    for (const auto& alert : group["rules"]) queries.push_back(alert["expr"].as<std::string>());
  }
  return queries;
}

TEST(ShippedQueriesTest, DashboardUsesOnlyExportedMetrics) {
  const std::set<std::string> exported = ExportedSampleNames();
  const std::vector<std::string> queries = DashboardQueries();
  ASSERT_GE(queries.size(), 10u);
  std::set<std::string> used;
  for (const std::string& query : queries) {
    const std::set<std::string> names = MetricNamesIn(query);
    EXPECT_FALSE(names.empty()) << "a query that reads no tidemark metric: " << query;
    for (const std::string& name : names) {
      EXPECT_TRUE(exported.count(name)) << name << " is not exported; in: " << query;
      used.insert(name);
    }
  }
  // What the dashboard is for: reconcile rate and latency, pending steps, step durations,
  // lock waits, drift.
  for (const char* name : {"tidemark_reconcile_total", "tidemark_reconcile_duration_seconds_bucket",
                           "tidemark_plan_pending_steps", "tidemark_step_duration_seconds_bucket",
                           "tidemark_lock_wait_seconds_bucket", "tidemark_drift"}) {
    EXPECT_TRUE(used.count(name)) << "the dashboard shows no " << name;
  }
}

TEST(ShippedQueriesTest, AlertsUseOnlyExportedMetrics) {
  const std::set<std::string> exported = ExportedSampleNames();
  const std::vector<std::string> queries = AlertQueries();
  ASSERT_EQ(queries.size(), 6u);
  for (const std::string& query : queries) {
    for (const std::string& name : MetricNamesIn(query)) {
      EXPECT_TRUE(exported.count(name)) << name << " is not exported; in: " << query;
    }
  }
}

// promtool parses each dashboard query (as a recording rule, Grafana's variables filled in).
TEST(ShippedQueriesTest, DashboardQueriesAreValidPromQL) {
  nlohmann::json rules = {{"groups", nlohmann::json::array()}};
  nlohmann::json group = {{"name", "dashboard"}, {"rules", nlohmann::json::array()}};
  int index = 0;
  for (std::string query : DashboardQueries()) {
    query = std::regex_replace(query, std::regex(R"(\$__rate_interval)"), "5m");
    query = std::regex_replace(query, std::regex(R"(\$namespace)"), ".*");
    if (query.starts_with("label_values(")) continue;  // a Grafana function, not PromQL
    group["rules"].push_back(
        {{"record", "dashboard:query_" + std::to_string(index++)}, {"expr", query}});
  }
  rules["groups"].push_back(group);
  const std::string path = ::testing::TempDir() + "tidemark-dashboard-rules.json";
  std::ofstream(path) << rules.dump(2);
  const testing::ProcessResult result =
      testing::RunProcess({"/usr/bin/promtool", "check", "rules", path});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
}

TEST(ShippedQueriesTest, MetricsDocDescribesEveryFamily) {
  const std::string doc = ReadFile(testing::SourcePath("docs/metrics.md"));
  for (const std::string& name : FamilyNames()) {
    EXPECT_NE(doc.find("`" + name), std::string::npos) << "docs/metrics.md lacks " << name;
  }
  // The page names families (a histogram's samples add _bucket, _sum, _count) and samples.
  std::set<std::string> exported = ExportedSampleNames();
  exported.insert(FamilyNames().begin(), FamilyNames().end());
  for (const std::string& name : MetricNamesIn(doc)) {
    EXPECT_TRUE(exported.count(name))
        << "docs/metrics.md names " << name << ", which is not exported";
  }
}

}  // namespace
}  // namespace tidemark::metrics
