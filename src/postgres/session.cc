#include "postgres/session.h"

#include <poll.h>

#include <cerrno>

#include "base/text.h"

namespace tidemark::postgres {
namespace {

// Text parameters as libpq takes them: pointers into `params` (null for NULL), which must
// outlive them.
std::vector<const char*> ParamValues(const std::vector<Param>& params) {
  std::vector<const char*> values;
  for (const Param& p : params) values.push_back(p ? p->c_str() : nullptr);
  return values;
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

}  // namespace

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

std::string TableExistsSql(const std::string& schema, const std::string& table) {
  // to_regclass is a lookup, where a join over the catalogue would be planned on every call.
  return "(to_regclass(quote_ident(" + schema + ") || '.' || quote_ident(" + table +
         ")) IS NOT NULL)";
}

std::string QuoteIdentifier(PGconn* conn, const std::string& identifier) {
  char* quoted = PQescapeIdentifier(conn, identifier.c_str(), identifier.size());
  std::string out = quoted ? quoted : "\"\"";
  PQfreemem(quoted);
  return out;
}

bool Lost(PGconn* conn) { return PQstatus(conn) != CONNECTION_OK; }

bool Succeeded(const PGresult* result) {
  const ExecStatusType status = PQresultStatus(result);
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

ResultPtr RunParams(PGconn* conn, const Query& query) {
  const std::vector<const char*> values = ParamValues(query.params);
  return ResultPtr(PQexecParams(conn, query.sql.c_str(), static_cast<int>(values.size()), nullptr,
                                values.data(), nullptr, nullptr, 0));
}

Result<ResultPtr> Exec(PGconn* conn, const std::string& sql) {
  ResultPtr result(PQexec(conn, sql.c_str()));
  if (!Succeeded(result.get())) return QueryError(conn, result.get(), Truncate(sql, 80));
  return result;
}

Result<ResultPtr> Exec(PGconn* conn, const Query& query) {
  ResultPtr result = RunParams(conn, query);
  if (!Succeeded(result.get())) return QueryError(conn, result.get(), Truncate(query.sql, 80));
  return result;
}

Status QueryError(PGconn* conn, const PGresult* result, const std::string& what) {
  const char* message = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const std::string text = message ? message : PQerrorMessage(conn);
  if (Lost(conn)) return Status::Unavailable("database connection lost: " + text);
  return Status::Internal("ledger query failed (" + what + "...): " + text);
}

ledger::StepError StepErrorOf(PGconn* conn, const PGresult* result, int index,
                              const std::string& statement) {
  ledger::StepError error;
  error.statement_index = index;
  error.statement = statement;
  auto field = [&](int code) {
    const char* value = result ? PQresultErrorField(result, code) : nullptr;
    return std::string(value ? value : "");
  };
  error.sql_state = field(PG_DIAG_SQLSTATE);
  error.message = field(PG_DIAG_MESSAGE_PRIMARY);
  if (error.message.empty()) error.message = PQerrorMessage(conn);
  while (!error.message.empty() && error.message.back() == '\n') error.message.pop_back();
  if (const std::string detail = field(PG_DIAG_MESSAGE_DETAIL); !detail.empty()) {
    error.message += " (" + detail + ")";
  }
  if (const std::string hint = field(PG_DIAG_MESSAGE_HINT); !hint.empty()) {
    error.message += "; hint: " + hint;
  }
  error.lock_timeout = error.sql_state == kLockTimeoutState;
  error.connection_lost = Lost(conn);
  return error;
}

bool SendQuery(PGconn* conn, const Query& query) {
  const std::vector<const char*> values = ParamValues(query.params);
  return PQsendQueryParams(conn, query.sql.c_str(), static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, 0) == 1;
}

bool SendPipeline(PGconn* conn, const std::vector<Query>& queries) {
  if (PQenterPipelineMode(conn) != 1) return false;
  for (const Query& query : queries) {
    if (!SendQuery(conn, query) || PQpipelineSync(conn) != 1) return false;
  }
  return true;
}

std::vector<ResultPtr> ReceivePipeline(PGconn* conn, size_t count,
                                       std::optional<Clock::time_point> deadline) {
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

}  // namespace tidemark::postgres
