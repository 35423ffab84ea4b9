// A password given to `tidemark run` (in the DSN, through passwordFrom, in the runner's
// environment) shows in no output line, status, error or history row, even where
// PostgreSQL quotes it back or the connection fails. The test server trusts every local
// connection but those of its password roles (PostgresServer::PasswordRole), so any
// password connects as postgres, and a statement that casts the password to int makes the
// server echo it in its error; a password role is refused a wrong one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/cli/cli_fixture.h"
#include "tests/support/pgbouncer.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPassword[] = "Tm-Pw-9c41e7";
constexpr char kPasswordBase64[] = "VG0tUHctOWM0MWU3";

// A step that applies, then one whose error quotes the password (22P02 invalid input syntax
// for type integer: "<password>"), its statement holding it too.
std::string EchoingSteps() {
  return std::string(
             "    - {app: shop, name: 0001_initial, forward: \"CREATE TABLE shop_item (id int)\"}\n"
             "    - {app: shop, name: 0002_echo, dependencies: [shop.0001_initial],\n"
             "       forward: \"SELECT '") +
         kPassword + "'::int\"}\n";
}

class SecretsTest : public CliTest {
 protected:
  // `tidemark run -o json` and plain `tidemark run`, with `database` as --database
  // (none when empty): both outputs, which must never hold the password.
  std::string RunBothWays(const std::string& database) {
    std::string seen;
    for (std::vector<std::string> format :
         {std::vector<std::string>{"-o", "json"}, std::vector<std::string>{}}) {
      std::vector<std::string> argv = {
          BuiltProgram("tidemark"), "run", "-f", dir_, "--log-level", "debug"};
      if (!database.empty()) argv.insert(argv.end(), {"--database", database});
      argv.insert(argv.end(), format.begin(), format.end());
      const ProcessResult result = RunProcess(argv);
      EXPECT_EQ(result.exit_code, 1) << Describe(result);
      seen += result.out + result.err;
    }
    EXPECT_THAT(seen, Not(HasSubstr(kPassword)));
    return seen;
  }

  // The database fields of the test server one by one, the password read from `source`.
  std::string DatabaseFields(const std::string& password_source,
                             const std::string& user = "postgres") const {
    return "  database:\n    host: " + DsnField(dsn_, "host") + "\n    port: \"" +
           DsnField(dsn_, "port") + "\"\n    dbname: " + DsnField(dsn_, "dbname") +
           "\n    user: " + user + "\n    passwordFrom: " + password_source + "\n";
  }

  // The DSN of the test database as a URI with `user` and `password` in it.
  std::string Uri(const std::string& user, const std::string& password) const {
    return "postgresql://" + user + ":" + password + "@/" + DsnField(dsn_, "dbname") +
           "?host=" + DsnField(dsn_, "host") + "&port=" + DsnField(dsn_, "port");
  }
};

TEST_F(SecretsTest, PasswordInTheDsnIsMaskedWherePostgresQuotesIt) {
  WriteSteps(EchoingSteps());
  const std::string uri = "postgresql://postgres:" + std::string(kPassword) + "@/" +
                          DsnField(dsn_, "dbname") + "?host=" + DsnField(dsn_, "host") +
                          "&port=" + DsnField(dsn_, "port");
  for (const std::string& database : {dsn_ + " password=" + kPassword, uri}) {
    const std::string seen = RunBothWays(database);
    EXPECT_THAT(seen, HasSubstr("invalid input syntax for type integer: \\\"***\\\""));
    EXPECT_THAT(seen, HasSubstr("SELECT '***'::int"));
  }
  EXPECT_EQ(LedgerRows(), std::vector<std::string>{"shop.0001_initial"});
}

TEST_F(SecretsTest, PasswordFromASecretOrTheEnvironmentIsMasked) {
  WriteSteps(EchoingSteps(), DatabaseFields("{secretKeyRef: {name: shop-db, key: password}}"));
  std::ofstream(dir_ + "/secret.yaml")
      << "apiVersion: v1\nkind: Secret\nmetadata: {name: shop-db}\ndata: {password: "
      << kPasswordBase64 << "}\n";
  EXPECT_THAT(RunBothWays(""), HasSubstr("integer: \\\"***\\\""));

  std::filesystem::remove(dir_ + "/secret.yaml");
  WriteSteps(EchoingSteps(), DatabaseFields("{env: SHOP_DB_PASSWORD}"));
  std::vector<std::string> argv = {BuiltProgram("tidemark"), "run", "-f", dir_, "-o", "json"};
  ProcessOptions options;
  options.env["SHOP_DB_PASSWORD"] = kPassword;
  const ProcessResult result = RunProcess(argv, options);
  EXPECT_EQ(result.exit_code, 1) << Describe(result);
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(kPassword)));
  EXPECT_THAT(result.out, HasSubstr("integer: \\\"***\\\""));
}

// A role whose password the server checks, given a wrong one that is recognisable, in each
// way a password is given: the run fails saying where it went, as whom, that the login was
// refused and what to check; the password shows nowhere, nor the connection string.
TEST_F(SecretsTest, WrongPasswordSaysWhichLoginFailedAndShowsNowhere) {
  const std::string as_app = server().PasswordRole(dsn_, "shop_app", "Right-Pw-41d");
  const std::string target = DsnField(dsn_, "host") + ":" + DsnField(dsn_, "port") + "/" +
                             DsnField(dsn_, "dbname") + " as shop_app: ";
  auto expect_refused = [&](const std::string& seen) {
    EXPECT_THAT(seen, HasSubstr("DatabaseUnavailable: cannot connect to " + target)) << seen;
    EXPECT_THAT(seen, HasSubstr("password authentication failed for user")) << seen;
    EXPECT_THAT(seen, HasSubstr("shop_app")) << seen;
    EXPECT_THAT(seen, HasSubstr("the server refused the login: check the user and the password "
                                "given (spec.database.password or passwordFrom, the DSN's "
                                "password, or ~/.pgpass) and that the role may log in"))
        << seen;
    EXPECT_THAT(seen, Not(HasSubstr("dbname="))) << seen;
    EXPECT_THAT(seen, Not(HasSubstr("Right-Pw-41d"))) << seen;
  };
  WriteSteps(EchoingSteps());
  expect_refused(RunBothWays(as_app + " password=" + kPassword));
  expect_refused(RunBothWays(Uri("shop_app", kPassword)));

  WriteSteps(EchoingSteps(),
             DatabaseFields("{secretKeyRef: {name: shop-db, key: password}}", "shop_app"));
  std::ofstream(dir_ + "/secret.yaml")
      << "apiVersion: v1\nkind: Secret\nmetadata: {name: shop-db}\ndata: {password: "
      << kPasswordBase64 << "}\n";
  expect_refused(RunBothWays(""));
  std::filesystem::remove(dir_ + "/secret.yaml");

  WriteSteps(EchoingSteps(), DatabaseFields("{env: SHOP_DB_PASSWORD}", "shop_app"));
  ProcessOptions options;
  options.env["SHOP_DB_PASSWORD"] = kPassword;
  const ProcessResult result = RunProcess(
      {BuiltProgram("tidemark"), "run", "-f", dir_, "--log-level", "debug", "-o", "json"}, options);
  EXPECT_EQ(result.exit_code, 1) << Describe(result);
  EXPECT_THAT(result.out + result.err, Not(HasSubstr(kPassword)));
  expect_refused(result.out + result.err);
  EXPECT_FALSE(TableExists("tidemark_ledger"));  // nothing was done
}

// A step's error is kept in the history table (tidemark_history.error) as it shows in the
// status: the password the run connected with masked, here where the server quotes back a
// statement holding the whole DSN.
TEST_F(SecretsTest, PasswordIsMaskedInTheHistoryTable) {
  const std::string uri = Uri("postgres", kPassword);
  WriteSteps(
      "    - {app: shop, name: 0001_initial, forward: \"CREATE TABLE shop_item (id int)\"}\n"
      "    - {app: shop, name: 0002_echo_dsn, dependencies: [shop.0001_initial],\n"
      "       forward: \"SELECT '" +
      uri + "'::int\"}\n");
  EXPECT_THAT(RunBothWays(uri), HasSubstr("postgresql://postgres:***@/"));
  const Rows failures =
      Query("SELECT name, error FROM tidemark_history WHERE action = 'failure' ORDER BY id");
  ASSERT_EQ(failures.size(), 2u);  // one a run
  for (const std::vector<std::string>& row : failures) {
    EXPECT_EQ(row[0], "0002_echo_dsn");
    EXPECT_EQ(row[1], "invalid input syntax for type integer: \"" + Uri("postgres", "***") + "\"");
  }
  EXPECT_EQ(Value("SELECT count(*) FROM tidemark_history WHERE error LIKE '%" +
                  std::string(kPassword) + "%'"),
            "0");
}

TEST_F(SecretsTest, FailedConnectionsNeverShowThePassword) {
  WriteSteps(EchoingSteps());
  const std::string password = std::string(" password=") + kPassword;
  const std::string missing_socket = "host=/nonexistent/socket port=5432 dbname=shop user=app";
  const std::string wrong_port = "host=" + DsnField(dsn_, "host") + " port=1 dbname=shop user=app";
  const std::string no_database = dsn_ + " dbname=no_such_database";
  for (const std::string& dsn : {missing_socket, wrong_port, no_database}) {
    for (const std::string& database :
         {dsn + password, "postgresql://app:" + std::string(kPassword) + "@/shop?" +
                              (dsn == no_database ? "host=" + DsnField(dsn_, "host") +
                                                        "&port=" + DsnField(dsn_, "port") +
                                                        "&dbname=no_such_database"
                                                  : "host=/nonexistent/socket")}) {
      const ProcessResult result = RunProcess({BuiltProgram("tidemark"), "run", "-f", dir_,
                                               "--log-level", "debug", "--database", database});
      EXPECT_EQ(result.exit_code, 1) << Describe(result);
      EXPECT_THAT(result.out + result.err, HasSubstr("DatabaseUnavailable")) << Describe(result);
      EXPECT_THAT(result.out + result.err, Not(HasSubstr(kPassword))) << Describe(result);
    }
  }
}

// libpq quotes where it stopped reading a connection string, and RedactDsn cannot find the
// password in one that is not well formed: tidemark shows neither, and says what to fix.
TEST_F(SecretsTest, MalformedConnectionStringsShowNoPartOfThePassword) {
  WriteSteps(EchoingSteps());
  const std::string host = DsnField(dsn_, "host");
  for (const std::string& database :
       {"host=" + host + " dbname=shop password=Tm-Pw 9c41e7",    // a space, unquoted
        "host=" + host + " dbname=shop password='Tm-Pw-9c41e7",   // a quote never closed
        "postgresql://app:Tm-Pw%zz9c41e7@/shop?host=" + host}) {  // a bad percent escape
    const ProcessResult result =
        RunProcess({BuiltProgram("tidemark"), "run", "-f", dir_, "--database", database});
    EXPECT_EQ(result.exit_code, 2) << Describe(result);
    EXPECT_THAT(result.err, HasSubstr("InvalidSpec: the connection string is not valid: "));
    EXPECT_THAT(result.err, HasSubstr("fix spec.database.dsn (or --database, DATABASE_URL)"));
    EXPECT_THAT(result.out + result.err, Not(HasSubstr("9c41e7"))) << Describe(result);
  }
}

// The runner gets the password in its environment (valueFrom a Secret) and prints it before
// failing: the failure quotes its output with the value masked.
TEST_F(SecretsTest, RunnerEnvironmentIsMaskedInItsOutput) {
  const std::string script = dir_ + "/runner.sh";
  std::ofstream(script) << "#!/bin/sh\necho \"connecting with $SHOP_PASSWORD\"\nexit 3\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  WriteSteps(
      "    - {app: shop, name: 0001_data, python: true, forward: \"SELECT 1\"}\n",
      "  policy: {pythonSteps: Run}\n  runner:\n    command: [" + script +
          "]\n    env:\n      - {name: SHOP_PASSWORD, valueFrom: {secretKeyRef: {name: shop-db, "
          "key: password}}}\n");
  std::ofstream(dir_ + "/secret.yaml")
      << "apiVersion: v1\nkind: Secret\nmetadata: {name: shop-db}\ndata: {password: "
      << kPasswordBase64 << "}\n";
  const std::string seen = RunBothWays(dsn_);
  EXPECT_THAT(seen, HasSubstr("RunnerFailed"));
  EXPECT_THAT(seen, HasSubstr("connecting with ***"));
}

}  // namespace
}  // namespace tidemark::testing
