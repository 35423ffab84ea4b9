// The controller's session pool against a real PostgreSQL: sessions are reused, come back
// clean (no advisory lock left), are bounded, expire, and survive a server restart; what a
// session learnt about a ledger serves the next store of that ledger, and only while true.
#include <gmock/gmock.h>

#include "postgres/pg_store.h"
#include "tests/support/postgres_fixture.h"
#include "tests/support/process.h"

namespace tidemark::testing {
namespace {

using postgres::SessionPool;

class SessionPoolTest : public ::testing::Test {
 protected:
  void SetUp() override { dsn_ = server().CreateDatabase("pool"); }

  static PostgresServer& server() { return PostgresServer::Get(); }

  static postgres::ConnectionParams Params(const std::string& dsn) {
    return postgres::ConnectionParams{{{"dbname", dsn}}};
  }
  static postgres::ConnectOptions Options() {
    postgres::ConnectOptions options;
    options.application_name = "tidemark-pool-test";
    return options;
  }
  // The server processes of the pool's sessions, as PostgreSQL lists them.
  Rows Sessions() const {
    return server().Query(server().Dsn(),
                          "SELECT pid, datname FROM pg_stat_activity WHERE application_name = "
                          "'tidemark-pool-test' ORDER BY pid");
  }

  std::string dsn_;
};

TEST_F(SessionPoolTest, ASessionIsReusedAndComesBackWithoutItsAdvisoryLock) {
  SessionPool pool(std::chrono::seconds(60), 4);
  {
    auto store = pool.Connect(Params(dsn_), Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->Lock(std::chrono::milliseconds(1000)).ok());
    // Returned without Unlock, as after a reconcile that failed half-way.
  }
  const Rows first = Sessions();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(pool.IdleCount(), 1u);
  // The reset is sent as the session is returned; the server runs it at once.
  EXPECT_TRUE(Eventually([&] {
    return server().QueryValue(server().Dsn(),
                               "SELECT count(*) FROM pg_locks WHERE pid = " + first[0][0] +
                                   " AND locktype = 'advisory'") == "0";
  }));

  // Another store takes the lock at once: nobody holds it.
  auto again = pool.Connect(Params(dsn_), Options());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  auto waited = (*again)->Lock(std::chrono::milliseconds(100));
  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  EXPECT_EQ(Sessions(), first);  // the same server process
  EXPECT_EQ(pool.IdleCount(), 0u);
}

TEST_F(SessionPoolTest, IdleSessionsAreBoundedAndExpire) {
  const std::string other = server().CreateDatabase("pool");
  SessionPool pool(std::chrono::seconds(2), 1);
  {
    auto first = pool.Connect(Params(dsn_), Options());
    auto second = pool.Connect(Params(dsn_), Options());
    auto third = pool.Connect(Params(other), Options());
    ASSERT_TRUE(first.ok() && second.ok() && third.ok());
    EXPECT_EQ(Sessions().size(), 3u);
  }
  // One may wait in all: the most recently returned.
  EXPECT_EQ(pool.IdleCount(), 1u);
  ASSERT_TRUE(Eventually([&] { return Sessions().size() == 1u; }));
  // Unused for longer than max_idle: closed.
  ASSERT_TRUE(Eventually([&] { return Sessions().empty(); }));
  EXPECT_EQ(pool.IdleCount(), 0u);
}

TEST_F(SessionPoolTest, ASessionTheServerClosedIsReplaced) {
  SessionPool pool(std::chrono::seconds(60), 4);
  {
    auto store = pool.Connect(Params(dsn_), Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
  }
  ASSERT_EQ(pool.IdleCount(), 1u);
  server().Stop();
  server().Start();
  auto store = pool.Connect(Params(dsn_), Options());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_TRUE((*store)->EnsureTables().ok());
  EXPECT_EQ(Sessions().size(), 1u);
}

// A step that runs `statements` and records (app, name).
ledger::StepRun Step(const std::string& name, std::vector<std::string> statements) {
  ledger::StepRun run;
  run.id = {"pool", name};
  run.statements = std::move(statements);
  run.records = {run.id};
  return run;
}

TEST_F(SessionPoolTest, AReusedSessionServesEachLedgerInItsOwnSchema) {
  server().Query(dsn_, "CREATE SCHEMA app_one");
  SessionPool pool(std::chrono::seconds(60), 4);
  postgres::ConnectOptions in_schema = Options();
  in_schema.schema = "app_one";
  for (const auto& [options, name] :
       {std::pair{in_schema, "first"}, std::pair{in_schema, "second"},
        std::pair{Options(), "third"}, std::pair{in_schema, "fourth"}}) {
    auto store = pool.Connect(Params(dsn_), options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->EnsureTables().ok());
    // A user's step leaves a setting behind; the next store must not see it.
    const auto ran = (*store)->Run(Step(name, {std::string("CREATE TABLE t_") + name + " (id int)",
                                               "SET search_path = pg_catalog"}));
    ASSERT_TRUE(ran.ok) << ran.error.message;
    auto read = (*store)->Read({"pool"});
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_TRUE(read->applied.count({"pool", name})) << name;
  }
  EXPECT_EQ(Sessions().size(), 1u);
  // Unqualified names went to the schema of the store's ledger, every time.
  EXPECT_EQ(server().Query(dsn_,
                           "SELECT table_schema, table_name FROM information_schema.tables "
                           "WHERE table_name LIKE 't\\_%' ORDER BY table_name"),
            (Rows{{"app_one", "t_first"},
                  {"app_one", "t_fourth"},
                  {"app_one", "t_second"},
                  {"public", "t_third"}}));
}

TEST_F(SessionPoolTest, ALedgerDroppedUnderAPooledSessionIsNoticedAtTheNextUse) {
  SessionPool pool(std::chrono::seconds(60), 4);
  const auto run_first_step = [&] {
    auto store = pool.Connect(Params(dsn_), Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->Lock(std::chrono::seconds(1)).ok());
    ASSERT_TRUE((*store)->EnsureTables().ok());
    auto read = (*store)->Read({"pool"});
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_TRUE(read->applied.empty());
    const auto ran = (*store)->Run(Step("first", {"SELECT 1"}));
    EXPECT_TRUE(ran.ok) << ran.error.message;
    ASSERT_TRUE((*store)->Unlock().ok());
  };
  run_first_step();
  server().Query(dsn_, "DROP TABLE django_migrations, tidemark_history");
  {
    // A read without the lock finds no ledger, as on a new session.
    auto store = pool.Connect(Params(dsn_), Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto read = (*store)->Read({"pool"});
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_TRUE(read->applied.empty());
  }
  // Taking the lock looks for the tables again: they are created anew and the step recorded.
  run_first_step();
  EXPECT_EQ(Sessions().size(), 1u);
  EXPECT_EQ(server().QueryValue(dsn_, "SELECT count(*) FROM django_migrations"), "1");
}

}  // namespace
}  // namespace tidemark::testing
