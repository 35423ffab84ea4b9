// The fixture every database test stands on: it must give a real, private server.
#include "tests/support/postgres_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

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

// The role of tests of a wrong password: only its own lets it in, the others' trust kept.
TEST(PostgresFixtureTest, PasswordRoleNeedsItsPassword) {
  PostgresServer& server = PostgresServer::Get();
  const std::string dsn = server.CreateDatabase("fixture");
  const std::string as_role = server.PasswordRole(dsn, "fixture_app", "Right-Pw-1");
  EXPECT_THAT(as_role, ::testing::HasSubstr("user=fixture_app"));
  EXPECT_THAT(as_role, ::testing::Not(::testing::HasSubstr("password")));
  for (const auto& [password, connects] :
       {std::pair<std::string, bool>{"Right-Pw-1", true}, {"Wrong-Pw-1", false}, {"", false}}) {
    PGconn* conn = PQconnectdb((as_role + " password='" + password + "'").c_str());
    EXPECT_EQ(PQstatus(conn) == CONNECTION_OK, connects) << password << PQerrorMessage(conn);
    PQfinish(conn);
  }
  EXPECT_EQ(server.QueryValue(dsn, "SELECT current_user"), "postgres");  // still trusted
}

}  // namespace
}  // namespace tidemark::testing
