#include "base/redact.h"

#include <gtest/gtest.h>

namespace tidemark {
namespace {

TEST(RedactTest, UriPassword) {
  EXPECT_EQ(RedactDsn("postgresql://app:s3cr%40t@db.internal:5432/shop?sslmode=require"),
            "postgresql://app:***@db.internal:5432/shop?sslmode=require");
}

TEST(RedactTest, KeywordPasswordPlainAndQuoted) {
  EXPECT_EQ(RedactDsn("host=/cloudsql/p:r:i dbname=shop password=hunter2 user=app"),
            "host=/cloudsql/p:r:i dbname=shop password=*** user=app");
  EXPECT_EQ(RedactDsn("password = 'two words\\' here' dbname=shop"), "password = *** dbname=shop");
}

TEST(RedactTest, QueryParameterPassword) {
  EXPECT_EQ(RedactDsn("postgresql:///shop?host=/tmp&password=x&user=app"),
            "postgresql:///shop?host=/tmp&password=***&user=app");
}

TEST(RedactTest, NothingToHide) {
  EXPECT_EQ(RedactDsn("postgresql://app@localhost/shop"), "postgresql://app@localhost/shop");
}

}  // namespace
}  // namespace tidemark
