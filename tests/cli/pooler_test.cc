// tidemark behind a connection pooler (PgBouncer): a session-mode pool keeps one server
// session per client, so the advisory lock holds; a transaction-mode pool hands each
// transaction to any server session, so tidemark refuses to run there.
#include <gmock/gmock.h>

#include "tests/cli/cli_fixture.h"
#include "tests/support/pgbouncer.h"

namespace tidemark::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class PoolerTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    WriteSteps("    - {app: a, name: \"0001\", forward: \"CREATE TABLE t (id int)\"}\n");
  }
  ProcessResult ApplyThrough(const PgBouncer& pooler) {
    return RunProcess({BuiltProgram("tidemark"), "apply", "-f", dir_, "--database",
                       pooler.Dsn(DsnField(dsn_, "dbname"))});
  }
};

TEST_F(PoolerTest, TransactionModePoolerIsRefused) {
  PgBouncer pooler("transaction", dsn_);
  pooler.Warm(DsnField(dsn_, "dbname"), 3);
  const ProcessResult apply = ApplyThrough(pooler);
  EXPECT_EQ(apply.exit_code, 2) << Describe(apply);
  EXPECT_THAT(apply.err, HasSubstr("TransactionPooler: the database session moved from server "
                                   "process "));
  EXPECT_THAT(apply.err, HasSubstr("Connect directly to the database (or through the Cloud SQL "
                                   "Auth Proxy) or through a session-mode pool"));
  EXPECT_FALSE(TableExists("t"));
  EXPECT_THAT(LedgerRows(), IsEmpty());
  // No server session is left holding the ledger's lock for the pool's other clients.
  EXPECT_EQ(Value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), "0");
}

TEST_F(PoolerTest, SessionModePoolerWorks) {
  PgBouncer pooler("session", dsn_);
  const ProcessResult apply = ApplyThrough(pooler);
  EXPECT_EQ(apply.exit_code, 0) << Describe(apply);
  EXPECT_TRUE(TableExists("t"));
  EXPECT_THAT(LedgerRows(), ElementsAre("a.0001"));
}

}  // namespace
}  // namespace tidemark::testing
