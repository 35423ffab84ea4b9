#include "tests/reliability/step_set.h"

#include <libpq-fe.h>

#include <cstdio>
#include <map>
#include <memory>

namespace tidemark::testing {
namespace {

constexpr int kRowsPerTable = 20;

bool NonAtomic(int i) { return i % 6 == 0; }

std::string Name(int i) {
  char name[16];
  std::snprintf(name, sizeof name, "%04d", i);
  return name;
}

std::string Table(int i) { return "r_t" + std::to_string(i); }

// The atomic step before `i` whose table step `i` alters (0: none).
int PreviousAtomic(int i) {
  for (int p = i - 1; p >= 1; --p) {
    if (!NonAtomic(p)) return p;
  }
  return 0;
}

struct IndexBuild {
  std::string name;
  int table;  // the atomic step whose table it indexes
};

std::vector<IndexBuild> IndexBuilds(int i) {
  std::vector<IndexBuild> builds = {{"r_ix" + std::to_string(i) + "a", i - 1}};
  if (i % 12 == 0) builds.push_back({"r_ix" + std::to_string(i) + "b", i - 2});
  return builds;
}

std::string Forward(int i, double sleep_seconds) {
  std::string sql;
  if (NonAtomic(i)) {
    for (const IndexBuild& build : IndexBuilds(i)) {
      sql += "CREATE INDEX CONCURRENTLY " + build.name + " ON " + Table(build.table) + " (v); ";
    }
    return sql;
  }
  sql = "CREATE TABLE " + Table(i) + " (id int PRIMARY KEY, v text); INSERT INTO " + Table(i) +
        " SELECT g, 'v' || g FROM generate_series(1, " + std::to_string(kRowsPerTable) + ") g; ";
  if (int p = PreviousAtomic(i)) {
    sql += "ALTER TABLE " + Table(p) + " ADD COLUMN c" + std::to_string(i) + " int DEFAULT " +
           std::to_string(i) + "; ";
  }
  if (sleep_seconds > 0) sql += "SELECT pg_sleep(" + std::to_string(sleep_seconds) + "); ";
  return sql;
}

using Snapshot =
    std::map<std::string, std::map<std::string, std::string>>;  // kind -> name -> value

struct PgConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct PgResultCloser {
  void operator()(PGresult* result) const { PQclear(result); }
};

// The ledger, the history and the catalog, read in one repeatable-read transaction so that
// a run still committing cannot show half of its work.
bool ReadSnapshot(const std::string& dsn, Snapshot* snapshot, std::string* error) {
  std::unique_ptr<PGconn, PgConnCloser> conn(PQconnectdb(dsn.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    *error = "connecting: " + std::string(PQerrorMessage(conn.get()));
    return false;
  }
  auto run = [&](const std::string& sql) {
    std::unique_ptr<PGresult, PgResultCloser> result(PQexec(conn.get(), sql.c_str()));
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      *error = sql + ": " + PQerrorMessage(conn.get());
      return std::unique_ptr<PGresult, PgResultCloser>();
    }
    return result;
  };
  if (!run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")) return false;
  auto tables =
      run("SELECT to_regclass('django_migrations') IS NOT NULL, "
          "to_regclass('tidemark_history') IS NOT NULL");
  if (!tables) return false;
  const bool ledger = PQgetvalue(tables.get(), 0, 0)[0] == 't';
  const bool history = PQgetvalue(tables.get(), 0, 1)[0] == 't';
  std::string sql =
      "SELECT 'table', c.relname, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) "
      "AS n FROM %I', c.relname), false, true, '')))[1]::text FROM pg_class c WHERE c.relkind = "
      "'r' AND c.relname ~ '^r_t[0-9]+$' AND c.relnamespace = 'public'::regnamespace "
      "UNION ALL SELECT 'column', c.relname || '.' || a.attname, '' FROM pg_attribute a JOIN "
      "pg_class c ON c.oid = a.attrelid WHERE c.relname ~ '^r_t[0-9]+$' AND a.attname ~ "
      "'^c[0-9]+$' AND NOT a.attisdropped "
      "UNION ALL SELECT 'index', i.relname, x.indisvalid::text FROM pg_index x JOIN pg_class i "
      "ON i.oid = x.indexrelid WHERE i.relname ~ '^r_ix'";
  if (ledger) {
    sql +=
        " UNION ALL SELECT 'ledger', name, count(*)::text FROM django_migrations WHERE app = "
        "'r' GROUP BY name";
  }
  if (history) {
    sql +=
        " UNION ALL SELECT 'apply', name, count(*)::text FROM tidemark_history WHERE app = "
        "'r' AND action = 'apply' GROUP BY name";
  }
  auto rows = run(sql);
  if (!rows) return false;
  for (int r = 0; r < PQntuples(rows.get()); ++r) {
    (*snapshot)[PQgetvalue(rows.get(), r, 0)][PQgetvalue(rows.get(), r, 1)] =
        PQgetvalue(rows.get(), r, 2);
  }
  return true;
}

std::string ValueOf(const Snapshot& snapshot, const std::string& kind, const std::string& name) {
  auto of_kind = snapshot.find(kind);
  if (of_kind == snapshot.end()) return "";
  auto found = of_kind->second.find(name);
  return found == of_kind->second.end() ? "" : found->second;
}

}  // namespace

std::string StepSetYaml(int count, double sleep_seconds) {
  std::string yaml;
  for (int i = 1; i <= count; ++i) {
    yaml += "    - {app: r, name: \"" + Name(i) + "\"";
    if (i > 1) yaml += ", dependencies: [r." + Name(i - 1) + "]";
    if (NonAtomic(i)) yaml += ", atomic: false";
    yaml += ", forward: \"" + Forward(i, sleep_seconds) + "\"}\n";
  }
  return yaml;
}

std::string StepSetPlan(const std::string& name, int count, const std::string& database_yaml,
                        const std::string& policy_fields, double sleep_seconds) {
  return "apiVersion: tidemark.dev/v1alpha1\nkind: MigrationPlan\nmetadata: {name: " + name +
         "}\nspec:\n" + (database_yaml.empty() ? "" : "  database: " + database_yaml + "\n") +
         "  policy: {lint: \"Off\"" + (policy_fields.empty() ? "" : ", " + policy_fields) +
         "}\n  migrations:\n" + StepSetYaml(count, sleep_seconds);
}

std::vector<std::string> StepSetProblems(const std::string& dsn, int count, bool converged) {
  Snapshot snapshot;
  std::string error;
  if (!ReadSnapshot(dsn, &snapshot, &error)) return {"cannot read the database: " + error};
  std::vector<std::string> problems;
  auto problem = [&](int i, const std::string& what) {
    problems.push_back("step r." + Name(i) + (NonAtomic(i) ? " (non-atomic)" : "") + ": " + what);
  };
  bool earlier_missing = false;  // a step before this one is not in the ledger
  int first_unapplied = 0;
  for (int i = 1; i <= count; ++i) {
    const std::string in_ledger = ValueOf(snapshot, "ledger", Name(i));
    const std::string applies = ValueOf(snapshot, "apply", Name(i));
    const bool applied = !in_ledger.empty();
    if (applied && in_ledger != "1") problem(i, in_ledger + " ledger rows");
    if (applies != in_ledger) {
      problem(i, "history has " + (applies.empty() ? "0" : applies) + " apply rows, ledger " +
                     (in_ledger.empty() ? "0" : in_ledger));
    }
    if (applied && earlier_missing) problem(i, "applied while an earlier step is not");
    if (!applied && first_unapplied == 0) first_unapplied = i;
    earlier_missing |= !applied;
    if (converged && !applied) problem(i, "not applied");
    if (NonAtomic(i)) {
      for (const IndexBuild& build : IndexBuilds(i)) {
        const std::string valid = ValueOf(snapshot, "index", build.name);
        if (applied && valid != "true") {
          problem(i, "in the ledger, but index " + build.name +
                         (valid.empty() ? " is missing" : " is INVALID"));
        }
        // Only the step a run was interrupted in may have begun its builds.
        if (!applied && !valid.empty() && (converged || i != first_unapplied)) {
          problem(i, "not in the ledger, but index " + build.name + " exists");
        }
      }
      continue;
    }
    const std::string rows = ValueOf(snapshot, "table", Table(i));
    if (applied && rows != std::to_string(kRowsPerTable)) {
      problem(i, "in the ledger, but table " + Table(i) +
                     (rows.empty() ? " is missing" : " has " + rows + " rows"));
    }
    if (!applied && !rows.empty())
      problem(i, "not in the ledger, but table " + Table(i) + " exists");
    if (int p = PreviousAtomic(i)) {
      const std::string column = Table(p) + ".c" + std::to_string(i);
      const bool exists = snapshot["column"].count(column) > 0;
      if (applied != exists) {
        problem(i, std::string(applied ? "in" : "not in") + " the ledger, but column " + column +
                       (exists ? " exists" : " is missing"));
      }
    }
  }
  return problems;
}

int AppliedSteps(const std::string& dsn) {
  Snapshot snapshot;
  std::string error;
  if (!ReadSnapshot(dsn, &snapshot, &error)) return -1;
  return static_cast<int>(snapshot["ledger"].size());
}

std::string Join(const std::vector<std::string>& problems) {
  std::string joined;
  for (const std::string& line : problems) joined += line + "\n";
  return joined;
}

}  // namespace tidemark::testing
