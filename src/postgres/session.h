// libpq at arm's length, for the rest of src/postgres only: owned results, text parameters,
// checked queries, pipelines, and the error messages a failed query becomes. Every function
// works on a session (PGconn) its caller owns and uses from one thread at a time; none
// keeps anything between calls.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "ledger/store.h"

namespace tidemark::postgres {

using Clock = std::chrono::steady_clock;

// SQLSTATE lock_not_available: lock_timeout ran out.
inline constexpr char kLockTimeoutState[] = "55P03";

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// A text parameter; nullopt is SQL NULL.
using Param = std::optional<std::string>;

// One statement and its text parameters ($1 is params[0]).
struct Query {
  std::string sql;
  std::vector<Param> params;
};

// A text[] literal for array parameters: {"a","b"} with quotes and backslashes escaped.
std::string ArrayLiteral(const std::vector<std::string>& values);

// A duration as a PostgreSQL setting takes it: "250ms".
std::string Milliseconds(std::chrono::milliseconds d);

// The milliseconds since `start`, for history rows' durations.
inline double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// An SQL boolean: whether the table (a parameter) exists in the schema (a parameter).
std::string TableExistsSql(const std::string& schema, const std::string& table);

// An identifier quoted for SQL text ("" when libpq cannot quote it).
std::string QuoteIdentifier(PGconn* conn, const std::string& identifier);

bool Lost(PGconn* conn);
bool Succeeded(const PGresult* result);

// Runs one statement with text parameters; the result as the server gave it, error or not.
ResultPtr RunParams(PGconn* conn, const Query& query);
// Runs SQL (no parameters; may hold several statements), or one statement with parameters;
// a failure becomes QueryError's Status.
Result<ResultPtr> Exec(PGconn* conn, const std::string& sql);
Result<ResultPtr> Exec(PGconn* conn, const Query& query);

// A failed query as a Status: Unavailable when the session is gone, else Internal naming
// `what` (the start of the query).
Status QueryError(PGconn* conn, const PGresult* result, const std::string& what);
// A failed step statement (`index` in the step, -1 outside its statements) as the engine
// reports it: SQLSTATE, message with detail and hint, lock timeout, session lost.
ledger::StepError StepErrorOf(PGconn* conn, const PGresult* result, int index,
                              const std::string& statement);

// Queues one query in pipeline mode, without a sync.
bool SendQuery(PGconn* conn, const Query& query);
// Sends the queries in pipeline mode with a sync after each: they run one after the other,
// each in a transaction of its own, as if sent one by one, in one network round trip.
bool SendPipeline(PGconn* conn, const std::vector<Query>& queries);
// The results of SendPipeline's `count` queries, in order (null where the session ended
// first or the deadline passed), after which the session leaves pipeline mode.
std::vector<ResultPtr> ReceivePipeline(PGconn* conn, size_t count,
                                       std::optional<Clock::time_point> deadline = std::nullopt);

}  // namespace tidemark::postgres
