// What `tidemark lint --database` reads of a live database: the server's major version and
// the column types of its tables, as format_type writes them.
#include "postgres/catalog.h"

#include <gmock/gmock.h>

#include "tests/support/postgres_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::Pair;
using ::testing::UnorderedElementsAre;

TEST(CatalogTest, ReadsTheServersVersionAndEveryTablesColumnTypes) {
  PostgresServer& server = PostgresServer::Get();
  const std::string dsn = server.CreateDatabase("catalog");
  server.Query(dsn,
               "CREATE SCHEMA other; "
               "CREATE TABLE shop_item (id bigint, name varchar(100), price numeric(10,2)); "
               "ALTER TABLE shop_item DROP COLUMN price; "
               "CREATE TABLE other.seen (at timestamp(3) with time zone, tags text[]); "
               "CREATE VIEW shop_names AS SELECT name FROM shop_item");
  auto catalog = postgres::ReadCatalog(postgres::ConnectionParams{{{"dbname", dsn}}}, {});
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  EXPECT_EQ(std::to_string(catalog->server_version),
            server.QueryValue(dsn, "SELECT current_setting('server_version_num')::int / 10000"));
  // Dropped columns and views are not tables' columns.
  EXPECT_THAT(
      catalog->columns,
      UnorderedElementsAre(
          Pair("public.shop_item",
               UnorderedElementsAre(Pair("id", "bigint"), Pair("name", "character varying(100)"))),
          Pair("other.seen", UnorderedElementsAre(Pair("at", "timestamp(3) with time zone"),
                                                  Pair("tags", "text[]")))));
}

TEST(CatalogTest, AnUnreachableDatabaseIsUnavailable) {
  auto catalog = postgres::ReadCatalog(
      postgres::ConnectionParams{{{"host", "/nonexistent"}, {"dbname", "x"}}}, {});
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tidemark::testing
