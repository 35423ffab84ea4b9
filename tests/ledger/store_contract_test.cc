// The contract of ledger::Store (src/ledger/store.h), run against both of its
// implementations: the PostgreSQL store on a real server (a fresh database per test) and
// the in-memory test double (tests/support/memory_store.h) the engine's tests rely on.
// A case that passes on one and fails on the other is a difference between them.
//
// What a statement does is each backend's business: PostgreSQL runs real SQL that fails or
// creates a table; the memory store is scripted to do the same for the same text.
#include <gmock/gmock.h>
#include <libpq-fe.h>

#include <functional>
#include <thread>

#include "postgres/pg_store.h"
#include "tests/support/memory_store.h"
#include "tests/support/postgres_fixture.h"

namespace tidemark::testing {
namespace {

using ledger::Direction;
using ledger::StepRun;
using ledger::StorePtr;
using plan::StepId;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

// Relations that are not ordinary tables.
enum class Relation {
  kIndex,
  kSequence,
  kView,
  kMaterializedView,
  kPartitionedTable,
  kPartition,
  kForeignTable,
};

// One test's database, and statements that do something on it.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual Result<StorePtr> Connect(const MemoryLedger& ledger = {}) = 0;
  virtual void CreateSchema(const std::string& schema) = 0;
  // `table` unqualified is in schema public.
  virtual void CreateTable(const std::string& table) = 0;
  // A relation of that kind named `name` in schema public (with what it needs: the table
  // of an index, the parent of a partition, the server of a foreign table).
  virtual void CreateRelation(Relation kind, const std::string& name) = 0;
  // A statement that fails with SQLSTATE 22012, "division by zero".
  virtual std::string DivisionByZero() = 0;
  // A statement that creates `table` in the store's schema.
  virtual std::string Creating(const std::string& table) = 0;
  // A statement that waits for a lock another session keeps: it meets lock_timeout.
  virtual std::string Blocked() = 0;
  // A statement during which the connection is lost.
  virtual std::string LosingTheConnection() = 0;
  // A back-fill's batch statement over `rows` rows that changes at most `batch` of them each
  // time, those it has not changed yet.
  virtual std::string Backfill(int rows, int batch) = 0;
};

class PostgresBackend : public Backend {
 public:
  PostgresBackend() : dsn_(server().CreateDatabase("contract")) {}
  ~PostgresBackend() override {
    if (blocker_) PQfinish(blocker_);
  }

  Result<StorePtr> Connect(const MemoryLedger& ledger) override {
    postgres::ConnectOptions options;
    options.schema = ledger.schema;
    options.ledger = ledger.tables;
    return postgres::Connect(postgres::ConnectionParams{{{"dbname", dsn_}}}, options);
  }
  void CreateSchema(const std::string& schema) override {
    server().Query(dsn_, "CREATE SCHEMA " + schema);
  }
  void CreateTable(const std::string& table) override {
    server().Query(dsn_, "CREATE TABLE " + table + " (id int)");
  }
  void CreateRelation(Relation kind, const std::string& name) override {
    server().Query(dsn_, RelationSql(kind, name));
  }
  std::string DivisionByZero() override { return "SELECT 1/0"; }
  std::string Creating(const std::string& table) override {
    return "CREATE TABLE " + table + " (id int)";
  }
  std::string Blocked() override {
    // Another session keeps an advisory lock that the statement waits for.
    blocker_ = PQconnectdb(dsn_.c_str());
    PQclear(PQexec(blocker_, "SELECT pg_advisory_lock(4242)"));
    return "SELECT pg_advisory_xact_lock(4242)";
  }
  std::string LosingTheConnection() override {
    return "SELECT pg_terminate_backend(pg_backend_pid())";
  }
  std::string Backfill(int rows, int batch) override {
    server().Query(dsn_,
                   "CREATE TABLE filled (id int PRIMARY KEY, c int); INSERT INTO filled "
                   "SELECT g FROM generate_series(1, " +
                       std::to_string(rows) + ") g");
    return "UPDATE filled SET c = 1 WHERE id IN (SELECT id FROM filled WHERE c IS NULL LIMIT " +
           std::to_string(batch) + ")";
  }

 private:
  static PostgresServer& server() { return PostgresServer::Get(); }
  static std::string RelationSql(Relation kind, const std::string& name);

  const std::string dsn_;
  PGconn* blocker_ = nullptr;
};

std::string PostgresBackend::RelationSql(Relation kind, const std::string& name) {
  switch (kind) {
    case Relation::kIndex:
      return "CREATE TABLE indexed (id int); CREATE INDEX " + name + " ON indexed (id)";
    case Relation::kSequence:
      return "CREATE SEQUENCE " + name;
    case Relation::kView:
      return "CREATE VIEW " + name + " AS SELECT 1 AS id";
    case Relation::kMaterializedView:
      return "CREATE MATERIALIZED VIEW " + name + " AS SELECT 1 AS id";
    case Relation::kPartitionedTable:
      return "CREATE TABLE " + name + " (id int) PARTITION BY RANGE (id)";
    case Relation::kPartition:
      return "CREATE TABLE parent (id int) PARTITION BY RANGE (id); CREATE TABLE " + name +
             " PARTITION OF parent FOR VALUES FROM (0) TO (10)";
    case Relation::kForeignTable:
      return "CREATE FOREIGN DATA WRAPPER nowhere; CREATE SERVER elsewhere FOREIGN DATA WRAPPER"
             " nowhere; CREATE FOREIGN TABLE " +
             name + " (id int) SERVER elsewhere";
  }
  return "";
}

class MemoryBackend : public Backend {
 public:
  Result<StorePtr> Connect(const MemoryLedger& ledger) override { return db_.Connect(ledger); }
  void CreateSchema(const std::string& schema) override { db_.AddSchema(schema); }
  void CreateTable(const std::string& table) override { db_.AddTable(table); }
  // The memory database holds only tables: the other relations have nothing to add.
  void CreateRelation(Relation kind, const std::string& name) override {
    if (kind == Relation::kPartitionedTable || kind == Relation::kForeignTable) db_.AddTable(name);
  }
  std::string DivisionByZero() override {
    const std::string statement = "SELECT 1/0";
    db_.FailStatement(statement, StatementFailure::Error("22012", "division by zero"));
    return statement;
  }
  std::string Creating(const std::string& table) override {
    const std::string statement = "CREATE TABLE " + table + " (id int)";
    db_.StatementCreates(statement, {table});
    return statement;
  }
  std::string Blocked() override {
    const std::string statement = "SELECT pg_advisory_xact_lock(4242)";
    db_.FailStatement(statement, StatementFailure::LockTimeout());
    return statement;
  }
  std::string LosingTheConnection() override {
    const std::string statement = "SELECT pg_terminate_backend(pg_backend_pid())";
    db_.FailStatement(statement, StatementFailure::ConnectionLost());
    return statement;
  }
  std::string Backfill(int rows, int batch) override {
    const std::string statement =
        "UPDATE filled SET c = 1 WHERE id IN (SELECT id FROM filled WHERE c IS NULL LIMIT " +
        std::to_string(batch) + ")";
    std::vector<int64_t> batches;
    for (int left = rows; left > 0; left -= batch) batches.push_back(std::min(left, batch));
    db_.BatchRows(statement, batches);
    return statement;
  }

 private:
  MemoryDatabase db_;
};

struct BackendParam {
  std::string name;
  std::function<std::unique_ptr<Backend>()> make;
};
void PrintTo(const BackendParam& param, std::ostream* out) { *out << param.name; }

class StoreContractTest : public ::testing::TestWithParam<BackendParam> {
 protected:
  void SetUp() override { backend_ = GetParam().make(); }

  StorePtr Connect(const MemoryLedger& ledger = {}) {
    auto store = backend_->Connect(ledger);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  // A session on the default ledger with its tables made.
  StorePtr Ready() {
    StorePtr store = Connect();
    if (store) {
      EXPECT_TRUE(store->EnsureTables().ok());
    }
    return store;
  }
  static ledger::Recorded Read(ledger::Store& store, const std::vector<std::string>& apps) {
    auto recorded = store.Read(apps);
    EXPECT_TRUE(recorded.ok()) << recorded.status().ToString();
    return recorded.ok() ? std::move(recorded).value() : ledger::Recorded{};
  }
  static bool LedgerExists(ledger::Store& store) {
    auto exists = store.LedgerExists();
    EXPECT_TRUE(exists.ok()) << exists.status().ToString();
    return exists.ok() && *exists;
  }
  static std::set<std::string> Existing(ledger::Store& store,
                                        const std::vector<std::string>& tables) {
    auto existing = store.ExistingTables(tables);
    EXPECT_TRUE(existing.ok()) << existing.status().ToString();
    return existing.ok() ? *existing : std::set<std::string>{};
  }

  std::unique_ptr<Backend> backend_;
};

StepId Shop(const std::string& name) { return {"shop", name}; }

// A forward step of `id` recording itself.
StepRun Step(const StepId& id, std::vector<std::string> statements, bool atomic = true) {
  StepRun run;
  run.id = id;
  run.atomic = atomic;
  run.statements = std::move(statements);
  run.records = {id};
  run.checksum = "sum-" + id.name;
  run.lock_timeout = milliseconds(100);
  run.plan = {"default", "contract", "uid-1", 1};
  return run;
}

// A back-fill of `id` with its one batch statement.
StepRun Backfill(const StepId& id, const std::string& statement, int64_t max_batches = 0) {
  StepRun run = Step(id, {statement});
  ledger::BackfillRun& backfill = run.backfill.emplace();
  backfill.max_batches = max_batches;
  return run;
}

TEST_P(StoreContractTest, OnlyEnsureTablesCreatesTheLedger) {
  StorePtr store = Connect();
  ASSERT_TRUE(store);
  EXPECT_FALSE(LedgerExists(*store));
  const ledger::Recorded empty = Read(*store, {"shop"});
  EXPECT_TRUE(empty.applied.empty());
  EXPECT_TRUE(empty.history.checksums.empty());
  EXPECT_FALSE(LedgerExists(*store));  // reading creates nothing

  ASSERT_TRUE(store->EnsureTables().ok());
  EXPECT_TRUE(LedgerExists(*store));
  ASSERT_TRUE(store->EnsureTables().ok());  // again: nothing to do
  StorePtr other = Connect();
  ASSERT_TRUE(other);
  EXPECT_TRUE(LedgerExists(*other));
  EXPECT_EQ(Existing(*other, {"django_migrations", "tidemark_history"}),
            (std::set<std::string>{"django_migrations", "tidemark_history"}));
  EXPECT_THAT(other->Describe(), HasSubstr("/public/django_migrations"));
}

TEST_P(StoreContractTest, AMissingSchemaIsAFailedPrecondition) {
  auto store = backend_->Connect({"nowhere", {}});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("schema \"nowhere\" does not exist"));
}

TEST_P(StoreContractTest, TheLockExcludesOtherSessionsOfTheSameLedgerOnly) {
  backend_->CreateSchema("other");
  StorePtr first = Connect(), second = Connect();
  StorePtr other_table = Connect({"public", {"other_migrations", "other_history"}});
  StorePtr other_schema = Connect({"other", {}});
  ASSERT_TRUE(first && second && other_table && other_schema);

  ASSERT_TRUE(first->Lock(milliseconds(1000)).ok());
  auto refused = second->Lock(milliseconds(100));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(refused.status().message(), HasSubstr("another session holds the migration lock"));
  EXPECT_TRUE(other_table->Lock(milliseconds(100)).ok());
  EXPECT_TRUE(other_schema->Lock(milliseconds(100)).ok());

  ASSERT_TRUE(first->Unlock().ok());
  EXPECT_TRUE(second->Lock(milliseconds(100)).ok());
}

TEST_P(StoreContractTest, ALockGoesWithItsSession) {
  StorePtr first = Connect(), second = Connect();
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->Lock(milliseconds(1000)).ok());
  first.reset();  // closed without Unlock
  EXPECT_TRUE(second->Lock(milliseconds(5000)).ok());
}

TEST_P(StoreContractTest, ALockWaitsForItsReleaseWithinMaxWait) {
  StorePtr first = Connect(), second = Connect();
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->Lock(milliseconds(1000)).ok());
  std::jthread releaser([&] {
    std::this_thread::sleep_for(milliseconds(500));
    EXPECT_TRUE(first->Unlock().ok());
  });
  auto waited = second->Lock(milliseconds(10'000));
  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  EXPECT_GT(*waited, 0.0);  // it waited rather than found the lock free
}

TEST_P(StoreContractTest, AnAtomicStepRecordsItsRowsAndChecksum) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  // A squash records itself and the steps it replaces.
  StepRun squash = Step(Shop("0001_squashed_0002"), {backend_->Creating("t1")});
  squash.records = {Shop("0001_squashed_0002"), Shop("0001"), Shop("0002")};
  const ledger::StepResult result = store->Run(squash);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_GE(result.duration_ms, 0);

  const ledger::Recorded recorded = Read(*store, {"shop"});
  EXPECT_EQ(recorded.applied,
            (std::set<StepId>{Shop("0001_squashed_0002"), Shop("0001"), Shop("0002")}));
  EXPECT_EQ(
      recorded.history.checksums,
      (std::map<StepId, std::string>{{Shop("0001_squashed_0002"), "sum-0001_squashed_0002"}}));
  EXPECT_TRUE(recorded.history.failures.empty());
  EXPECT_TRUE(recorded.history.dirty.empty());
  EXPECT_EQ(Existing(*store, {"t1"}), std::set<std::string>{"t1"});
}

// "0/1A2B3C8" as a number, to compare WAL positions.
uint64_t LsnValue(const std::string& lsn) {
  const size_t slash = lsn.find('/');
  return (std::stoull(lsn.substr(0, slash), nullptr, 16) << 32) |
         std::stoull(lsn.substr(slash + 1), nullptr, 16);
}

TEST_P(StoreContractTest, RestorePointsMoveForwardWithTheChangesTheyPrecede) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  auto before = store->MarkRestorePoint();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_THAT(before->at,
              ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}.*Z"));
  EXPECT_THAT(before->wal_lsn, ::testing::MatchesRegex("[0-9A-F]+/[0-9A-F]+"));
  StepRun run = Step(Shop("0001"), {backend_->Creating("t1")});
  run.restore_point = *before;
  const ledger::StepResult result = store->Run(run);
  ASSERT_TRUE(result.ok) << result.error.message;
  auto after = store->MarkRestorePoint();
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_GT(LsnValue(after->wal_lsn), LsnValue(before->wal_lsn));
  EXPECT_GE(after->at, before->at);
}

TEST_P(StoreContractTest, AFailedAtomicStepLeavesTheLedgerAsItWas) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  const StepRun failing =
      Step(Shop("0001"), {backend_->Creating("t2"), backend_->DivisionByZero()});
  const ledger::StepResult result = store->Run(failing);
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.error.statement_index, 1);
  EXPECT_EQ(result.error.statement, "SELECT 1/0");
  EXPECT_EQ(result.error.sql_state, "22012");
  EXPECT_THAT(result.error.message, HasSubstr("division by zero"));
  EXPECT_FALSE(result.error.lock_timeout);
  EXPECT_FALSE(result.error.connection_lost);
  EXPECT_FALSE(result.error.dirty);

  ledger::Recorded recorded = Read(*store, {"shop"});
  EXPECT_TRUE(recorded.applied.empty());
  EXPECT_TRUE(recorded.history.checksums.empty());
  EXPECT_TRUE(recorded.history.dirty.empty());
  EXPECT_EQ(recorded.history.failures, (std::map<StepId, int>{{Shop("0001"), 1}}));
  EXPECT_TRUE(Existing(*store, {"t2"}).empty());  // rolled back with the step

  ASSERT_FALSE(store->Run(failing).ok);
  EXPECT_EQ(Read(*store, {"shop"}).history.failures.at(Shop("0001")), 2);
  // A success ends the count.
  ASSERT_TRUE(store->Run(Step(Shop("0001"), {backend_->Creating("t2")})).ok);
  recorded = Read(*store, {"shop"});
  EXPECT_TRUE(recorded.history.failures.empty());
  EXPECT_EQ(recorded.applied, std::set<StepId>{Shop("0001")});
}

TEST_P(StoreContractTest, ANonAtomicFailureLeavesTheStepDirtyUntilResolved) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  const std::string failing = backend_->DivisionByZero();
  for (const std::string name : {"0001", "0002"}) {
    const ledger::StepResult result =
        store->Run(Step(Shop(name), {backend_->Creating("t3_" + name), failing}, false));
    ASSERT_FALSE(result.ok);
    EXPECT_TRUE(result.error.dirty);
    EXPECT_EQ(result.error.statement_index, 1);
    EXPECT_EQ(result.error.sql_state, "22012");
  }
  // Statement 1 stays done.
  EXPECT_EQ(Existing(*store, {"t3_0001", "t3_0002"}),
            (std::set<std::string>{"t3_0001", "t3_0002"}));

  ledger::Recorded recorded = Read(*store, {"shop"});
  EXPECT_TRUE(recorded.applied.empty());
  ASSERT_EQ(recorded.history.dirty.size(), 2u);
  const ledger::DirtyStep& dirty = recorded.history.dirty.at(Shop("0001"));
  EXPECT_TRUE(dirty.forward);
  EXPECT_EQ(dirty.statement_index, 1);
  EXPECT_FALSE(dirty.started_at.empty());
  EXPECT_THAT(dirty.error, HasSubstr("division by zero"));
  EXPECT_EQ(recorded.history.failures.at(Shop("0001")), 1);

  const ledger::PlanRef plan{"default", "contract", "uid-1", 1};
  ASSERT_TRUE(store->Resolve(Shop("0001"), {Shop("0001")}, true, plan).ok());
  ASSERT_TRUE(store->Resolve(Shop("0002"), {Shop("0002")}, false, plan).ok());
  recorded = Read(*store, {"shop"});
  EXPECT_EQ(recorded.applied, std::set<StepId>{Shop("0001")});
  EXPECT_TRUE(recorded.history.dirty.empty());
  EXPECT_TRUE(recorded.history.failures.empty());

  // Resolving as unapplied removes the rows that are there.
  ASSERT_TRUE(store->Resolve(Shop("0001"), {Shop("0001")}, false, plan).ok());
  EXPECT_TRUE(Read(*store, {"shop"}).applied.empty());
}

TEST_P(StoreContractTest, ABackwardRunDeletesItsRows) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  StepRun forward = Step(Shop("0002_squashed"), {});
  forward.records = {Shop("0002_squashed"), Shop("0002")};
  ASSERT_TRUE(store->Run(forward).ok);
  ASSERT_TRUE(store->Run(Step(Shop("0003"), {})).ok);

  StepRun backward = forward;
  backward.direction = Direction::kBackward;
  backward.statements = {backend_->Creating("t4")};
  ASSERT_TRUE(store->Run(backward).ok);
  const ledger::Recorded recorded = Read(*store, {"shop"});
  EXPECT_EQ(recorded.applied, std::set<StepId>{Shop("0003")});
  EXPECT_EQ(recorded.history.checksums.count(Shop("0002_squashed")), 0u);
  EXPECT_EQ(Existing(*store, {"t4"}), std::set<std::string>{"t4"});
}

TEST_P(StoreContractTest, AFakeRunRecordsWithoutRunning) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  for (const bool atomic : {true, false}) {
    const StepId id = Shop(atomic ? "0001" : "0002");
    StepRun fake = Step(id, {backend_->Creating("t5"), backend_->DivisionByZero()}, atomic);
    fake.fake = true;
    const ledger::StepResult result = store->Run(fake);
    ASSERT_TRUE(result.ok) << result.error.message;
  }
  const ledger::Recorded recorded = Read(*store, {"shop"});
  EXPECT_EQ(recorded.applied, (std::set<StepId>{Shop("0001"), Shop("0002")}));
  EXPECT_EQ(recorded.history.checksums.at(Shop("0001")), "sum-0001");
  EXPECT_TRUE(recorded.history.dirty.empty());
  EXPECT_TRUE(Existing(*store, {"t5"}).empty());

  StepRun fake_revert = Step(Shop("0001"), {backend_->DivisionByZero()});
  fake_revert.direction = Direction::kBackward;
  fake_revert.fake = true;
  ASSERT_TRUE(store->Run(fake_revert).ok);
  const ledger::Recorded reverted = Read(*store, {"shop"});
  EXPECT_EQ(reverted.applied, std::set<StepId>{Shop("0002")});
  EXPECT_EQ(reverted.history.checksums.count(Shop("0001")), 0u);
}

TEST_P(StoreContractTest, ReadGivesOnlyTheAskedApps) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Run(Step(Shop("0001"), {})).ok);
  ASSERT_TRUE(store->Run(Step({"billing", "0001"}, {})).ok);
  ASSERT_FALSE(store->Run(Step({"billing", "0002"}, {backend_->DivisionByZero()})).ok);

  const ledger::Recorded shop = Read(*store, {"shop"});
  EXPECT_EQ(shop.applied, std::set<StepId>{Shop("0001")});
  EXPECT_EQ(shop.history.checksums.size(), 1u);
  EXPECT_TRUE(shop.history.failures.empty());
  const ledger::Recorded both = Read(*store, {"billing", "shop"});
  EXPECT_EQ(both.applied.size(), 2u);
  EXPECT_EQ(both.history.failures, (std::map<StepId, int>{{{"billing", "0002"}, 1}}));
  EXPECT_TRUE(Read(*store, {}).applied.empty());
}

TEST_P(StoreContractTest, ExistingTablesNamesThoseThatExist) {
  backend_->CreateSchema("other");
  backend_->CreateTable("t6");
  backend_->CreateTable("other.t7");
  StorePtr store = Connect();
  ASSERT_TRUE(store);
  EXPECT_EQ(Existing(*store, {"t6", "missing", "other.t7", "other.missing", "public.t6"}),
            (std::set<std::string>{"t6", "other.t7"}));
  EXPECT_TRUE(Existing(*store, {}).empty());
}

// Django's --fake-initial looks for tables (introspection.table_names()): another relation
// of the name says nothing about whether the initial step ran.
TEST_P(StoreContractTest, ExistingTablesCountsOnlyTables) {
  backend_->CreateTable("t8");
  backend_->CreateRelation(Relation::kIndex, "t9_index");
  backend_->CreateRelation(Relation::kSequence, "t10_seq");
  backend_->CreateRelation(Relation::kView, "t11_view");
  backend_->CreateRelation(Relation::kMaterializedView, "t12_matview");
  backend_->CreateRelation(Relation::kPartitionedTable, "t13_partitioned");
  backend_->CreateRelation(Relation::kPartition, "t14_partition");
  backend_->CreateRelation(Relation::kForeignTable, "t15_foreign");
  StorePtr store = Connect();
  ASSERT_TRUE(store);
  EXPECT_EQ(Existing(*store, {"t8", "t9_index", "t10_seq", "t11_view", "t12_matview",
                              "t13_partitioned", "t14_partition", "t15_foreign"}),
            (std::set<std::string>{"t8", "t13_partitioned", "t15_foreign"}));
}

TEST_P(StoreContractTest, ALockTimeoutSaysSo) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  const std::string blocked = backend_->Blocked();
  const ledger::StepResult atomic = store->Run(Step(Shop("0001"), {blocked}));
  ASSERT_FALSE(atomic.ok);
  EXPECT_TRUE(atomic.error.lock_timeout);
  EXPECT_EQ(atomic.error.sql_state, "55P03");
  EXPECT_EQ(atomic.error.statement_index, 0);
  EXPECT_FALSE(atomic.error.dirty);  // rolled back: worth retrying
  EXPECT_FALSE(atomic.error.connection_lost);

  const ledger::StepResult non_atomic =
      store->Run(Step(Shop("0002"), {"SELECT 1", blocked}, false));
  ASSERT_FALSE(non_atomic.ok);
  EXPECT_TRUE(non_atomic.error.lock_timeout);
  EXPECT_EQ(non_atomic.error.statement_index, 1);
  EXPECT_TRUE(non_atomic.error.dirty);  // its first statement stays done

  const ledger::Recorded recorded = Read(*store, {"shop"});
  EXPECT_TRUE(recorded.applied.empty());
  EXPECT_EQ(recorded.history.failures.at(Shop("0001")), 1);
  EXPECT_EQ(recorded.history.dirty.count(Shop("0001")), 0u);
  EXPECT_EQ(recorded.history.dirty.count(Shop("0002")), 1u);
}

TEST_P(StoreContractTest, ALostConnectionEndsTheSessionAndItsLock) {
  StorePtr store = Ready();
  StorePtr other = Connect();
  ASSERT_TRUE(store && other);
  ASSERT_TRUE(store->Lock(milliseconds(1000)).ok());
  const ledger::StepResult result =
      store->Run(Step(Shop("0001"), {backend_->Creating("t8"), backend_->LosingTheConnection()}));
  ASSERT_FALSE(result.ok);
  EXPECT_TRUE(result.error.connection_lost);
  EXPECT_FALSE(result.error.dirty);

  EXPECT_EQ(store->Read({"shop"}).status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(store->Run(Step(Shop("0002"), {})).ok);
  EXPECT_TRUE(other->Lock(milliseconds(5000)).ok());
  const ledger::Recorded recorded = Read(*other, {"shop"});
  EXPECT_TRUE(recorded.applied.empty());
  EXPECT_TRUE(recorded.history.failures.empty());  // nobody could record it
  EXPECT_TRUE(Existing(*other, {"t8"}).empty());
}

TEST_P(StoreContractTest, ALostConnectionInANonAtomicStepLeavesItDirty) {
  StorePtr store = Ready();
  StorePtr other = Connect();
  ASSERT_TRUE(store && other);
  const ledger::StepResult result = store->Run(
      Step(Shop("0001"), {backend_->Creating("t9"), backend_->LosingTheConnection()}, false));
  ASSERT_FALSE(result.ok);
  EXPECT_TRUE(result.error.connection_lost);
  EXPECT_TRUE(result.error.dirty);
  EXPECT_EQ(result.error.statement_index, 1);

  // Another session finds it dirty from its "started" marker alone.
  const ledger::Recorded recorded = Read(*other, {"shop"});
  ASSERT_EQ(recorded.history.dirty.count(Shop("0001")), 1u);
  EXPECT_EQ(recorded.history.dirty.at(Shop("0001")).statement_index, 1);
  EXPECT_TRUE(recorded.history.dirty.at(Shop("0001")).error.empty());
  EXPECT_TRUE(recorded.applied.empty());
  EXPECT_EQ(Existing(*other, {"t9"}), std::set<std::string>{"t9"});
}

TEST_P(StoreContractTest, AResumedNonAtomicStepGoesOnFromTheStatementReached) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  // The statement before the one reached was done by the interrupted run: not run again.
  StepRun run = Step(Shop("0001"), {backend_->DivisionByZero(), backend_->Creating("t10")}, false);
  run.resume_at = 1;
  const ledger::StepResult result = store->Run(run);
  ASSERT_TRUE(result.ok) << result.error.message;
  const ledger::Recorded recorded = Read(*store, {"shop"});
  EXPECT_EQ(recorded.applied, std::set<StepId>{Shop("0001")});
  EXPECT_TRUE(recorded.history.dirty.empty());
  EXPECT_EQ(Existing(*store, {"t10"}), std::set<std::string>{"t10"});
}

TEST_P(StoreContractTest, LedgersOfOneDatabaseAreIndependent) {
  StorePtr store = Ready();
  StorePtr other = Connect({"public", {"other_migrations", "other_history"}});
  ASSERT_TRUE(store && other);
  ASSERT_TRUE(other->EnsureTables().ok());
  ASSERT_TRUE(store->Run(Step(Shop("0001"), {})).ok);
  ASSERT_FALSE(store->Run(Step(Shop("0002"), {backend_->DivisionByZero()})).ok);
  const ledger::Recorded recorded = Read(*other, {"shop"});
  EXPECT_TRUE(recorded.applied.empty());
  EXPECT_TRUE(recorded.history.checksums.empty());
  EXPECT_TRUE(recorded.history.failures.empty());
  EXPECT_THAT(other->Describe(), HasSubstr("/public/other_migrations"));
}

TEST_P(StoreContractTest, RunningWithoutTheTablesFailsAndCreatesNothing) {
  StorePtr store = Connect();
  ASSERT_TRUE(store);
  const ledger::StepResult atomic = store->Run(Step(Shop("0001"), {}));
  ASSERT_FALSE(atomic.ok);
  EXPECT_EQ(atomic.error.statement_index, -1);
  EXPECT_THAT(atomic.error.message, HasSubstr("recording the step in the ledger failed"));
  const ledger::StepResult non_atomic = store->Run(Step(Shop("0002"), {}, false));
  ASSERT_FALSE(non_atomic.ok);
  EXPECT_FALSE(non_atomic.error.dirty);
  EXPECT_FALSE(LedgerExists(*store));
}

TEST_P(StoreContractTest, ARunnerRunIsRecordedOncePerId) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  const StepRun run = Step(Shop("0002"), {});
  ledger::StepResult failed;
  failed.by_runner = true;
  failed.duration_ms = 12;
  failed.error.message = "the runner failed";
  failed.runner_run_id = "uid-of-job-1";
  ASSERT_TRUE(store->RecordRunnerStep(run, failed).ok());
  ASSERT_TRUE(store->RecordRunnerStep(run, failed).ok());  // found again after a crash
  EXPECT_EQ(Read(*store, {"shop"}).history.failures.at(Shop("0002")), 1);
  // The same id on another step, another id, or none: rows of their own.
  ASSERT_TRUE(store->RecordRunnerStep(Step(Shop("0003"), {}), failed).ok());
  EXPECT_EQ(Read(*store, {"shop"}).history.failures.at(Shop("0003")), 1);
  failed.runner_run_id = "uid-of-job-2";
  ASSERT_TRUE(store->RecordRunnerStep(run, failed).ok());
  failed.runner_run_id = "";
  ASSERT_TRUE(store->RecordRunnerStep(run, failed).ok());
  ASSERT_TRUE(store->RecordRunnerStep(run, failed).ok());
  EXPECT_EQ(Read(*store, {"shop"}).history.failures.at(Shop("0002")), 4);
}

TEST_P(StoreContractTest, ARunnerClaimLastsUntilTheStepsNextRow) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  const StepRun run = Step(Shop("0002"), {});
  const std::string job = "Job default/contract-apply-1 (uid 1)";
  ASSERT_TRUE(store->RecordRunnerClaim(run, job, /*started=*/true).ok());
  ledger::History history = Read(*store, {"shop"}).history;
  ASSERT_EQ(history.claims.count(Shop("0002")), 1u);
  const ledger::RunnerClaim claim = history.claims.at(Shop("0002"));
  EXPECT_TRUE(claim.forward);
  EXPECT_EQ(claim.run_id, job);
  EXPECT_EQ(claim.plan, "default/contract");
  EXPECT_FALSE(claim.since.empty());
  EXPECT_TRUE(history.failures.empty());
  EXPECT_TRUE(history.dirty.empty());
  // Its outcome, recorded under the same id, is written (the claim is no outcome) and ends it.
  ledger::StepResult applied;
  applied.ok = true;
  applied.by_runner = true;
  applied.runner_run_id = job;
  ASSERT_TRUE(store->RecordRunnerStep(run, applied).ok());
  history = Read(*store, {"shop"}).history;
  EXPECT_TRUE(history.claims.empty());
  EXPECT_EQ(history.checksums.at(Shop("0002")), "sum-0002");
  // A run that is gone ends its claim without counting as a failure.
  ASSERT_TRUE(store->RecordRunnerClaim(run, "Job default/x (uid 2)", true).ok());
  ASSERT_TRUE(store->RecordRunnerClaim(run, "Job default/x (uid 2)", false).ok());
  history = Read(*store, {"shop"}).history;
  EXPECT_TRUE(history.claims.empty());
  EXPECT_TRUE(history.failures.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StoreContractTest,
    ::testing::Values(BackendParam{"Postgres", [] { return std::make_unique<PostgresBackend>(); }},
                      BackendParam{"Memory", [] { return std::make_unique<MemoryBackend>(); }}),
    [](const ::testing::TestParamInfo<BackendParam>& param) { return param.param.name; });

}  // namespace
}  // namespace tidemark::testing

namespace tidemark::testing {
namespace {

TEST_P(StoreContractTest, ABackfillRunsBatchesUntilOneChangesNoRowThenRecordsItself) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  StepRun run = Backfill(Shop("0002_fill"), backend_->Backfill(2500, 1000));
  std::vector<std::pair<int64_t, int64_t>> seen;  // rows, batches after each batch
  int pauses = 0;
  run.backfill->on_progress = [&](const ledger::BackfillProgress& progress) {
    seen.emplace_back(progress.rows, progress.batches);
    // The ledger row is written by the last batch only.
    if (progress.batches < 3) {
      StorePtr other = Connect();
      EXPECT_TRUE(other && Read(*other, {"shop"}).applied.empty());
    }
  };
  run.backfill->pause = [&](milliseconds) { return ++pauses > 0; };
  const ledger::StepResult result = store->Run(run);
  ASSERT_TRUE(result.ok) << result.error.message;
  ASSERT_TRUE(result.backfill);
  EXPECT_EQ(result.backfill->rows, 2500);
  EXPECT_EQ(result.backfill->batches, 3);  // the last, empty one not counted
  EXPECT_EQ(seen,
            (std::vector<std::pair<int64_t, int64_t>>{{1000, 1}, {2000, 2}, {2500, 3}, {2500, 3}}));
  EXPECT_EQ(pauses, 3);  // after each batch that changed rows
  const ledger::Recorded recorded = Read(*store, {"shop"});
  EXPECT_EQ(recorded.applied, std::set<StepId>{Shop("0002_fill")});
  EXPECT_EQ(recorded.history.checksums.at(Shop("0002_fill")), "sum-0002_fill");
}

TEST_P(StoreContractTest, AStoppedBackfillKeepsItsCountsAndTheNextRunGoesOnFromThem) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  StepRun run = Backfill(Shop("0002_fill"), backend_->Backfill(2500, 1000));
  run.backfill->pause = [](milliseconds) { return false; };  // asked to stop after a batch
  const ledger::StepResult stopped = store->Run(run);
  ASSERT_FALSE(stopped.ok);
  EXPECT_TRUE(stopped.error.stopped);
  EXPECT_FALSE(stopped.error.not_converging);
  EXPECT_THAT(stopped.error.message, HasSubstr("stopped after 1 batches"));
  EXPECT_EQ(stopped.backfill->rows, 1000);
  EXPECT_TRUE(Read(*store, {"shop"}).applied.empty());
  EXPECT_TRUE(Read(*store, {"shop"}).history.failures.empty());  // a shutdown is no failure

  StorePtr next = Connect();  // another session, as after a crash
  ASSERT_TRUE(next);
  run.backfill->pause = nullptr;
  const ledger::StepResult resumed = next->Run(run);
  ASSERT_TRUE(resumed.ok) << resumed.error.message;
  EXPECT_EQ(resumed.backfill->rows, 2500);
  EXPECT_EQ(resumed.backfill->batches, 3);
  EXPECT_EQ(resumed.backfill->run_rows, 1500);
  EXPECT_THAT(resumed.notes, ::testing::Contains(HasSubstr("went on from an earlier run's 1,000 "
                                                           "rows in 1 batches")));
  EXPECT_EQ(Read(*next, {"shop"}).applied, std::set<StepId>{Shop("0002_fill")});
}

TEST_P(StoreContractTest, ABackfillWhoseStatementChangedCountsFromZero) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  StepRun run = Backfill(Shop("0002_fill"), backend_->Backfill(2500, 1000));
  run.backfill->pause = [](milliseconds) { return false; };
  ASSERT_EQ(store->Run(run).backfill->rows, 1000);
  run.checksum = "sum-edited";  // the statement was edited since
  run.backfill->pause = nullptr;
  const ledger::StepResult result = store->Run(run);
  ASSERT_TRUE(result.ok) << result.error.message;
  EXPECT_THAT(result.notes, ::testing::ElementsAre(
                                "the batch statement changed since an earlier run counted 1000 "
                                "rows; counting from zero (the statement runs until it changes "
                                "no row either way)"));
  EXPECT_EQ(result.backfill->rows, 1500);  // this run's batches only
  EXPECT_EQ(result.backfill->batches, 2);
}

TEST_P(StoreContractTest, ABackfillPastMaxBatchesStopsUnrecordedAsNotConverging) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  const ledger::StepResult result =
      store->Run(Backfill(Shop("0002_fill"), backend_->Backfill(2500, 1000), /*max_batches=*/2));
  ASSERT_FALSE(result.ok);
  EXPECT_TRUE(result.error.not_converging);
  EXPECT_THAT(result.error.message, HasSubstr("2 batches (maxBatches 2)"));
  EXPECT_THAT(result.error.message, HasSubstr("probably not converging"));
  EXPECT_EQ(result.backfill->rows, 2000);
  const ledger::Recorded recorded = Read(*store, {"shop"});
  EXPECT_TRUE(recorded.applied.empty());
  EXPECT_EQ(recorded.history.failures.at(Shop("0002_fill")), 1);
}

TEST_P(StoreContractTest, ABackfillBatchThatMeetsLockTimeoutFailsUnrecorded) {
  StorePtr store = Ready();
  ASSERT_TRUE(store);
  const ledger::StepResult result = store->Run(Backfill(Shop("0002_fill"), backend_->Blocked()));
  ASSERT_FALSE(result.ok);
  EXPECT_TRUE(result.error.lock_timeout);
  EXPECT_EQ(result.error.sql_state, "55P03");
  EXPECT_EQ(result.error.statement_index, 0);
  EXPECT_FALSE(result.error.dirty);
  EXPECT_EQ(result.backfill->batches, 0);
  EXPECT_TRUE(Read(*store, {"shop"}).applied.empty());
}

}  // namespace
}  // namespace tidemark::testing
