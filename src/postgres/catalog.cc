#include "postgres/catalog.h"

#include "postgres/pg_store_impl.h"
#include "postgres/session.h"

namespace tidemark::postgres {

Result<LiveCatalog> ReadCatalog(const ConnectionParams& params, const ConnectOptions& options) {
  TM_ASSIGN_OR_RETURN(PGconn * conn, OpenSession(params, options));
  LiveCatalog catalog;
  catalog.server_version = PQserverVersion(conn) / 10000;
  auto rows = Exec(conn,
                   "SELECT n.nspname || '.' || c.relname, a.attname, "
                   "format_type(a.atttypid, a.atttypmod) "
                   "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                   "JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') "
                   "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                   "AND n.nspname NOT LIKE 'pg\\_toast%' "
                   "ORDER BY 1, a.attnum LIMIT " +
                       std::to_string(kMaxCatalogColumns));
  if (rows.ok()) {
    for (int row = 0; row < PQntuples(rows->get()); ++row) {
      catalog.columns[PQgetvalue(rows->get(), row, 0)][PQgetvalue(rows->get(), row, 1)] =
          PQgetvalue(rows->get(), row, 2);
    }
  }
  PQfinish(conn);
  if (!rows.ok()) return rows.status();
  return catalog;
}

}  // namespace tidemark::postgres
