// A restore point before every change (SPEC 1, lastRun.restorePoint) and `apply --backup`:
// the server's time and WAL position in the history and the output, and a pg_dump taken
// before the first change that pg_restore reads, or nothing changed when it fails.
#include <gmock/gmock.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/cli/cli_fixture.h"

namespace tidemark::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFirst[] =
    "    - {app: shop, name: 0001_initial, forward: \"CREATE TABLE item (id int)\"}\n";
constexpr char kSecond[] =
    "    - {app: shop, name: 0002_order, dependencies: [shop.0001_initial],\n"
    "       forward: \"CREATE TABLE shop_order (id int)\"}\n";

class RestorePointTest : public CliTest {
 protected:
  // A pg_dump in front of the real one on PATH, which writes what it was given (its
  // arguments, and whether PGPASSWORD came) to `record` and exits with `code`.
  ProcessOptions WithFakePgDump(int code) {
    const std::string bin = dir_ + "/bin";
    std::filesystem::create_directories(bin);
    const std::string script = bin + "/pg_dump";
    std::ofstream(script) << "#!/bin/sh\necho \"args: $*\" > " << dir_
                          << "/record\necho \"password: $PGPASSWORD\" >> " << dir_
                          << "/record\necho 'pg_dump: error: connection to server failed' >&2\n"
                          << "echo partial > \"${2#--file=}\"\nexit " << code << "\n";
    chmod(script.c_str(), 0755);
    ProcessOptions options;
    options.env["PATH"] = bin + ":" + std::getenv("PATH");
    return options;
  }
  std::string Recorded() const {
    std::ifstream in(dir_ + "/record");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

TEST_F(RestorePointTest, EveryRunThatChangesSomethingRecordsWhereToRestoreTo) {
  WriteSteps(std::string(kFirst) + kSecond);
  const std::string lsn_before = Value("SELECT pg_current_wal_lsn()");
  ProcessResult applied = Tidemark({"apply"});
  ASSERT_EQ(applied.exit_code, 0) << Describe(applied);
  std::smatch point;
  ASSERT_TRUE(std::regex_search(
      applied.out, point,
      std::regex(
          "  Restore point before the first change: ([0-9T:.Z-]+), WAL ([0-9A-F]+/[0-9A-F]+)\n"
          "  \\[1/2\\] Applying shop.0001_initial")))
      << applied.out;
  const std::string at = point[1].str(), lsn = point[2].str();
  // The point is the server's, before the run's first change, and in each of its rows.
  EXPECT_EQ(Value("SELECT '" + lsn + "'::pg_lsn >= '" + lsn_before + "'::pg_lsn"), "t");
  EXPECT_EQ(Value("SELECT count(*) FROM tidemark_history WHERE restore_lsn = '" + lsn +
                  "' AND restore_at = '" + at + "'::timestamptz"),
            "2");
  EXPECT_EQ(Value("SELECT bool_and(restore_at <= started_at) FROM tidemark_history"), "t");

  // Nothing to do: no restore point. A later change gets its own, further on.
  ProcessResult again = Tidemark({"apply"});
  EXPECT_THAT(again.out, Not(HasSubstr("Restore point")));
  WriteSteps(std::string(kFirst) + kSecond +
             "    - {app: shop, name: 0003_note, dependencies: [shop.0002_order],\n"
             "       forward: \"ALTER TABLE item ADD note text\"}\n");
  ProcessResult status = Tidemark({"run"});
  ASSERT_EQ(status.exit_code, 0) << Describe(status);
  EXPECT_THAT(status.out, HasSubstr("lastRun:\n    restorePoint:\n      at: "));
  EXPECT_EQ(Value("SELECT restore_lsn > '" + lsn +
                  "' FROM tidemark_history WHERE name = "
                  "'0003_note'"),
            "t");
}

// A ledger whose history table was made before restore points existed gets their columns.
TEST_F(RestorePointTest, AHistoryTableFromBeforeGetsItsColumns) {
  Query(
      "CREATE TABLE tidemark_history (id bigserial PRIMARY KEY, app varchar(255) NOT NULL,"
      " name varchar(255) NOT NULL, action text NOT NULL, direction text NOT NULL,"
      " checksum text, started_at timestamptz NOT NULL, duration_ms double precision,"
      " plan_namespace text, plan_name text, plan_uid text, plan_generation bigint,"
      " statement_index integer, sql_state text, error text)");
  Query(
      "INSERT INTO tidemark_history (app, name, action, direction, started_at) VALUES "
      "('shop', '0000_old', 'apply', 'forward', now())");
  WriteSteps(kFirst);
  ProcessResult applied = Tidemark({"apply"});
  ASSERT_EQ(applied.exit_code, 0) << Describe(applied);
  EXPECT_EQ(Value("SELECT count(restore_lsn) || '/' || count(*) FROM tidemark_history"), "1/2");
}

TEST_F(RestorePointTest, BackupComesFirstAndPgRestoreReadsIt) {
  WriteSteps(kFirst);
  ASSERT_EQ(Tidemark({"apply"}).exit_code, 0);
  Query("INSERT INTO item VALUES (1), (2)");
  WriteSteps(std::string(kFirst) + kSecond);
  const std::string file = dir_ + "/before.dump";
  ProcessResult applied = Tidemark({"apply", "--backup", file});
  ASSERT_EQ(applied.exit_code, 0) << Describe(applied);
  EXPECT_THAT(applied.out,
              HasSubstr("  Backing up the database with pg_dump to " + file + "... OK ("));
  EXPECT_LT(applied.out.find("Backing up"), applied.out.find("Restore point"));
  const ProcessResult listed = RunProcess({"pg_restore", "--list", file});
  ASSERT_EQ(listed.exit_code, 0) << Describe(listed);
  // The state before the change: the table that was there with its rows, not the new one.
  EXPECT_THAT(listed.out, HasSubstr("TABLE public item"));
  EXPECT_THAT(listed.out, HasSubstr("TABLE DATA public item"));
  EXPECT_THAT(listed.out, Not(HasSubstr("shop_order")));
  EXPECT_TRUE(TableExists("shop_order"));
}

TEST_F(RestorePointTest, AFailedBackupChangesNothingAndThePasswordStaysOffTheCommandLine) {
  WriteSteps(kFirst);
  const std::string file = dir_ + "/before.dump";
  std::vector<std::string> argv = TidemarkArgv({"apply", "--backup", file});
  argv.back() = dsn_ + " password=not-on-argv";  // --database DSN
  const ProcessResult failed = RunProcess(argv, WithFakePgDump(1));
  EXPECT_EQ(failed.exit_code, 1) << Describe(failed);
  EXPECT_THAT(failed.err, HasSubstr("error: BackupFailed: the backup before the first change "
                                    "failed, so nothing was changed: pg_dump to " +
                                    file +
                                    " exited with code 1: pg_dump: error: connection "
                                    "to server failed"));
  EXPECT_THAT(failed.err, Not(HasSubstr("not-on-argv")));
  EXPECT_FALSE(std::filesystem::exists(file)) << "a partial dump was left behind";
  EXPECT_TRUE(LedgerRows().empty());
  EXPECT_FALSE(TableExists("item"));
  const std::string recorded = Recorded();
  EXPECT_THAT(recorded, HasSubstr("args: --format=custom --file=" + file + "\n"));
  EXPECT_THAT(recorded, HasSubstr("password: not-on-argv\n"));

  const ProcessResult missing = [&] {
    ProcessOptions no_pg_dump;
    no_pg_dump.env["PATH"] = dir_ + "/nowhere";
    return Tidemark({"apply", "--backup", file}, no_pg_dump);
  }();
  EXPECT_EQ(missing.exit_code, 1) << Describe(missing);
  EXPECT_THAT(missing.err, HasSubstr("could not start pg_dump: No such file or directory; "
                                     "install the PostgreSQL client programs"));
  EXPECT_FALSE(TableExists("item"));
}

}  // namespace
}  // namespace tidemark::testing
