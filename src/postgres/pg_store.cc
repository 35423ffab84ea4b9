#include "postgres/pg_store.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "ledger/history.h"

namespace tidemark::postgres {
namespace {

using ledger::Direction;
using ledger::StepError;
using ledger::StepResult;
using ledger::StepRun;
using plan::StepId;
using Clock = std::chrono::steady_clock;

constexpr char kLockTimeoutState[] = "55P03";

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// A text[] literal for array parameters: {"a","b"} with quotes and backslashes escaped.
std::string ArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string Milliseconds(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

// An SQL boolean: whether the table (a parameter) exists in the schema (a parameter).
// to_regclass is a lookup, where a join over the catalogue would be planned on every call.
std::string TableExistsSql(const std::string& schema, const std::string& table) {
  return "(to_regclass(quote_ident(" + schema + ") || '.' || quote_ident(" + table +
         ")) IS NOT NULL)";
}

struct Query {
  std::string sql;
  std::vector<std::string> params;
};

// Text parameters as libpq takes them: pointers into `params`, which must outlive them.
std::vector<const char*> ParamValues(const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  return values;
}

// Runs one statement with text parameters; the result as the server gave it, error or not.
ResultPtr RunParams(PGconn* conn, const std::string& sql, const std::vector<std::string>& params) {
  const std::vector<const char*> values = ParamValues(params);
  return ResultPtr(PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                values.data(), nullptr, nullptr, 0));
}

// Sends the queries in pipeline mode with a sync after each: they run one after the other,
// each in a transaction of its own, as if sent one by one, in one network round trip.
bool SendPipeline(PGconn* conn, const std::vector<Query>& queries) {
  if (PQenterPipelineMode(conn) != 1) return false;
  for (const Query& query : queries) {
    const std::vector<const char*> values = ParamValues(query.params);
    if (PQsendQueryParams(conn, query.sql.c_str(), static_cast<int>(values.size()), nullptr,
                          values.data(), nullptr, nullptr, 0) != 1 ||
        PQpipelineSync(conn) != 1) {
      return false;
    }
  }
  return true;
}

// Whether PQgetResult can answer before `deadline` without blocking.
bool AnswerBy(PGconn* conn, Clock::time_point deadline) {
  while (PQconsumeInput(conn) == 1) {
    if (PQisBusy(conn) == 0) return true;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd readable{PQsocket(conn), POLLIN, 0};
    if (poll(&readable, 1, static_cast<int>(left)) < 0 && errno != EINTR) return false;
  }
  return false;
}

// The results of SendPipeline's `count` queries, in order (null where the session ended
// first or the deadline passed), after which the session leaves pipeline mode.
std::vector<ResultPtr> ReceivePipeline(PGconn* conn, size_t count,
                                       std::optional<Clock::time_point> deadline = std::nullopt) {
  std::vector<ResultPtr> results(count);
  auto answering = [&] { return !deadline || AnswerBy(conn, *deadline); };
  for (size_t i = 0; i < count && PQstatus(conn) == CONNECTION_OK && answering(); ++i) {
    // A query's result, a null, then its sync's result.
    while (PGresult* result = PQgetResult(conn)) {
      if (!results[i]) {
        results[i].reset(result);
      } else {
        PQclear(result);
      }
    }
    if (!answering()) break;
    ResultPtr sync(PQgetResult(conn));
  }
  PQexitPipelineMode(conn);
  return results;
}

bool Succeeded(const PGresult* result) {
  const ExecStatusType status = PQresultStatus(result);
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

// What becomes of a session when its store is done: closed, or back to a pool with what the
// store learnt about its ledger when that can be trusted.
using ReleaseSession = std::function<void(PGconn*, const LedgerFacts*)>;

class PgStore : public ledger::Store {
 public:
  PgStore(PGconn* conn, ConnectOptions options, ReleaseSession release)
      : conn_(conn), options_(std::move(options)), release_(std::move(release)) {}
  ~PgStore() override {
    const LedgerFacts facts{options_.schema, options_.ledger.table, options_.ledger.history_table,
                            database_, lock_key_};
    release_(conn_, lock_key_.empty() ? nullptr : &facts);
  }

  bool Lost() const { return PQstatus(conn_) != CONNECTION_OK; }

  // Learns the database, the lock key and whether the tables exist, and sets the
  // search_path; with `known` facts about the same ledger (the session's search_path
  // already set), without asking the server, leaving the tables to Lock or Read to look
  // for (they may have been dropped since).
  Status Init(const LedgerFacts* known);

  std::string Describe() const override {
    return database_ + "/" + options_.schema + "/" + options_.ledger.table;
  }
  Result<bool> LedgerExists() override { return Exists(options_.ledger.table, ledger_exists_); }
  Status EnsureTables() override;
  Result<double> Lock(std::chrono::milliseconds max_wait) override;
  Status Unlock() override;
  Result<ledger::Recorded> Read(const std::vector<std::string>& apps) override;
  StepResult Run(const StepRun& run) override;
  Result<std::set<std::string>> ExistingTables(const std::vector<std::string>& tables) override;
  Status Resolve(const StepId& id, const std::vector<StepId>& records, bool applied,
                 const ledger::PlanRef& plan) override;

 private:
  // Runs SQL (no parameters; may hold several statements) and checks the result.
  Result<ResultPtr> Exec(const std::string& sql);
  Result<ResultPtr> ExecParams(const std::string& sql, const std::vector<std::string>& params);
  Status ErrorStatus(const PGresult* result, const std::string& what);
  StepError ErrorOf(const PGresult* result, int index, const std::string& statement);
  Result<bool> TableExists(const std::string& table);
  // `known`, or else whether the table exists now (remembered once it does: another run
  // may create the tables while this one waits for the lock; nobody drops them mid-run).
  Result<bool> Exists(const std::string& table, bool& known);

  std::string Quote(const std::string& identifier) const {
    char* quoted = PQescapeIdentifier(conn_, identifier.c_str(), identifier.size());
    std::string out = quoted ? quoted : "\"\"";
    PQfreemem(quoted);
    return out;
  }
  std::string LedgerTable() const {
    return Quote(options_.schema) + "." + Quote(options_.ledger.table);
  }
  std::string HistoryTable() const {
    return Quote(options_.schema) + "." + Quote(options_.ledger.history_table);
  }
  // The ledger rows and the history row of a successful step, as one statement.
  std::string RecordSql(const StepRun& run, const std::string& action) const;
  std::vector<std::string> RecordParams(const StepRun& run, double duration_ms) const;
  void RecordFailure(const StepRun& run, const StepError& error, double duration_ms);
  StepResult RunAtomic(const StepRun& run);
  StepResult RunNonAtomic(const StepRun& run);

  PGconn* conn_;
  ConnectOptions options_;
  ReleaseSession release_;
  std::string database_;
  std::string lock_key_;
  bool ledger_exists_ = false;
  bool history_exists_ = false;
};

Result<ResultPtr> PgStore::Exec(const std::string& sql) {
  ResultPtr result(PQexec(conn_, sql.c_str()));
  if (!Succeeded(result.get())) return ErrorStatus(result.get(), sql.substr(0, 80));
  return result;
}

Result<ResultPtr> PgStore::ExecParams(const std::string& sql,
                                      const std::vector<std::string>& params) {
  ResultPtr result = RunParams(conn_, sql, params);
  if (!Succeeded(result.get())) return ErrorStatus(result.get(), sql.substr(0, 80));
  return result;
}

Status PgStore::ErrorStatus(const PGresult* result, const std::string& what) {
  const char* message = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const std::string text = message ? message : PQerrorMessage(conn_);
  if (Lost()) return Status::Unavailable("database connection lost: " + text);
  return Status::Internal("ledger query failed (" + what + "...): " + text);
}

StepError PgStore::ErrorOf(const PGresult* result, int index, const std::string& statement) {
  StepError error;
  error.statement_index = index;
  error.statement = statement;
  auto field = [&](int code) {
    const char* value = result ? PQresultErrorField(result, code) : nullptr;
    return std::string(value ? value : "");
  };
  error.sql_state = field(PG_DIAG_SQLSTATE);
  error.message = field(PG_DIAG_MESSAGE_PRIMARY);
  if (error.message.empty()) error.message = PQerrorMessage(conn_);
  while (!error.message.empty() && error.message.back() == '\n') error.message.pop_back();
  if (const std::string detail = field(PG_DIAG_MESSAGE_DETAIL); !detail.empty()) {
    error.message += " (" + detail + ")";
  }
  if (const std::string hint = field(PG_DIAG_MESSAGE_HINT); !hint.empty()) {
    error.message += "; hint: " + hint;
  }
  error.lock_timeout = error.sql_state == kLockTimeoutState;
  error.connection_lost = Lost();
  return error;
}

Status PgStore::Init(const LedgerFacts* known) {
  if (known != nullptr && known->schema == options_.schema &&
      known->ledger_table == options_.ledger.table &&
      known->history_table == options_.ledger.history_table) {
    database_ = known->database;
    lock_key_ = known->lock_key;
    return Status::Ok();
  }
  // One round trip: the database, whether the schema exists, the lock key, whether the
  // tables exist, and the search_path (steps and the ledger both resolve unqualified names
  // in the plan's schema).
  TM_ASSIGN_OR_RETURN(
      ResultPtr session,
      ExecParams("SELECT current_database(), "
                 "to_regnamespace(quote_ident($1)) IS NOT NULL, " +
                     LockKeySql() + ", " + TableExistsSql("$1", "$2") + ", " +
                     TableExistsSql("$1", "$3") +
                     ", set_config('search_path', quote_ident($1), false)",
                 {options_.schema, options_.ledger.table, options_.ledger.history_table}));
  database_ = PQgetvalue(session.get(), 0, 0);
  if (PQgetvalue(session.get(), 0, 1)[0] != 't') {
    return Status::FailedPrecondition(
        "schema \"" + options_.schema + "\" does not exist in database " + database_ +
        "; create it (CREATE SCHEMA " + Quote(options_.schema) + ") or fix spec.database.schema");
  }
  lock_key_ = PQgetvalue(session.get(), 0, 2);
  ledger_exists_ = PQgetvalue(session.get(), 0, 3)[0] == 't';
  history_exists_ = PQgetvalue(session.get(), 0, 4)[0] == 't';
  return Status::Ok();
}

Result<bool> PgStore::TableExists(const std::string& table) {
  TM_ASSIGN_OR_RETURN(ResultPtr result,
                      ExecParams("SELECT " + TableExistsSql("$1", "$2"), {options_.schema, table}));
  return PQgetvalue(result.get(), 0, 0)[0] == 't';
}

Result<bool> PgStore::Exists(const std::string& table, bool& known) {
  if (!known) {
    TM_ASSIGN_OR_RETURN(known, TableExists(table));
  }
  return known;
}

Status PgStore::EnsureTables() {
  // Usually both exist (Init or Lock looked): cheaper than DDL, even IF NOT EXISTS.
  if (ledger_exists_ && history_exists_) return Status::Ok();
  // Django's own DDL for its recorder table (django/db/migrations/recorder.py).
  TM_RETURN_IF_ERROR(Exec("CREATE TABLE IF NOT EXISTS " + LedgerTable() +
                          " (\"id\" serial NOT NULL PRIMARY KEY, "
                          "\"app\" varchar(255) NOT NULL, \"name\" varchar(255) NOT NULL, "
                          "\"applied\" timestamp with time zone NOT NULL)")
                         .status());
  TM_RETURN_IF_ERROR(Exec("CREATE TABLE IF NOT EXISTS " + HistoryTable() +
                          " (\"id\" bigserial PRIMARY KEY,"
                          " \"app\" varchar(255) NOT NULL, \"name\" varchar(255) NOT NULL,"
                          " \"action\" text NOT NULL, \"direction\" text NOT NULL,"
                          " \"checksum\" text, \"started_at\" timestamptz NOT NULL,"
                          " \"duration_ms\" double precision,"
                          " \"plan_namespace\" text, \"plan_name\" text, \"plan_uid\" text,"
                          " \"plan_generation\" bigint, \"statement_index\" integer,"
                          " \"sql_state\" text, \"error\" text)")
                         .status());
  ledger_exists_ = history_exists_ = true;
  return Status::Ok();
}

Result<double> PgStore::Lock(std::chrono::milliseconds max_wait) {
  // The lock, and whether the tables exist as it is taken (a remembered session does not
  // know yet); usually free, so one round trip is enough.
  const std::string select_lock_and_tables =
      ", " + TableExistsSql("$2", "$3") + ", " + TableExistsSql("$2", "$4");
  const std::vector<std::string> params = {lock_key_, options_.schema, options_.ledger.table,
                                           options_.ledger.history_table};
  const auto learn_tables = [this](const PGresult* locked) {
    ledger_exists_ = PQgetvalue(locked, 0, 1)[0] == 't';
    history_exists_ = PQgetvalue(locked, 0, 2)[0] == 't';
  };
  TM_ASSIGN_OR_RETURN(
      ResultPtr tried,
      ExecParams("SELECT pg_try_advisory_lock($1::bigint)" + select_lock_and_tables, params));
  if (PQgetvalue(tried.get(), 0, 0)[0] == 't') {
    learn_tables(tried.get());
    return 0.0;
  }
  const auto start = Clock::now();
  // lock_timeout bounds the wait of pg_advisory_lock like any other heavyweight lock.
  TM_RETURN_IF_ERROR(Exec("SET lock_timeout = '" +
                          Milliseconds(std::max(max_wait, std::chrono::milliseconds(1))) + "'")
                         .status());
  // Run as it is: a lock_timeout error is told apart by its SQLSTATE.
  const ResultPtr result =
      RunParams(conn_, "SELECT pg_advisory_lock($1::bigint)" + select_lock_and_tables, params);
  const bool locked = PQresultStatus(result.get()) == PGRES_TUPLES_OK;
  const std::string state = locked ? "" : ErrorOf(result.get(), -1, "").sql_state;
  if (!locked && Lost()) return Status::Unavailable("database connection lost while locking");
  TM_RETURN_IF_ERROR(Exec("RESET lock_timeout").status());
  const double waited = std::chrono::duration<double>(Clock::now() - start).count();
  if (!locked) {
    if (state == kLockTimeoutState) {
      return Status::DeadlineExceeded("another session holds the migration lock of " + Describe() +
                                      " (advisory lock " + lock_key_ + ")");
    }
    return ErrorStatus(result.get(), "pg_advisory_lock");
  }
  learn_tables(result.get());
  return waited;
}

Status PgStore::Unlock() {
  return ExecParams("SELECT pg_advisory_unlock($1::bigint)", {lock_key_}).status();
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
        "SELECT NULL, app, name, NULL::bigint, NULL, NULL, NULL::integer, NULL, NULL"
        " FROM " +
        LedgerTable() + " WHERE app = ANY($1::varchar[])");
  }
  if (history_exists) {
    parts.push_back(
        "SELECT action, app, name, id, direction, coalesce(checksum, ''),"
        " coalesce(statement_index, 0), started_at::text, coalesce(error, '') FROM " +
        HistoryTable() + " WHERE app = ANY($1::varchar[])");
  }
  if (parts.empty()) return recorded;
  std::string sql;
  for (const std::string& part : parts) sql += (sql.empty() ? "" : " UNION ALL ") + part;
  TM_ASSIGN_OR_RETURN(const ResultPtr result, ExecParams(sql, {ArrayLiteral(apps)}));
  const PGresult* rows = result.get();
  std::vector<ledger::HistoryRow> history;
  for (int r = 0; r < PQntuples(rows); ++r) {
    StepId step{PQgetvalue(rows, r, 1), PQgetvalue(rows, r, 2)};
    if (PQgetisnull(rows, r, 0)) {
      recorded.applied.insert(std::move(step));
      continue;
    }
    history.push_back({std::atoll(PQgetvalue(rows, r, 3)), std::move(step), PQgetvalue(rows, r, 0),
                       PQgetvalue(rows, r, 4), PQgetvalue(rows, r, 5),
                       std::atoi(PQgetvalue(rows, r, 6)), PQgetvalue(rows, r, 7),
                       PQgetvalue(rows, r, 8)});
  }
  recorded.history = ledger::Summarize(std::move(history));
  return recorded;
}

std::string PgStore::RecordSql(const StepRun& run, const std::string& action) const {
  const std::string history =
      "INSERT INTO " + HistoryTable() +
      " (app, name, action, direction, checksum, started_at, duration_ms, plan_namespace,"
      " plan_name, plan_uid, plan_generation) VALUES ($3, $4, '" +
      action +
      "', $5, $6, now(),"
      // A pipelined step passes no duration: the server measures it from BEGIN.
      " coalesce($7::double precision, extract(epoch FROM clock_timestamp() - now()) * 1000),"
      " $8, $9, $10, $11)";
  if (run.direction == Direction::kForward) {
    return "WITH recorded AS (INSERT INTO " + LedgerTable() +
           " (app, name, applied) SELECT a, n, now() FROM unnest($1::varchar[], $2::varchar[])"
           " AS t(a, n) RETURNING 1) " +
           history;
  }
  return "WITH removed AS (DELETE FROM " + LedgerTable() +
         " WHERE (app, name) IN (SELECT a, n FROM unnest($1::varchar[], $2::varchar[]) AS"
         " t(a, n)) RETURNING 1) " +
         history;
}

std::vector<std::string> PgStore::RecordParams(const StepRun& run, double duration_ms) const {
  std::vector<std::string> apps, names;
  for (const StepId& id : run.records) {
    apps.push_back(id.app);
    names.push_back(id.name);
  }
  return {ArrayLiteral(apps),
          ArrayLiteral(names),
          run.id.app,
          run.id.name,
          run.direction == Direction::kForward ? "forward" : "backward",
          run.checksum,
          std::to_string(duration_ms),
          run.plan.ns,
          run.plan.name,
          run.plan.uid,
          std::to_string(run.plan.generation)};
}

void PgStore::RecordFailure(const StepRun& run, const StepError& error, double duration_ms) {
  if (Lost() || !history_exists_) return;
  // Best effort: the failure itself is reported to the caller either way.
  (void)ExecParams(
      "INSERT INTO " + HistoryTable() +
          " (app, name, action, direction, checksum, started_at, duration_ms, plan_namespace,"
          " plan_name, plan_uid, plan_generation, statement_index, sql_state, error)"
          " VALUES ($1, $2, 'failure', $3, $4, now(), $5, $6, $7, $8, $9, $10, $11, $12)",
      {run.id.app, run.id.name, run.direction == Direction::kForward ? "forward" : "backward",
       run.checksum, std::to_string(duration_ms), run.plan.ns, run.plan.name, run.plan.uid,
       std::to_string(run.plan.generation), std::to_string(error.statement_index), error.sql_state,
       error.message});
}

const char* ActionOf(const StepRun& run) {
  if (run.fake) return run.direction == Direction::kForward ? "fake" : "fake-revert";
  return run.direction == Direction::kForward ? "apply" : "revert";
}

StepResult PgStore::Run(const StepRun& run) {
  return run.atomic || run.fake ? RunAtomic(run) : RunNonAtomic(run);
}

StepResult PgStore::RunAtomic(const StepRun& run) {
  const auto start = Clock::now();
  StepResult outcome;
  // One pipeline, one network round trip: BEGIN, the timeouts, every statement, the ledger
  // and history rows, COMMIT. The first error aborts the rest; the server skips them.
  std::vector<std::string> commands = {"BEGIN"};
  if (!run.fake) {  // both as SET LOCAL, in one statement
    commands.push_back("SELECT set_config('lock_timeout', '" + Milliseconds(run.lock_timeout) +
                       "', true), set_config('statement_timeout', '" +
                       Milliseconds(run.statement_timeout) + "', true)");
  }
  const size_t first_statement = commands.size();
  if (!run.fake) commands.insert(commands.end(), run.statements.begin(), run.statements.end());
  const size_t record_index = commands.size();
  commands.push_back(RecordSql(run, ActionOf(run)));
  commands.push_back("COMMIT");
  // The duration is measured by the server: from BEGIN to the history row.
  std::vector<std::string> params = RecordParams(run, 0);
  params[6] = "";

  std::optional<StepError> error;
  bool sent = PQenterPipelineMode(conn_) == 1;
  for (size_t i = 0; sent && i < commands.size(); ++i) {
    if (i == record_index) {
      std::vector<const char*> values;
      for (const auto& p : params) values.push_back(p.empty() ? nullptr : p.c_str());
      sent = PQsendQueryParams(conn_, commands[i].c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0) == 1;
    } else {
      sent = PQsendQueryParams(conn_, commands[i].c_str(), 0, nullptr, nullptr, nullptr, nullptr,
                               0) == 1;
    }
  }
  if (sent) sent = PQpipelineSync(conn_) == 1;
  if (!sent) {
    error = StepError{};
    error->message = PQerrorMessage(conn_);
    error->connection_lost = Lost();
  } else {
    // Each command yields its result then a null; the sync yields PGRES_PIPELINE_SYNC.
    for (size_t i = 0; i < commands.size(); ++i) {
      ResultPtr result(PQgetResult(conn_));
      const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
      if (!result || status == PGRES_FATAL_ERROR) {
        if (!error) {
          const bool is_statement = i >= first_statement && i < record_index;
          const size_t index = i - first_statement;
          *(error = StepError{}) =
              ErrorOf(result.get(), is_statement ? static_cast<int>(index) : -1,
                      is_statement ? run.statements[index] : "");
          if (i == record_index) {
            error->message = "recording the step in the ledger failed: " + error->message;
          }
        }
        if (!result) break;
      }
      while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
    }
    if (!Lost()) {
      ResultPtr sync(PQgetResult(conn_));
      while (sync && PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC)
        sync.reset(PQgetResult(conn_));
    }
  }
  PQexitPipelineMode(conn_);
  outcome.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (!error) {
    outcome.ok = true;
    return outcome;
  }
  if (!Lost()) (void)Exec("ROLLBACK");  // an explicit transaction stays aborted after a sync
  error->connection_lost = Lost();
  outcome.error = std::move(*error);
  RecordFailure(run, outcome.error, outcome.duration_ms);
  return outcome;
}

StepResult PgStore::RunNonAtomic(const StepRun& run) {
  const auto start = Clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  };
  StepResult outcome;
  auto fail = [&](StepError error) {
    error.dirty = true;
    outcome.ok = false;
    outcome.error = std::move(error);
    outcome.duration_ms = elapsed_ms();
    RecordFailure(run, outcome.error, outcome.duration_ms);
    (void)Exec("RESET lock_timeout; RESET statement_timeout");
    return outcome;
  };
  // The committed "started" marker makes a crash from here on visible as dirty.
  auto marker = ExecParams(
      "INSERT INTO " + HistoryTable() +
          " (app, name, action, direction, checksum, started_at, plan_namespace, plan_name,"
          " plan_uid, plan_generation, statement_index) VALUES ($1, $2, 'start', $3, $4, now(),"
          " $5, $6, $7, $8, 0) RETURNING id",
      {run.id.app, run.id.name, run.direction == Direction::kForward ? "forward" : "backward",
       run.checksum, run.plan.ns, run.plan.name, run.plan.uid,
       std::to_string(run.plan.generation)});
  if (!marker.ok()) {
    outcome.error.message = marker.status().message();
    outcome.error.connection_lost = Lost();
    return outcome;  // nothing ran: not dirty
  }
  const std::string marker_id = PQgetvalue(marker->get(), 0, 0);
  auto settings = Exec("SET lock_timeout = '" + Milliseconds(run.lock_timeout) +
                       "'; SET statement_timeout = '" + Milliseconds(run.statement_timeout) + "'");
  if (!settings.ok()) {
    StepError error;
    error.message = settings.status().message();
    error.connection_lost = Lost();
    return fail(error);
  }
  for (size_t i = 0; i < run.statements.size(); ++i) {
    if (i > 0) {
      auto progress =
          ExecParams("UPDATE " + HistoryTable() + " SET statement_index = $1 WHERE id = $2",
                     {std::to_string(i), marker_id});
      if (!progress.ok()) {
        StepError error;
        error.statement_index = static_cast<int>(i);
        error.message = progress.status().message();
        error.connection_lost = Lost();
        return fail(error);
      }
    }
    ResultPtr result(PQexec(conn_, run.statements[i].c_str()));
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return fail(ErrorOf(result.get(), static_cast<int>(i), run.statements[i]));
    }
  }
  (void)Exec("RESET lock_timeout; RESET statement_timeout");
  const double duration = elapsed_ms();
  auto recorded = Exec("BEGIN");
  if (recorded.ok())
    recorded = ExecParams(RecordSql(run, ActionOf(run)), RecordParams(run, duration));
  if (recorded.ok()) recorded = Exec("COMMIT");
  if (!recorded.ok()) {
    (void)Exec("ROLLBACK");
    StepError error;
    error.message =
        "the statements ran, but recording the step failed: " + recorded.status().message();
    error.connection_lost = Lost();
    return fail(error);
  }
  outcome.ok = true;
  outcome.duration_ms = elapsed_ms();
  return outcome;
}

Result<std::set<std::string>> PgStore::ExistingTables(const std::vector<std::string>& tables) {
  std::vector<std::string> schemas, names;
  for (const std::string& table : tables) {
    const size_t dot = table.find('.');
    schemas.push_back(dot == std::string::npos ? options_.schema : table.substr(0, dot));
    names.push_back(dot == std::string::npos ? table : table.substr(dot + 1));
  }
  TM_ASSIGN_OR_RETURN(ResultPtr result,
                      ExecParams("SELECT CASE WHEN t.s = $3 THEN t.n ELSE t.s || '.' || t.n END"
                                 " FROM unnest($1::text[], $2::text[]) AS t(s, n)"
                                 " JOIN pg_namespace ns ON ns.nspname = t.s"
                                 " JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = t.n",
                                 {ArrayLiteral(schemas), ArrayLiteral(names), options_.schema}));
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
  TM_RETURN_IF_ERROR(Exec("BEGIN").status());
  auto recorded = ExecParams(RecordSql(run, "resolve"), RecordParams(run, 0));
  if (!recorded.ok()) {
    (void)Exec("ROLLBACK");
    return recorded.status();
  }
  return Exec("COMMIT").status();
}

}  // namespace

std::string LockKeySql() {
  return "('x' || left(encode(sha256(convert_to('tidemark:' || current_database() || ':' || "
         "$1::text || ':' || $2::text, 'UTF8')), 'hex'), 16))::bit(64)::bigint";
}

namespace {

// A new session, or Unavailable with the server's message (never the password).
Result<PGconn*> OpenSession(const spec::ConnectionParams& params, const ConnectOptions& options) {
  std::vector<const char*> keys, values;
  bool has_application_name = false, has_timeout = false;
  for (const auto& [key, value] : params.keywords) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
    has_application_name |= key == "application_name";
    has_timeout |= key == "connect_timeout";
  }
  const std::string timeout = std::to_string(options.connect_timeout_seconds);
  if (!has_application_name) {
    keys.push_back("fallback_application_name");
    values.push_back(options.application_name.c_str());
  }
  if (!has_timeout) {
    keys.push_back("connect_timeout");
    values.push_back(timeout.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (conn == nullptr) return Status::Unavailable("out of memory connecting to the database");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
      message.pop_back();
    PQfinish(conn);
    return Status::Unavailable("cannot connect to " + params.Describe() + ": " + message);
  }
  // Server notices ("relation already exists, skipping") are not for the user's terminal.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  return conn;
}

// The pool's key: every connection parameter (the password included, kept in memory only).
std::string SessionKey(const spec::ConnectionParams& params) {
  std::string key;
  for (const auto& [keyword, value] : params.keywords) key += keyword + '=' + value + '\0';
  return key;
}

}  // namespace

Result<ledger::StorePtr> Connect(const spec::ConnectionParams& params,
                                 const ConnectOptions& options) {
  TM_ASSIGN_OR_RETURN(PGconn * conn, OpenSession(params, options));
  auto store = std::make_unique<PgStore>(
      conn, options, [](PGconn* session, const LedgerFacts*) { PQfinish(session); });
  TM_RETURN_IF_ERROR(store->Init(nullptr));
  return ledger::StorePtr(std::move(store));
}

SessionPool::SessionPool(std::chrono::seconds max_idle, size_t max_idle_total)
    : max_idle_(max_idle), max_idle_total_(max_idle_total), reaper_([this](std::stop_token stop) {
        std::unique_lock lock(mutex_);
        while (!stop.stop_requested()) {
          wake_.wait_for(lock, stop, max_idle_ / 2, [] { return false; });
          const auto now = std::chrono::steady_clock::now();
          std::erase_if(idle_, [&](const Idle& session) {
            if (now - session.since < max_idle_) return false;
            PQfinish(session.conn);
            return true;
          });
        }
      }) {}

SessionPool::~SessionPool() {
  reaper_.request_stop();
  reaper_.join();
  for (const Idle& session : idle_) PQfinish(session.conn);
}

size_t SessionPool::IdleCount() const {
  std::lock_guard lock(mutex_);
  return idle_.size();
}

Result<ledger::StorePtr> SessionPool::Connect(const spec::ConnectionParams& params,
                                              const ConnectOptions& options) {
  const std::string key = SessionKey(params);
  const ReleaseSession give_back = [this, key](PGconn* conn, const LedgerFacts* facts) {
    GiveBack(key, conn, facts);
  };
  if (std::optional<Idle> idle = Take(key)) {
    auto store = std::make_unique<PgStore>(idle->conn, options, give_back);
    const Status ready = store->Init(idle->facts ? &*idle->facts : nullptr);
    if (ready.ok()) return ledger::StorePtr(std::move(store));
    if (!store->Lost()) return ready;
    // The server closed the session while it was idle (a restart): open a new one.
  }
  TM_ASSIGN_OR_RETURN(PGconn * conn, OpenSession(params, options));
  auto store = std::make_unique<PgStore>(conn, options, give_back);
  TM_RETURN_IF_ERROR(store->Init(nullptr));
  return ledger::StorePtr(std::move(store));
}

std::optional<SessionPool::Idle> SessionPool::Take(const std::string& key) {
  while (true) {
    std::optional<Idle> taken;
    {
      std::lock_guard lock(mutex_);
      // The most recently used first: its catalogue cache is the warmest.
      const auto found = std::find_if(idle_.rbegin(), idle_.rend(),
                                      [&](const Idle& session) { return session.key == key; });
      if (found == idle_.rend()) return std::nullopt;
      taken = std::move(*found);
      idle_.erase(std::next(found).base());
    }
    // The reset's answers, long arrived unless the server closed the session meanwhile (or
    // vanished: hence the bound on the wait).
    const std::vector<ResultPtr> reset =
        ReceivePipeline(taken->conn, taken->unanswered, Clock::now() + kResetAnswerWait);
    if (std::all_of(reset.begin(), reset.end(),
                    [](const ResultPtr& result) { return result && Succeeded(result.get()); }) &&
        PQstatus(taken->conn) == CONNECTION_OK) {
      return taken;
    }
    PQfinish(taken->conn);
  }
}

void SessionPool::GiveBack(const std::string& key, PGconn* conn, const LedgerFacts* facts) {
  // DISCARD ALL (what connection poolers run) drops the session's settings, advisory locks
  // and temporary objects, so the next user starts as on a new session; the search_path of
  // the ledger it served is set again, for a next store of the same ledger. Sent now, so
  // that the locks go at once; answered to the next Take, so that no one waits for it. A
  // session in the middle of a transaction or with an error is not worth keeping.
  std::vector<Query> reset = {{"DISCARD ALL", {}}};
  if (facts) {
    reset.push_back({"SELECT set_config('search_path', quote_ident($1), false)", {facts->schema}});
  }
  const bool clean = PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE &&
                     max_idle_total_ > 0 && SendPipeline(conn, reset);
  std::vector<PGconn*> closing;
  {
    std::lock_guard lock(mutex_);
    const auto same_key = std::count_if(idle_.begin(), idle_.end(),
                                        [&](const Idle& session) { return session.key == key; });
    if (clean && static_cast<size_t>(same_key) < kMaxIdlePerDatabase) {
      while (idle_.size() >= max_idle_total_) {  // the least recently used make room
        closing.push_back(idle_.front().conn);
        idle_.erase(idle_.begin());
      }
      idle_.push_back({key, conn, std::chrono::steady_clock::now(),
                       facts ? std::optional<LedgerFacts>(*facts) : std::nullopt, reset.size()});
    } else {
      closing.push_back(conn);
    }
  }
  for (PGconn* session : closing) PQfinish(session);
}

}  // namespace tidemark::postgres
