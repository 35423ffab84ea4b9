// A back-fill step (kind: Backfill) through the controller: its counts in status.backfill
// and the Reconciling message while it runs, its metrics, and Ready once recorded.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "tests/metrics/exposition.h"
#include "tests/operator/operator_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST_F(OperatorTest, ABackfillShowsItsProgressInTheStatusThenEndsReady) {
  CreateDsnSecret();
  const int port = StartOperator();
  // 5,000 rows in batches of 250, 300 ms apart: 20 batches, about 6 s.
  const std::string plan = R"y(apiVersion: tidemark.dev/v1alpha1
kind: MigrationPlan
metadata: {name: fill}
spec:
  database: {dsnFrom: {secretKeyRef: {name: shop-db, key: dsn}}}
  migrations:
    - {app: shop, name: "0001_initial", forward: "CREATE TABLE t (id int PRIMARY KEY, c int); INSERT INTO t SELECT g FROM generate_series(1, 5000) g"}
    - app: shop
      name: "0002_fill"
      dependencies: [shop.0001_initial]
      kind: Backfill
      batchDelay: 300ms
      forward: "UPDATE t SET c = id WHERE id IN (SELECT id FROM t WHERE c IS NULL LIMIT 250)"
)y";
  ASSERT_EQ(Kubectl({"apply", "-f", "-"}, plan).exit_code, 0);
  // The first progress status is the run's ("2 steps to run"), then the back-fill's.
  const std::regex kShown("back-fill shop.0002_fill: [0-9,]+ rows in [0-9]+ batches");
  ASSERT_TRUE(Eventually([&] {
    return std::regex_match(
        Jsonpath("fill", "{.status.conditions[?(@.type==\"Reconciling\")].message}"), kShown);
  }));
  EXPECT_EQ(ConditionReason("fill", "Reconciling"), "Applying");
  EXPECT_EQ(Jsonpath("fill", "{.status.backfill.migration}"), "shop.0002_fill");
  const std::string rows = Jsonpath("fill", "{.status.backfill.rows}");
  ASSERT_THAT(rows, MatchesRegex("[0-9]+"));
  EXPECT_GT(std::stoi(rows), 0);
  EXPECT_EQ(std::stoi(rows) % 250, 0) << rows;
  EXPECT_EQ(std::stoi(Jsonpath("fill", "{.status.backfill.batches}")) * 250, std::stoi(rows));
  EXPECT_THAT(Jsonpath("fill", "{.status.backfill.rowsPerSecond}"), MatchesRegex("[0-9]+"));
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations WHERE name = '0002_fill'"), "0");

  EXPECT_EQ(Kubectl({"wait", "--for=condition=Ready", "mplan/fill", "--timeout=90s"}).exit_code, 0);
  EXPECT_EQ(Jsonpath("fill", "{.status.backfill}"), "");  // gone once recorded
  EXPECT_EQ(Jsonpath("fill", "{.status.lastApplied.migration}"), "shop.0002_fill");
  EXPECT_EQ(Sql("SELECT count(c) FROM t"), "5000");
  EXPECT_EQ(Sql("SELECT count(*) FROM django_migrations WHERE name = '0002_fill'"), "1");
  const Exposition scrape = ParseExposition(Scrape(port));
  EXPECT_EQ(scrape.Value("tidemark_backfill_rows_total{migration=\"shop.0002_fill\",namespace="
                         "\"default\",plan=\"fill\"}"),
            5000);
  EXPECT_EQ(scrape.Value("tidemark_backfill_batches_total{migration=\"shop.0002_fill\","
                         "namespace=\"default\",plan=\"fill\"}"),
            20);
}

}  // namespace
}  // namespace tidemark::testing
