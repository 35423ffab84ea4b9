// The controller's session pool against a real PostgreSQL: sessions are reused, come back
// clean (no advisory lock left), are bounded, expire, and survive a server restart.
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

  static spec::ConnectionParams Params(const std::string& dsn) {
    return spec::ConnectionParams{{{"dbname", dsn}}};
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
  EXPECT_EQ(server().QueryValue(server().Dsn(), "SELECT count(*) FROM pg_locks WHERE pid = " +
                                                    first[0][0] + " AND locktype = 'advisory'"),
            "0");

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

}  // namespace
}  // namespace tidemark::testing
