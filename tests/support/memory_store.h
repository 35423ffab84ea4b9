// An in-memory ledger::Store: a test double that follows the PostgreSQL store's contract
// (src/postgres/pg_store.h, checked by tests/ledger/store_contract_test.cc) so that the
// engine can be tested without a server.
//
// A MemoryDatabase plays one PostgreSQL database: its schemas, its tables, every ledger and
// history table in it, and the advisory locks of its ledgers. Stores connected to the same
// MemoryDatabase are sessions of that database: they see each other's writes, and two
// stores of one ledger (schema and table) exclude each other through its lock, which a
// store gives up when it is destroyed, as a closed session does.
//
// Where it deliberately differs from PostgreSQL: it runs no SQL. A statement succeeds and
// does nothing unless the test scripted it, by its exact text (as engine::StepStatements
// gives it), to fail (an SQL error with SQLSTATE and message, a lock timeout, the
// connection lost) or to create tables. Tables exist because the test added them, a
// scripted statement created them, or EnsureTables made the ledger. Timeouts are not
// enforced; durations are measured, and are near zero; history times are RFC 3339 where
// PostgreSQL gives its timestamptz text. A MemoryDatabase holds tables and nothing else:
// the views, indexes and sequences that the PostgreSQL store's ExistingTables must not
// count as tables are simply absent. History rows are kept as
// ledger::HistoryRow and summarised with ledger::Summarize, as pg_store does.
//
// A back-fill (StepRun::backfill) runs its statement as a batch again and again: a batch
// changes the numbers of rows BatchRows scripted, then none; its counts are kept per
// history table and step, across sessions, as the PostgreSQL store's progress table keeps
// them.
//
// Every call a store makes is counted (Calls()), so tests can assert what the engine did:
// how often a step ran, that a read-only reconcile took no lock and wrote nothing.
//
// Thread-safe: a MemoryDatabase may be shared by stores on several threads (a store
// itself, like any ledger::Store, is used by one thread at a time). It must outlive its
// stores.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "ledger/history.h"
#include "ledger/store.h"
#include "plan/model.h"

namespace tidemark::testing {

// How a scripted statement fails.
struct StatementFailure {
  enum class Kind { kError, kLockTimeout, kConnectionLost };
  Kind kind = Kind::kError;
  std::string sql_state;
  std::string message;

  static StatementFailure Error(std::string sql_state, std::string message);
  // 55P03, as PostgreSQL reports a statement that waited lock_timeout for a lock.
  static StatementFailure LockTimeout();
  // The server went away during the statement; the store's session is over.
  static StatementFailure ConnectionLost();
};

// Which ledger a store serves: the schema and the two tables (plan::LedgerSpec).
struct MemoryLedger {
  std::string schema = "public";
  plan::LedgerSpec tables;
};

// What the stores of a database were asked to do, counted since it was made.
struct CallCounts {
  int ledger_exists = 0;
  int ensure_tables = 0;
  int lock = 0;
  int unlock = 0;
  int read = 0;
  int run = 0;  // every Run, fakes included
  int existing_tables = 0;
  int resolve = 0;
  int record_runner_step = 0;
  int restore_points = 0;
  std::map<plan::StepId, int> runs_of;  // Run calls per step

  // Calls that change the database or take its lock.
  int Writes() const { return ensure_tables + lock + run + resolve + record_runner_step; }
};

class MemoryDatabase {
 public:
  static constexpr int kAlways = -1;

  explicit MemoryDatabase(std::string name = "memory");
  MemoryDatabase(const MemoryDatabase&) = delete;
  MemoryDatabase& operator=(const MemoryDatabase&) = delete;

  // A new session on `ledger`; FailedPrecondition when its schema does not exist, as
  // postgres::Connect says.
  Result<ledger::StorePtr> Connect(const MemoryLedger& ledger = {});

  // Scripting. Statement texts match exactly. `times` failures, then the statement succeeds.
  void FailStatement(const std::string& statement, StatementFailure failure, int times = kAlways);
  // Running `statement` creates `tables` (unqualified: in the running store's schema);
  // rolled back with its atomic step like real DDL.
  void StatementCreates(const std::string& statement, std::vector<std::string> tables);
  // A back-fill's batches of `statement` change these numbers of rows, in turn, then none
  // (unscripted, its first batch changes none). Scripted failures come first, per batch.
  void BatchRows(const std::string& statement, std::vector<int64_t> rows);
  void AddSchema(const std::string& schema);
  // `table` unqualified is in schema public.
  void AddTable(const std::string& table);

  // Inspection and seeding of a ledger (whose tables must exist for the inspection).
  std::set<plan::StepId> LedgerRows(const MemoryLedger& ledger = {}) const;
  std::vector<ledger::HistoryRow> HistoryRows(const MemoryLedger& ledger = {}) const;
  // Inserts a ledger row as another tool would (creating the ledger tables if needed).
  void AddLedgerRow(const plan::StepId& id, const MemoryLedger& ledger = {});
  CallCounts Calls() const;

 private:
  friend class MemoryStore;

  struct Script {
    std::optional<StatementFailure> failure;
    int failures_left = kAlways;
    std::vector<std::string> creates;
    std::vector<int64_t> batch_rows;  // what the next batches change; front first
  };
  // A back-fill's counts, as the PostgreSQL store's progress table keeps them.
  struct BackfillCounts {
    std::string checksum;
    int64_t rows = 0;
    int64_t batches = 0;
  };
  struct LockHolder {
    const void* session = nullptr;
    int depth = 0;  // session advisory locks stack, as in PostgreSQL
  };

  const std::string name_;
  mutable std::mutex mutex_;
  std::condition_variable lock_released_;
  std::set<std::string> schemas_;                                   // guarded by mutex_
  std::set<std::string> tables_;                                    // "schema.table"; guarded
  std::map<std::string, std::multiset<plan::StepId>> ledgers_;      // by ledger table; guarded
  std::map<std::string, std::vector<ledger::HistoryRow>> history_;  // by history table; guarded
  int64_t next_history_id_ = 1;                                     // guarded by mutex_
  std::map<std::string, LockHolder> locks_;                         // by ledger; guarded
  std::map<std::string, Script> scripts_;                           // by statement; guarded
  std::map<std::string, std::map<plan::StepId, BackfillCounts>> backfills_;  // by history table
  CallCounts calls_;                                                         // guarded by mutex_
};

}  // namespace tidemark::testing
