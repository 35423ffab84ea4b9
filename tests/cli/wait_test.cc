// `tidemark wait`, the init container's gate: it returns once the awaited steps are applied
// (woken by the NOTIFY of the run that applies them), times out with exit 1 naming what is
// missing, reconnects when the server restarts, and needs only SELECT on the ledger.
#include <gmock/gmock.h>

#include <thread>

#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Longer than any test needs and shorter than wait's 30 s re-check: a wait that returns
// 0 before it was woken by the NOTIFY of the applying run, not by its timer.
constexpr char kWoken[] = "20s";

class WaitTest : public CliTest {
 protected:
  // `tidemark wait ARGS` in the background.
  std::unique_ptr<BackgroundProcess> StartWait(std::vector<std::string> args) {
    std::vector<std::string> argv = {BuiltProgram("tidemark"), "wait"};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<BackgroundProcess>(argv);
  }
  // True once a waiter is connected and idle (it LISTENs before it first reads).
  bool Listening() const {
    return Value(
               "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
               "'tidemark-wait' AND state = 'idle'") != "0";
  }
};

TEST_F(WaitTest, TimesOutNamingWhatIsMissing) {
  WriteSteps(kExpandContractSteps);
  ASSERT_EQ(Tidemark({"apply", "--target", "shop.0001_initial"}).exit_code, 0);
  ProcessResult waited =
      RunProcess({BuiltProgram("tidemark"), "wait", "--for", "shop.0001_initial", "--for",
                  "shop.0002_item_title", "--database", dsn_, "--timeout", "1s"});
  EXPECT_EQ(waited.exit_code, 1) << Describe(waited);
  EXPECT_THAT(waited.err, HasSubstr("timed out after 1s; still not applied: shop.0002_item_title"));
  EXPECT_THAT(waited.err, Not(HasSubstr("shop.0001_initial")));
}

TEST_F(WaitTest, ReturnsWhenTheLastStepIsApplied) {
  WriteSteps(kExpandContractSteps);
  auto waiter = StartWait({"--for", "shop.0001_initial", "--for", "shop.0002_item_title",
                           "--database", dsn_, "--timeout", kWoken});
  ASSERT_TRUE(Eventually([&] { return Listening(); }));
  ASSERT_EQ(Tidemark({"apply", "--target", "shop.0001_initial"}).exit_code, 0);
  EXPECT_FALSE(waiter->Poll()) << "one of two steps is applied";
  ASSERT_EQ(Tidemark({"apply", "--phase", "pre"}).exit_code, 0);
  const ProcessResult waited = waiter->Wait();
  EXPECT_EQ(waited.exit_code, 0) << Describe(waited);
  EXPECT_THAT(waited.out, HasSubstr("ready: the awaited steps are applied"));
  EXPECT_THAT(waited.err,
              HasSubstr("waiting for 2 steps: shop.0001_initial, shop.0002_item_title"));
}

TEST_F(WaitTest, PlanFilesAwaitThePreDeploySteps) {
  WriteSteps(kExpandContractSteps);
  auto waiter = StartWait({"-f", dir_, "--database", dsn_, "--timeout", kWoken});
  ASSERT_TRUE(Eventually([&] { return Listening(); }));
  ASSERT_EQ(Tidemark({"apply", "--phase", "pre"}).exit_code, 0);
  const ProcessResult waited = waiter->Wait();
  EXPECT_EQ(waited.exit_code, 0) << Describe(waited);
  EXPECT_EQ(LedgerRows().size(), 2u) << "the post-deploy step is not awaited";
}

TEST_F(WaitTest, ASquashCountsOnceItsStepsAreApplied) {
  WriteSteps(std::string(kExpandContractSteps) +
             "    - {app: shop, name: 0001_squashed_0002, replaces: [shop.0001_initial, "
             "shop.0002_item_title], forward: \"CREATE TABLE shop_item (id int, label text, "
             "title text)\"}\n");
  // Django's own migrate applied the replaced steps: no squash row, no NOTIFY.
  Query(
      "CREATE TABLE django_migrations (id serial PRIMARY KEY, app varchar(255) NOT NULL, "
      "name varchar(255) NOT NULL, applied timestamptz NOT NULL); INSERT INTO "
      "django_migrations (app, name, applied) VALUES ('shop', '0001_initial', now()), "
      "('shop', '0002_item_title', now())");
  ProcessResult waited =
      RunProcess({BuiltProgram("tidemark"), "wait", "-f", dir_, "--for", "shop.0001_squashed_0002",
                  "--database", dsn_, "--timeout", "5s"});
  EXPECT_EQ(waited.exit_code, 0) << Describe(waited);
}

TEST_F(WaitTest, SurvivesADatabaseRestart) {
  WriteSteps(kExpandContractSteps);
  auto waiter = StartWait({"--for", "shop.0001_initial", "--database", dsn_, "--timeout", "120s"});
  ASSERT_TRUE(Eventually([&] { return Listening(); }));
  server().Stop();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // a few failed reconnects
  EXPECT_FALSE(waiter->Poll()) << "a lost connection is retried, not fatal";
  server().Start();
  ASSERT_TRUE(Eventually([&] { return Listening(); })) << "it reconnected and listens again";
  ASSERT_EQ(Tidemark({"apply"}).exit_code, 0);
  const ProcessResult waited = waiter->Wait();
  EXPECT_EQ(waited.exit_code, 0) << Describe(waited);
}

TEST_F(WaitTest, ANodeWithOnlySelectOnTheLedger) {
  WriteSteps(kExpandContractSteps);
  ASSERT_EQ(Tidemark({"apply", "--target", "shop.0001_initial"}).exit_code, 0);
  const std::string db = Value("SELECT current_database()");
  Query(
      "DROP ROLE IF EXISTS gate_reader; CREATE ROLE gate_reader LOGIN PASSWORD "
      "'gate-secret-pw'; GRANT SELECT ON django_migrations, tidemark_history TO gate_reader");
  const std::string reader_dsn = dsn_ + " user=gate_reader password=gate-secret-pw";
  auto waiter =
      StartWait({"--for", "shop.0002_item_title", "--database", reader_dsn, "--timeout", kWoken});
  ASSERT_TRUE(Eventually([&] { return Listening(); }));
  ASSERT_EQ(Tidemark({"apply", "--phase", "pre"}).exit_code, 0);
  const ProcessResult waited = waiter->Wait();
  EXPECT_EQ(waited.exit_code, 0) << Describe(waited);
  EXPECT_THAT(waited.out + waited.err, Not(HasSubstr("gate-secret-pw")));

  // Without SELECT it is bad setup, said at once, never waited out.
  Query("REVOKE SELECT ON django_migrations FROM gate_reader");
  ProcessResult denied =
      RunProcess({BuiltProgram("tidemark"), "wait", "--for", "shop.0002_item_title", "--database",
                  reader_dsn, "--timeout", "10m"});
  EXPECT_EQ(denied.exit_code, 2) << Describe(denied);
  EXPECT_THAT(denied.err, HasSubstr("permission denied for table django_migrations"));
  EXPECT_THAT(denied.out + denied.err, Not(HasSubstr("gate-secret-pw")));
  Query("DROP OWNED BY gate_reader; DROP ROLE gate_reader");
}

TEST_F(WaitTest, AnUnreachableDatabaseIsRetriedUntilTheTimeout) {
  ProcessResult waited = RunProcess(
      {BuiltProgram("tidemark"), "wait", "--for", "shop.0001_initial", "--database",
       "host=/nonexistent/socket user=app password=hunter2-secret dbname=shop", "--timeout", "2s"});
  EXPECT_EQ(waited.exit_code, 1) << Describe(waited);
  EXPECT_THAT(waited.err, HasSubstr("timed out after 2s; the ledger could not be read: cannot "
                                    "connect to"));
  EXPECT_THAT(waited.out + waited.err, Not(HasSubstr("hunter2-secret")));
}

TEST_F(WaitTest, BadInputIsExitTwo) {
  WriteSteps(kExpandContractSteps);
  const std::string tidemark = BuiltProgram("tidemark");
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"--database", dsn_}, "name what to wait for: --for APP.NAME"},
      {{"--for", "shop", "--database", dsn_}, "--for shop: write app.migration"},
      {{"--for", "shop.0001_initial", "--database", dsn_, "--timeout", "soon"},
       "--timeout soon: write a duration"},
      {{"--for", "shop.0009_missing", "-f", dir_, "--database", dsn_},
       "--for shop.0009_missing: plan default/shop has no such step"},
      {{"--for", "shop.0001_initial"}, "--database DSN (or DATABASE_URL) is needed without -f"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv = {tidemark, "wait"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    ProcessOptions options;
    options.env["DATABASE_URL"] = "";
    const ProcessResult result = RunProcess(argv, options);
    EXPECT_EQ(result.exit_code, 2) << Describe(result);
    EXPECT_THAT(result.err, HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace tidemark::testing
