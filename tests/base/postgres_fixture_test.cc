// The fixture every database test stands on: it must give a real, private server.
#include "tests/support/postgres_fixture.h"

#include <gtest/gtest.h>

namespace tidemark::testing {
namespace {

TEST(PostgresFixtureTest, ServesFreshDatabases) {
  PostgresServer& server = PostgresServer::Get();
  const std::string a = server.CreateDatabase("fixture");
  const std::string b = server.CreateDatabase("fixture");
  EXPECT_NE(a, b);
  server.Query(a, "CREATE TABLE only_in_a (id int)");
  EXPECT_EQ(server.QueryValue(a, "SELECT count(*) FROM pg_tables WHERE tablename='only_in_a'"),
            "1");
  EXPECT_EQ(server.QueryValue(b, "SELECT count(*) FROM pg_tables WHERE tablename='only_in_a'"),
            "0");
  EXPECT_EQ(server.QueryValue(a, "SHOW server_version_num").substr(0, 2), "15");
}

}  // namespace
}  // namespace tidemark::testing
