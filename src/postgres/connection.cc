#include "postgres/connection.h"

#include <libpq-fe.h>

#include <map>
#include <memory>
#include <tuple>

#include "base/redact.h"

namespace tidemark::postgres {

Result<ConnectionParams> ResolveConnection(const plan::DatabaseSpec& database,
                                           const std::string& ns, resource::ObjectSource& objects,
                                           bool allow_local_sources) {
  ConnectionParams params;
  const std::tuple<const char*, const char*, const plan::Value*> fields[] = {
      {"dbname", "spec.database.dsn", &database.dsn},  // expanded by libpq (expand_dbname)
      {"host", "spec.database.host", &database.host},
      {"port", "spec.database.port", &database.port},
      {"dbname", "spec.database.dbname", &database.dbname},
      {"user", "spec.database.user", &database.user},
      {"password", "spec.database.password", &database.password},
      {"sslmode", "spec.database.sslMode", &database.ssl_mode}};
  for (const auto& [keyword, field, value] : fields) {
    if (value->empty()) continue;
    TM_ASSIGN_OR_RETURN(std::string resolved,
                        resource::ResolveValue(*value, field, ns, objects, allow_local_sources));
    params.keywords.emplace_back(keyword, resolved);
  }
  if (params.keywords.empty()) {
    return Status::InvalidArgument(
        "spec.database: no connection given; set dsn/dsnFrom or host, dbname, user and "
        "passwordFrom (with the CLI, --database or DATABASE_URL also work)");
  }
  return params;
}

namespace {

using ConninfoPtr = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

// libpq's own test for a dbname that is a connection string (expand_dbname).
bool IsConnectionString(const std::string& dbname) {
  return dbname.rfind("postgresql://", 0) == 0 || dbname.rfind("postgres://", 0) == 0 ||
         dbname.find('=') != std::string::npos;
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> ClientEnvironment(
    const ConnectionParams& params) {
  // Keywords in order, a later value replacing an earlier one as PQconnectdbParams does.
  std::vector<std::pair<std::string, std::string>> keywords;
  const auto set = [&keywords](const std::string& keyword, const std::string& value) {
    std::erase_if(keywords, [&](const auto& entry) { return entry.first == keyword; });
    keywords.emplace_back(keyword, value);
  };
  for (const auto& [keyword, value] : params.keywords) {
    if (keyword != "dbname" || !IsConnectionString(value)) {
      set(keyword, value);
      continue;
    }
    char* error = nullptr;
    ConninfoPtr parsed(PQconninfoParse(value.c_str(), &error), PQconninfoFree);
    if (!parsed) {
      const std::string why = error ? error : "out of memory";
      PQfreemem(error);
      return Status::InvalidArgument("the connection string does not parse: " + RedactDsn(why));
    }
    for (const PQconninfoOption* option = parsed.get(); option->keyword; ++option) {
      if (option->val != nullptr) set(option->keyword, option->val);
    }
  }
  ConninfoPtr defaults(PQconndefaults(), PQconninfoFree);
  if (!defaults) return Status::Internal("libpq: out of memory");
  std::map<std::string, std::string> variable_of;
  for (const PQconninfoOption* option = defaults.get(); option->keyword; ++option) {
    if (option->envvar != nullptr) variable_of[option->keyword] = option->envvar;
  }
  std::vector<std::pair<std::string, std::string>> environment;
  for (const auto& [keyword, value] : keywords) {
    auto variable = variable_of.find(keyword);
    if (variable == variable_of.end()) {
      return Status::InvalidArgument("connection parameter " + keyword +
                                     " has no environment variable to hand it to pg_dump; "
                                     "leave it out, or take the backup yourself");
    }
    environment.emplace_back(variable->second, value);
  }
  return environment;
}

}  // namespace tidemark::postgres
