#include "postgres/history_writer.h"

#include "base/redact.h"
#include "ledger/history.h"

namespace tidemark::postgres {

void AppendHistoryInsert(const std::string& table, const ledger::StepRun& run,
                         const HistoryEntry& entry, const std::vector<std::string>& secrets,
                         Query* query) {
  std::string values;
  auto add_sql = [&](const std::string& expression) {
    values += (values.empty() ? "" : ", ") + expression;
  };
  auto add_param = [&](Param value) {
    query->params.push_back(std::move(value));
    add_sql("$" + std::to_string(query->params.size()));
  };
  add_param(run.id.app);
  add_param(run.id.name);
  add_param(entry.action);
  add_param(ledger::HistoryDirection(run.direction));
  add_param(run.checksum);
  add_sql("now()");
  switch (entry.duration) {
    case Duration::kNone:
      add_sql("NULL");
      break;
    case Duration::kGiven:
      add_param(std::to_string(entry.duration_ms));
      break;
    case Duration::kSinceTransactionStart:
      add_sql("extract(epoch FROM clock_timestamp() - now()) * 1000");
      break;
  }
  add_param(run.plan.ns);
  add_param(run.plan.name);
  add_param(run.plan.uid);
  add_param(std::to_string(run.plan.generation));
  add_param(entry.statement_index ? Param(std::to_string(*entry.statement_index)) : std::nullopt);
  add_param(entry.sql_state);
  add_param(entry.error ? Param(RedactValues(*entry.error, secrets)) : std::nullopt);
  if (entry.by_runner) add_sql("'runner'");
  const bool run_id = entry.by_runner && !entry.runner_run_id.empty();
  if (run_id) add_param(entry.runner_run_id);
  if (run.restore_point) {
    add_param(run.restore_point->at);
    add_param(run.restore_point->wal_lsn);
  }
  query->sql += "INSERT INTO " + table +
                " (app, name, action, direction, checksum, started_at, duration_ms,"
                " plan_namespace, plan_name, plan_uid, plan_generation, statement_index,"
                " sql_state, error" +
                (entry.by_runner ? ", run_by" : "") + (run_id ? ", runner_run_id" : "") +
                (run.restore_point ? ", restore_at, restore_lsn" : "") + ") VALUES (" + values +
                ")";
}

}  // namespace tidemark::postgres
