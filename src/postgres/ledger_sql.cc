// The store's ledger SQL: learning a session's ledger, creating its tables, the advisory
// lock, reading the rows and history of some apps, and recording steps (RecordQuery, the
// ledger rows and the history row in one statement).
#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "ledger/history.h"
#include "postgres/pg_store_impl.h"

namespace tidemark::postgres {

using ledger::Direction;
using ledger::StepId;
using ledger::StepRun;

std::string LockKeySql() {
  return "('x' || left(encode(sha256(convert_to('tidemark:' || current_database() || ':' || "
         "$1::text || ':' || $2::text, 'UTF8')), 'hex'), 16))::bit(64)::bigint";
}

std::string LedgerChannel(const std::string& lock_key) { return "tidemark_" + lock_key; }

Query PgStore::NotifyQuery() const {
  return Query{"SELECT pg_notify($1, '')", {LedgerChannel(lock_key_)}};
}

Status PgStore::Init(const LedgerFacts* known) {
  if (known != nullptr && known->schema == options_.schema &&
      known->ledger_table == options_.ledger.table &&
      known->history_table == options_.ledger.history_table) {
    database_ = known->database;
    lock_key_ = known->lock_key;
    server_pid_ = known->server_pid;
    return Status::Ok();
  }
  // One round trip: the database, whether the schema exists, the lock key, whether the
  // tables exist, and the search_path (steps and the ledger both resolve unqualified names
  // in the plan's schema).
  TM_ASSIGN_OR_RETURN(
      ResultPtr session,
      Exec(conn_, Query{"SELECT current_database(), "
                        "to_regnamespace(quote_ident($1)) IS NOT NULL, " +
                            LockKeySql() + ", " + TableExistsSql("$1", "$2") + ", " +
                            TableExistsSql("$1", "$3") +
                            ", set_config('search_path', quote_ident($1), false), "
                            "pg_backend_pid()",
                        {options_.schema, options_.ledger.table, options_.ledger.history_table}}));
  database_ = PQgetvalue(session.get(), 0, 0);
  if (PQgetvalue(session.get(), 0, 1)[0] != 't') {
    return Status::FailedPrecondition(
        "schema \"" + options_.schema + "\" does not exist in database " + database_ +
        "; create it (CREATE SCHEMA " + Quote(options_.schema) + ") or fix spec.database.schema");
  }
  lock_key_ = PQgetvalue(session.get(), 0, 2);
  ledger_exists_ = PQgetvalue(session.get(), 0, 3)[0] == 't';
  history_exists_ = PQgetvalue(session.get(), 0, 4)[0] == 't';
  server_pid_ = PQgetvalue(session.get(), 0, 6);
  return Status::Ok();
}

Status PgStore::MovedSession(const std::string& now) const {
  return Status::Unsupported(
      "the database session moved from server process " + server_pid_ + " to " + now +
      " between two transactions: tidemark is connected through a transaction-mode pooler "
      "(PgBouncer pool_mode=transaction, Cloud SQL managed connection pooling, a cloud "
      "pooler's transaction port), where the session advisory lock that keeps runs of " +
      Describe() +
      " apart means nothing. Connect directly to the database (or through the Cloud SQL Auth "
      "Proxy) or through a session-mode pool");
}

Result<bool> PgStore::TableExists(const std::string& table) {
  TM_ASSIGN_OR_RETURN(ResultPtr result, Exec(conn_, Query{"SELECT " + TableExistsSql("$1", "$2"),
                                                          {options_.schema, table}}));
  return PQgetvalue(result.get(), 0, 0)[0] == 't';
}

Result<bool> PgStore::Exists(const std::string& table, bool& known) {
  if (!known) {
    TM_ASSIGN_OR_RETURN(known, TableExists(table));
  }
  return known;
}

namespace {

// The longest pause between two tries of a busy ledger lock: how late a waiter may notice
// that the lock is free.
constexpr std::chrono::milliseconds kLockPollCeiling{100};

// The id column as Django's PostgreSQL backend creates it for the recorder's auto field.
const char* SerialType(plan::LedgerIdType type) {
  switch (type) {
    case plan::LedgerIdType::kBigint:
      return "bigserial";
    case plan::LedgerIdType::kSmallint:
      return "smallserial";
    case plan::LedgerIdType::kInteger:
      break;
  }
  return "serial";
}

}  // namespace

Status PgStore::EnsureTables() {
  // Usually both exist (Init or Lock looked): cheaper than DDL, even IF NOT EXISTS.
  if (ledger_exists_ && history_exists_) return Status::Ok();
  // Django's own DDL for its recorder table (django/db/migrations/recorder.py).
  TM_RETURN_IF_ERROR(
      Exec(conn_, "CREATE TABLE IF NOT EXISTS " + LedgerTable() + " (\"id\" " +
                      SerialType(options_.ledger.id_type) +
                      " NOT NULL PRIMARY KEY, "
                      "\"app\" varchar(255) NOT NULL, \"name\" varchar(255) NOT NULL, "
                      "\"applied\" timestamp with time zone NOT NULL)")
          .status());
  TM_RETURN_IF_ERROR(
      Exec(conn_, "CREATE TABLE IF NOT EXISTS " + HistoryTable() +
                      " (\"id\" bigserial PRIMARY KEY,"
                      " \"app\" varchar(255) NOT NULL, \"name\" varchar(255) NOT NULL,"
                      " \"action\" text NOT NULL, \"direction\" text NOT NULL,"
                      " \"checksum\" text, \"started_at\" timestamptz NOT NULL,"
                      " \"duration_ms\" double precision,"
                      " \"plan_namespace\" text, \"plan_name\" text, \"plan_uid\" text,"
                      " \"plan_generation\" bigint, \"statement_index\" integer,"
                      " \"sql_state\" text, \"error\" text, \"run_by\" text,"
                      " \"runner_run_id\" text,"
                      " \"restore_at\" timestamptz, \"restore_lsn\" pg_lsn)")
          .status());
  if (!history_exists_) history_has_run_by_ = true;  // made just now, with the runner columns
  ledger_exists_ = history_exists_ = true;
  return Status::Ok();
}

Result<plan::RestorePoint> PgStore::MarkRestorePoint() {
  // Outside a transaction, now() is this statement's time: just before the first change.
  TM_ASSIGN_OR_RETURN(
      ResultPtr point,
      Exec(conn_, Query{"SELECT to_char(now() AT TIME ZONE 'UTC', "
                        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), pg_current_wal_lsn()::text, "
                        "EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass($1) AND "
                        "attname = 'restore_lsn' AND NOT attisdropped)",
                        {HistoryTable()}}));
  if (PQgetvalue(point.get(), 0, 2)[0] != 't') {
    // A history table from before restore points: a moment of its lock, under the ledger's
    // advisory lock, once.
    TM_RETURN_IF_ERROR(Exec(conn_, "ALTER TABLE " + HistoryTable() +
                                       " ADD COLUMN IF NOT EXISTS \"restore_at\" timestamptz,"
                                       " ADD COLUMN IF NOT EXISTS \"restore_lsn\" pg_lsn")
                           .status());
  }
  return plan::RestorePoint{PQgetvalue(point.get(), 0, 0), PQgetvalue(point.get(), 0, 1)};
}

Result<double> PgStore::Lock(std::chrono::milliseconds max_wait) {
  // The lock, and whether the tables exist as it is taken (a remembered session does not
  // know yet); usually free, so one round trip is enough. The lock is taken only on the
  // server process the session started on: another one means a transaction-mode pooler
  // handed this transaction to a server session shared with other clients.
  const std::string select_lock_and_tables =
      ", " + TableExistsSql("$2", "$3") + ", " + TableExistsSql("$2", "$4") + ", pg_backend_pid()";
  const std::vector<Param> params = {lock_key_, options_.schema, options_.ledger.table,
                                     options_.ledger.history_table, server_pid_};
  const auto on_own_session = [](const std::string& lock) {
    return "CASE WHEN pg_backend_pid() = $5::int THEN " + lock + " END";
  };
  const auto moved = [](const PGresult* locked) { return PQgetisnull(locked, 0, 0) == 1; };
  const auto learn_tables = [this](const PGresult* locked) {
    ledger_exists_ = PQgetvalue(locked, 0, 1)[0] == 't';
    history_exists_ = PQgetvalue(locked, 0, 2)[0] == 't';
  };
  const Query try_lock{
      "SELECT " + on_own_session("pg_try_advisory_lock($1::bigint)") + select_lock_and_tables,
      params};
  // The wait is a series of short tries, never one pg_advisory_lock: a statement waiting
  // for the lock keeps a transaction open, and a CREATE INDEX CONCURRENTLY in the holder's
  // run waits for every open transaction to end, so holder and waiter would deadlock (and
  // the server cancel one of them).
  const auto start = Clock::now();
  std::chrono::milliseconds pause{5};
  while (true) {
    TM_ASSIGN_OR_RETURN(ResultPtr tried, Exec(conn_, try_lock));
    if (moved(tried.get())) return MovedSession(PQgetvalue(tried.get(), 0, 3));
    if (PQgetvalue(tried.get(), 0, 0)[0] == 't') {
      learn_tables(tried.get());
      return std::chrono::duration<double>(Clock::now() - start).count();
    }
    const auto left =
        max_wait - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (left <= std::chrono::milliseconds(0)) {
      return Status::DeadlineExceeded("another session holds the migration lock of " + Describe() +
                                      " (advisory lock " + lock_key_ + ")");
    }
    std::this_thread::sleep_for(std::min(pause, left));
    pause = std::min(pause * 2, kLockPollCeiling);
  }
}

Status PgStore::Unlock() {
  TM_ASSIGN_OR_RETURN(
      const ResultPtr unlocked,
      Exec(conn_, Query{"SELECT pg_advisory_unlock($1::bigint), pg_backend_pid()", {lock_key_}}));
  // The server session that took the lock kept it throughout, or else another one answers.
  if (PQgetvalue(unlocked.get(), 0, 0)[0] != 't')
    return MovedSession(PQgetvalue(unlocked.get(), 0, 1));
  return Status::Ok();
}

Result<ledger::Recorded> PgStore::Read(const std::vector<std::string>& apps) {
  ledger::Recorded recorded;
  TM_ASSIGN_OR_RETURN(const bool ledger_exists, LedgerExists());
  TM_ASSIGN_OR_RETURN(const bool history_exists,
                      Exists(options_.ledger.history_table, history_exists_));
  // One statement, simple to plan (planning costs the server more than these scans): the
  // ledger rows (no action) and the history rows of the apps; ledger::Summarize reads the
  // history.
  std::vector<std::string> parts;
  if (ledger_exists) {
    parts.push_back(
        "SELECT NULL, app, name, NULL::bigint, NULL, NULL, NULL::integer, NULL, NULL, NULL, NULL"
        " FROM " +
        LedgerTable() + " WHERE app = ANY($1::varchar[])");
  }
  if (history_exists) {
    parts.push_back(
        "SELECT action, app, name, id, direction, coalesce(checksum, ''),"
        " coalesce(statement_index, 0), started_at::text, coalesce(error, ''),"
        // A claim's run and plan; through to_jsonb, which a table without the column (made
        // before runners) answers with NULL.
        " CASE WHEN action = 'runner-start' THEN to_jsonb(h)->>'runner_run_id' END,"
        " CASE WHEN action = 'runner-start' THEN plan_namespace || '/' || plan_name END FROM " +
        HistoryTable() + " h WHERE app = ANY($1::varchar[])");
  }
  if (parts.empty()) return recorded;
  std::string sql;
  for (const std::string& part : parts) sql += (sql.empty() ? "" : " UNION ALL ") + part;
  TM_ASSIGN_OR_RETURN(const ResultPtr result, Exec(conn_, Query{sql, {ArrayLiteral(apps)}}));
  const PGresult* rows = result.get();
  std::vector<ledger::HistoryRow> history;
  for (int r = 0; r < PQntuples(rows); ++r) {
    StepId step{PQgetvalue(rows, r, 1), PQgetvalue(rows, r, 2)};
    if (PQgetisnull(rows, r, 0)) {
      recorded.applied.insert(std::move(step));
      continue;
    }
    ledger::HistoryRow row{std::atoll(PQgetvalue(rows, r, 3)),
                           std::move(step),
                           PQgetvalue(rows, r, 0),
                           PQgetvalue(rows, r, 4),
                           PQgetvalue(rows, r, 5),
                           std::atoi(PQgetvalue(rows, r, 6)),
                           PQgetvalue(rows, r, 7),
                           PQgetvalue(rows, r, 8)};
    row.runner_run_id = PQgetvalue(rows, r, 9);
    row.plan = PQgetvalue(rows, r, 10);
    history.push_back(std::move(row));
  }
  recorded.history = ledger::Summarize(std::move(history));
  return recorded;
}

Query PgStore::RecordQuery(const StepRun& run, const HistoryEntry& entry) const {
  std::vector<std::string> apps, names;
  for (const StepId& id : run.records) {
    apps.push_back(id.app);
    names.push_back(id.name);
  }
  Query query{"", {ArrayLiteral(apps), ArrayLiteral(names)}};
  if (run.direction == Direction::kForward) {
    query.sql = "WITH recorded AS (INSERT INTO " + LedgerTable() +
                " (app, name, applied) SELECT a, n, now() FROM unnest($1::varchar[], $2::varchar[])"
                " AS t(a, n) RETURNING 1) ";
  } else {
    query.sql = "WITH removed AS (DELETE FROM " + LedgerTable() +
                " WHERE (app, name) IN (SELECT a, n FROM unnest($1::varchar[], $2::varchar[]) AS"
                " t(a, n)) RETURNING 1) ";
  }
  AppendHistoryInsert(HistoryTable(), run, entry, Secrets(), &query);
  return query;
}

Status PgStore::Record(const StepRun& run, const HistoryEntry& entry) {
  Status recorded = Exec(conn_, "BEGIN").status();
  if (recorded.ok()) recorded = Exec(conn_, RecordQuery(run, entry)).status();
  if (recorded.ok()) recorded = Exec(conn_, NotifyQuery()).status();
  if (recorded.ok()) recorded = Exec(conn_, "COMMIT").status();
  if (!recorded.ok()) (void)Exec(conn_, "ROLLBACK");
  return recorded;
}

Result<std::set<std::string>> PgStore::ExistingTables(const std::vector<std::string>& tables) {
  std::vector<std::string> schemas, names;
  for (const std::string& table : tables) {
    const size_t dot = table.find('.');
    schemas.push_back(dot == std::string::npos ? options_.schema : table.substr(0, dot));
    names.push_back(dot == std::string::npos ? table : table.substr(dot + 1));
  }
  TM_ASSIGN_OR_RETURN(
      ResultPtr result,
      Exec(conn_, Query{"SELECT CASE WHEN t.s = $3 THEN t.n ELSE t.s || '.' || t.n END"
                        " FROM unnest($1::text[], $2::text[]) AS t(s, n)"
                        " JOIN pg_namespace ns ON ns.nspname = t.s"
                        " JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = t.n"
                        // Django's introspection.table_names(): no views, indexes,
                        // sequences or partitions.
                        " AND c.relkind IN ('r', 'p', 'f') AND NOT c.relispartition",
                        {ArrayLiteral(schemas), ArrayLiteral(names), options_.schema}}));
  std::set<std::string> existing;
  for (int r = 0; r < PQntuples(result.get()); ++r) existing.insert(PQgetvalue(result.get(), r, 0));
  return existing;
}

Status PgStore::Resolve(const StepId& id, const std::vector<StepId>& records, bool applied,
                        const ledger::PlanRef& plan) {
  StepRun run;
  run.id = id;
  run.direction = applied ? Direction::kForward : Direction::kBackward;
  run.plan = plan;
  // Resolving to "applied" inserts rows that are missing; "unapplied" removes them.
  std::vector<std::string> apps;
  for (const StepId& record : records) apps.push_back(record.app);
  TM_ASSIGN_OR_RETURN(const ledger::Recorded present, Read(apps));
  for (const StepId& record : records) {
    if (present.applied.count(record) != (applied ? 0u : 1u)) continue;
    run.records.push_back(record);
  }
  return Record(run, {.action = "resolve", .duration = Duration::kGiven, .duration_ms = 0});
}

}  // namespace tidemark::postgres
