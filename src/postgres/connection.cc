#include "postgres/connection.h"

#include <tuple>

#include "base/redact.h"

namespace tidemark::postgres {

std::string ConnectionParams::Describe() const {
  std::string out;
  for (const auto& [key, value] : keywords) {
    if (key == "password") continue;
    out += (out.empty() ? "" : " ") + key + "=" + (key == "dbname" ? RedactDsn(value) : value);
  }
  return out;
}

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

}  // namespace tidemark::postgres
