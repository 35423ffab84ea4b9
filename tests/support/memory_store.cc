#include "tests/support/memory_store.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "base/clock.h"

namespace tidemark::testing {
namespace {

using ledger::Direction;
using ledger::StepError;
using ledger::StepResult;
using ledger::StepRun;
using plan::StepId;
using SteadyClock = std::chrono::steady_clock;

// "schema.table" for a name that may be qualified already.
std::string Qualified(const std::string& schema, const std::string& table) {
  return table.find('.') == std::string::npos ? schema + "." + table : table;
}

std::string LedgerTableOf(const MemoryLedger& ledger) {
  return ledger.schema + "." + ledger.tables.table;
}
std::string HistoryTableOf(const MemoryLedger& ledger) {
  return ledger.schema + "." + ledger.tables.history_table;
}

std::string Missing(const std::string& table) {
  return "relation \"" + table + "\" does not exist";
}

double MillisecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
}

}  // namespace

StatementFailure StatementFailure::Error(std::string sql_state, std::string message) {
  return {Kind::kError, std::move(sql_state), std::move(message)};
}
StatementFailure StatementFailure::LockTimeout() {
  return {Kind::kLockTimeout, "55P03", "canceling statement due to lock timeout"};
}
StatementFailure StatementFailure::ConnectionLost() {
  return {Kind::kConnectionLost, "", "server closed the connection unexpectedly"};
}

// One session of a MemoryDatabase. Every call holds the database's mutex throughout, so
// each is atomic to the other sessions, as a transaction is.
class MemoryStore : public ledger::Store {
 public:
  MemoryStore(MemoryDatabase& db, MemoryLedger ledger) : db_(db), ledger_(std::move(ledger)) {}
  ~MemoryStore() override {
    std::lock_guard lock(db_.mutex_);
    EndSession();
  }

  std::string Describe() const override {
    return db_.name_ + "/" + ledger_.schema + "/" + ledger_.tables.table;
  }
  Result<bool> LedgerExists() override;
  Status EnsureTables() override;
  Result<double> Lock(std::chrono::milliseconds max_wait) override;
  Status Unlock() override;
  Result<ledger::Recorded> Read(const std::vector<std::string>& apps) override;
  StepResult Run(const StepRun& run) override;
  Result<std::set<std::string>> ExistingTables(const std::vector<std::string>& tables) override;
  Status RecordRunnerStep(const StepRun& run, const StepResult& result) override;
  Status RecordRunnerClaim(const StepRun& run, const std::string& run_id, bool started) override;
  Result<plan::RestorePoint> MarkRestorePoint() override;
  Status Resolve(const StepId& id, const std::vector<StepId>& records, bool applied,
                 const ledger::PlanRef& plan) override;

 private:
  // All below with db_.mutex_ held.
  Status Session() const {
    return lost_ ? Status::Unavailable("database connection lost: " + *lost_) : Status::Ok();
  }
  bool Exists(const std::string& qualified) const { return db_.tables_.count(qualified) > 0; }
  // The session ends (closed or lost): its advisory locks go with it.
  void EndSession();
  void AddHistory(const StepRun& run, const std::string& action, const StepError* failure);
  void Record(const StepRun& run, const std::string& action);
  void RecordFailure(const StepRun& run, const StepError& error);
  // Runs statement `index` of `run`; the tables it creates are added to `created`.
  std::optional<StepError> Execute(const StepRun& run, size_t index,
                                   std::vector<std::string>& created);
  StepResult RunAtomic(const StepRun& run);
  StepResult RunNonAtomic(const StepRun& run);
  // Takes the mutex for each batch, not across the pauses between them.
  StepResult RunBackfill(const StepRun& run);
  // One batch with the mutex held: the rows it changed, or its error.
  std::optional<StepError> Batch(const StepRun& run, int64_t* rows);

  MemoryDatabase& db_;
  const MemoryLedger ledger_;
  std::optional<std::string> lost_;  // why the session ended under it
};

void MemoryStore::EndSession() {
  std::erase_if(db_.locks_, [this](const auto& entry) { return entry.second.session == this; });
  db_.lock_released_.notify_all();
}

Result<bool> MemoryStore::LedgerExists() {
  std::lock_guard lock(db_.mutex_);
  ++db_.calls_.ledger_exists;
  TM_RETURN_IF_ERROR(Session());
  return Exists(LedgerTableOf(ledger_));
}

Status MemoryStore::EnsureTables() {
  std::lock_guard lock(db_.mutex_);
  ++db_.calls_.ensure_tables;
  TM_RETURN_IF_ERROR(Session());
  for (const std::string& table : {LedgerTableOf(ledger_), HistoryTableOf(ledger_)}) {
    db_.tables_.insert(table);
  }
  db_.ledgers_[LedgerTableOf(ledger_)];
  db_.history_[HistoryTableOf(ledger_)];
  return Status::Ok();
}

Result<double> MemoryStore::Lock(std::chrono::milliseconds max_wait) {
  std::unique_lock lock(db_.mutex_);
  ++db_.calls_.lock;
  TM_RETURN_IF_ERROR(Session());
  const std::string key = LedgerTableOf(ledger_);
  const auto start = SteadyClock::now();
  const bool free = db_.lock_released_.wait_until(lock, start + max_wait, [&] {
    auto holder = db_.locks_.find(key);
    return holder == db_.locks_.end() || holder->second.session == this;
  });
  if (!free) {
    return Status::DeadlineExceeded("another session holds the migration lock of " + Describe() +
                                    " (advisory lock " + key + ")");
  }
  MemoryDatabase::LockHolder& holder = db_.locks_[key];
  holder.session = this;
  ++holder.depth;
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

Status MemoryStore::Unlock() {
  std::lock_guard lock(db_.mutex_);
  ++db_.calls_.unlock;
  TM_RETURN_IF_ERROR(Session());
  // Unlocking a lock not held is no error in PostgreSQL either (a warning).
  auto holder = db_.locks_.find(LedgerTableOf(ledger_));
  if (holder != db_.locks_.end() && holder->second.session == this && --holder->second.depth == 0) {
    db_.locks_.erase(holder);
    db_.lock_released_.notify_all();
  }
  return Status::Ok();
}

Result<ledger::Recorded> MemoryStore::Read(const std::vector<std::string>& apps) {
  std::lock_guard lock(db_.mutex_);
  ++db_.calls_.read;
  TM_RETURN_IF_ERROR(Session());
  const std::set<std::string> wanted(apps.begin(), apps.end());
  ledger::Recorded recorded;
  if (Exists(LedgerTableOf(ledger_))) {
    for (const StepId& id : db_.ledgers_[LedgerTableOf(ledger_)]) {
      if (wanted.count(id.app)) recorded.applied.insert(id);
    }
  }
  std::vector<ledger::HistoryRow> rows;
  if (Exists(HistoryTableOf(ledger_))) {
    for (const ledger::HistoryRow& row : db_.history_[HistoryTableOf(ledger_)]) {
      if (wanted.count(row.step.app)) rows.push_back(row);
    }
  }
  recorded.history = ledger::Summarize(std::move(rows));
  return recorded;
}

void MemoryStore::AddHistory(const StepRun& run, const std::string& action,
                             const StepError* failure) {
  ledger::HistoryRow row;
  row.id = db_.next_history_id_++;
  row.step = run.id;
  row.action = action;
  row.direction = ledger::HistoryDirection(run.direction);
  row.checksum = run.checksum;
  row.started_at = FormatRfc3339(SystemClock().WallNow());
  row.plan = run.plan.ns + "/" + run.plan.name;
  if (run.restore_point) row.restore_lsn = run.restore_point->wal_lsn;
  if (failure) {
    row.statement_index = failure->statement_index;
    row.error = failure->message;
  }
  db_.history_[HistoryTableOf(ledger_)].push_back(std::move(row));
}

void MemoryStore::Record(const StepRun& run, const std::string& action) {
  std::multiset<StepId>& rows = db_.ledgers_[LedgerTableOf(ledger_)];
  for (const StepId& id : run.records) {
    if (run.direction == Direction::kForward) {
      rows.insert(id);
    } else {
      rows.erase(id);
    }
  }
  AddHistory(run, action, nullptr);
}

void MemoryStore::RecordFailure(const StepRun& run, const StepError& error) {
  if (lost_ || !Exists(HistoryTableOf(ledger_))) return;
  AddHistory(run, "failure", &error);
}

std::optional<StepError> MemoryStore::Execute(const StepRun& run, size_t index,
                                              std::vector<std::string>& created) {
  const std::string& statement = run.statements[index];
  auto script = db_.scripts_.find(statement);
  if (script == db_.scripts_.end()) return std::nullopt;
  MemoryDatabase::Script& scripted = script->second;
  if (scripted.failure && scripted.failures_left != 0) {
    if (scripted.failures_left > 0) --scripted.failures_left;
    using Kind = StatementFailure::Kind;
    const StatementFailure& failure = *scripted.failure;
    StepError error;
    error.statement_index = static_cast<int>(index);
    error.statement = statement;
    error.sql_state = failure.sql_state;
    error.message = failure.message;
    error.lock_timeout = failure.kind == Kind::kLockTimeout;
    error.connection_lost = failure.kind == Kind::kConnectionLost;
    if (error.connection_lost) {
      lost_ = failure.message;
      EndSession();
    }
    return error;
  }
  for (const std::string& table : scripted.creates) {
    created.push_back(Qualified(ledger_.schema, table));
  }
  return std::nullopt;
}

StepResult MemoryStore::Run(const StepRun& run) {
  if (run.backfill && !run.fake) return RunBackfill(run);
  std::lock_guard lock(db_.mutex_);
  ++db_.calls_.run;
  ++db_.calls_.runs_of[run.id];
  StepResult result;
  if (lost_) {
    result.error.message = *lost_;
    result.error.connection_lost = true;
    return result;
  }
  return run.atomic || run.fake ? RunAtomic(run) : RunNonAtomic(run);
}

StepResult MemoryStore::RunAtomic(const StepRun& run) {
  const auto start = SteadyClock::now();
  StepResult result;
  std::vector<std::string> created;  // applied at commit only
  std::optional<StepError> error;
  for (size_t i = 0; !run.fake && !error && i < run.statements.size(); ++i) {
    error = Execute(run, i, created);
  }
  for (const std::string& table : {LedgerTableOf(ledger_), HistoryTableOf(ledger_)}) {
    if (error || Exists(table)) continue;
    error = StepError{};
    error->sql_state = "42P01";
    error->message = "recording the step in the ledger failed: " + Missing(table);
  }
  result.duration_ms = MillisecondsSince(start);
  if (error) {
    result.error = std::move(*error);
    RecordFailure(run, result.error);
    return result;
  }
  db_.tables_.insert(created.begin(), created.end());
  Record(run, ledger::HistoryAction(run));
  result.ok = true;
  return result;
}

StepResult MemoryStore::RunNonAtomic(const StepRun& run) {
  const auto start = SteadyClock::now();
  StepResult result;
  if (!Exists(HistoryTableOf(ledger_))) {
    result.error.message = "ledger query failed: " + Missing(HistoryTableOf(ledger_));
    return result;  // nothing ran: not dirty
  }
  // The "started" marker, committed first: a stop from here on leaves the step dirty.
  AddHistory(run, "start", nullptr);
  const int64_t marker = db_.history_[HistoryTableOf(ledger_)].back().id;
  // A resumed run goes on from the statement the interrupted one reached.
  auto fail = [&](StepError error) {
    error.dirty = true;
    result.error = std::move(error);
    result.duration_ms = MillisecondsSince(start);
    RecordFailure(run, result.error);
    return result;
  };
  for (size_t i = run.resume_at.value_or(0); i < run.statements.size(); ++i) {
    for (ledger::HistoryRow& row : db_.history_[HistoryTableOf(ledger_)]) {
      if (row.id == marker) row.statement_index = static_cast<int>(i);
    }
    std::vector<std::string> created;
    if (auto error = Execute(run, i, created)) return fail(std::move(*error));
    db_.tables_.insert(created.begin(), created.end());  // each statement commits alone
  }
  if (!Exists(LedgerTableOf(ledger_))) {
    StepError error;
    error.message = "the statements ran, but recording the step failed: ledger query failed: " +
                    Missing(LedgerTableOf(ledger_));
    return fail(error);
  }
  Record(run, ledger::HistoryAction(run));
  result.ok = true;
  result.duration_ms = MillisecondsSince(start);
  return result;
}

std::optional<StepError> MemoryStore::Batch(const StepRun& run, int64_t* rows) {
  if (lost_) {
    StepError error;
    error.message = *lost_;
    error.connection_lost = true;
    return error;
  }
  std::vector<std::string> created;
  if (auto error = Execute(run, 0, created)) return error;
  *rows = 0;
  if (auto script = db_.scripts_.find(run.statements.front()); script != db_.scripts_.end()) {
    std::vector<int64_t>& left = script->second.batch_rows;
    if (!left.empty()) {
      *rows = left.front();
      left.erase(left.begin());
    }
  }
  return std::nullopt;
}

StepResult MemoryStore::RunBackfill(const StepRun& run) {
  const auto start = SteadyClock::now();
  StepResult result;
  ledger::BackfillProgress progress;
  {
    std::lock_guard lock(db_.mutex_);
    ++db_.calls_.run;
    ++db_.calls_.runs_of[run.id];
    auto& counts = db_.backfills_[HistoryTableOf(ledger_)];
    if (auto found = counts.find(run.id); found != counts.end()) {
      if (found->second.checksum == run.checksum) {
        progress.rows = found->second.rows;
        progress.batches = found->second.batches;
        result.notes.push_back(ledger::ResumedBackfillNote(progress));
      } else {
        result.notes.push_back(ledger::RestartedBackfillNote(found->second.rows));
        counts.erase(found);
      }
    }
  }
  std::optional<StepError> error;
  for (bool done = false; !done && !error;) {
    if (run.backfill->max_batches > 0 && progress.batches >= run.backfill->max_batches) {
      error = ledger::NotConverging(progress, run.backfill->max_batches);
      break;
    }
    {
      std::lock_guard lock(db_.mutex_);
      int64_t rows = 0;
      error = Batch(run, &rows);
      if (error) break;
      done = rows == 0;
      if (done) {
        if (!Exists(LedgerTableOf(ledger_)) || !Exists(HistoryTableOf(ledger_))) {
          error = StepError{};
          error->sql_state = "42P01";
          error->message = "the back-fill is done, but recording the step failed";
          break;
        }
        db_.backfills_[HistoryTableOf(ledger_)].erase(run.id);
        Record(run, ledger::HistoryAction(run));
      } else {
        progress.rows += rows;
        progress.run_rows += rows;

        ++progress.batches;
        db_.backfills_[HistoryTableOf(ledger_)][run.id] = {run.checksum, progress.rows,
                                                           progress.batches};
      }
      progress.batch_rows = rows;
      progress.seconds = MillisecondsSince(start) / 1000;
    }
    if (run.backfill->on_progress) run.backfill->on_progress(progress);
    if (!done && run.backfill->pause && !run.backfill->pause(run.backfill->batch_delay)) {
      error = ledger::StoppedBetweenBatches(progress);
    }
  }
  result.backfill = progress;
  result.duration_ms = MillisecondsSince(start);
  if (!error) {
    result.ok = true;
    return result;
  }
  result.error = std::move(*error);
  std::lock_guard lock(db_.mutex_);
  if (!result.error.stopped || result.error.not_converging) RecordFailure(run, result.error);
  return result;
}

// A WAL position that grows with every change the database records, as PostgreSQL's does.
Result<plan::RestorePoint> MemoryStore::MarkRestorePoint() {
  std::lock_guard lock(db_.mutex_);
  ++db_.calls_.restore_points;
  TM_RETURN_IF_ERROR(Session());
  char lsn[32];
  std::snprintf(lsn, sizeof lsn, "0/%llX",
                static_cast<unsigned long long>(0x1000000 + 0x100 * db_.next_history_id_));
  return plan::RestorePoint{FormatRfc3339(SystemClock().WallNow()), lsn};
}

Status MemoryStore::RecordRunnerStep(const StepRun& run, const StepResult& result) {
  std::lock_guard lock(db_.mutex_);
  ++db_.calls_.record_runner_step;
  TM_RETURN_IF_ERROR(Session());
  if (!Exists(HistoryTableOf(ledger_)))
    return Status::FailedPrecondition(Missing(HistoryTableOf(ledger_)));
  std::vector<ledger::HistoryRow>& rows = db_.history_[HistoryTableOf(ledger_)];
  const bool recorded_before =
      !result.runner_run_id.empty() && std::any_of(rows.begin(), rows.end(), [&](const auto& row) {
        return row.step == run.id && row.runner_run_id == result.runner_run_id &&
               row.action != "runner-start" && row.action != "runner-lost";
      });
  if (recorded_before) return Status::Ok();
  AddHistory(run, result.ok ? ledger::HistoryAction(run) : "failure",
             result.ok ? nullptr : &result.error);
  rows.back().by_runner = true;
  rows.back().runner_run_id = result.runner_run_id;
  return Status::Ok();
}

Status MemoryStore::RecordRunnerClaim(const StepRun& run, const std::string& run_id, bool started) {
  std::lock_guard lock(db_.mutex_);
  ++db_.calls_.record_runner_step;
  TM_RETURN_IF_ERROR(Session());
  if (!Exists(HistoryTableOf(ledger_)))
    return Status::FailedPrecondition(Missing(HistoryTableOf(ledger_)));
  AddHistory(run, started ? "runner-start" : "runner-lost", nullptr);
  ledger::HistoryRow& row = db_.history_[HistoryTableOf(ledger_)].back();
  row.by_runner = true;
  row.runner_run_id = run_id;
  return Status::Ok();
}

Result<std::set<std::string>> MemoryStore::ExistingTables(const std::vector<std::string>& tables) {
  std::lock_guard lock(db_.mutex_);
  ++db_.calls_.existing_tables;
  TM_RETURN_IF_ERROR(Session());
  std::set<std::string> existing;
  for (const std::string& table : tables) {
    const std::string qualified = Qualified(ledger_.schema, table);
    if (!Exists(qualified)) continue;
    // Named as given, except that the store's own schema is left out.
    const std::string own = ledger_.schema + ".";
    existing.insert(qualified.starts_with(own) ? qualified.substr(own.size()) : qualified);
  }
  return existing;
}

Status MemoryStore::Resolve(const StepId& id, const std::vector<StepId>& records, bool applied,
                            const ledger::PlanRef& plan) {
  std::lock_guard lock(db_.mutex_);
  ++db_.calls_.resolve;
  TM_RETURN_IF_ERROR(Session());
  for (const std::string& table : {LedgerTableOf(ledger_), HistoryTableOf(ledger_)}) {
    if (!Exists(table)) return Status::Internal("ledger query failed: " + Missing(table));
  }
  StepRun run;
  run.id = id;
  run.direction = applied ? Direction::kForward : Direction::kBackward;
  run.plan = plan;
  // "applied" inserts the rows that are missing; "unapplied" removes those present.
  const std::multiset<StepId>& present = db_.ledgers_[LedgerTableOf(ledger_)];
  for (const StepId& record : records) {
    if ((present.count(record) > 0) != applied) run.records.push_back(record);
  }
  Record(run, "resolve");
  return Status::Ok();
}

MemoryDatabase::MemoryDatabase(std::string name) : name_(std::move(name)), schemas_{"public"} {}

Result<ledger::StorePtr> MemoryDatabase::Connect(const MemoryLedger& ledger) {
  std::lock_guard lock(mutex_);
  if (!schemas_.count(ledger.schema)) {
    return Status::FailedPrecondition("schema \"" + ledger.schema +
                                      "\" does not exist in database " + name_ +
                                      "; create it or fix spec.database.schema");
  }
  return ledger::StorePtr(std::make_unique<MemoryStore>(*this, ledger));
}

void MemoryDatabase::FailStatement(const std::string& statement, StatementFailure failure,
                                   int times) {
  std::lock_guard lock(mutex_);
  Script& script = scripts_[statement];
  script.failure = std::move(failure);
  script.failures_left = times;
}

void MemoryDatabase::StatementCreates(const std::string& statement,
                                      std::vector<std::string> tables) {
  std::lock_guard lock(mutex_);
  scripts_[statement].creates = std::move(tables);
}

void MemoryDatabase::BatchRows(const std::string& statement, std::vector<int64_t> rows) {
  std::lock_guard lock(mutex_);
  scripts_[statement].batch_rows = std::move(rows);
}

void MemoryDatabase::AddSchema(const std::string& schema) {
  std::lock_guard lock(mutex_);
  schemas_.insert(schema);
}

void MemoryDatabase::AddTable(const std::string& table) {
  std::lock_guard lock(mutex_);
  tables_.insert(Qualified("public", table));
}

std::set<StepId> MemoryDatabase::LedgerRows(const MemoryLedger& ledger) const {
  std::lock_guard lock(mutex_);
  auto rows = ledgers_.find(LedgerTableOf(ledger));
  if (rows == ledgers_.end()) return {};
  return {rows->second.begin(), rows->second.end()};
}

std::vector<ledger::HistoryRow> MemoryDatabase::HistoryRows(const MemoryLedger& ledger) const {
  std::lock_guard lock(mutex_);
  auto rows = history_.find(HistoryTableOf(ledger));
  return rows == history_.end() ? std::vector<ledger::HistoryRow>{} : rows->second;
}

void MemoryDatabase::AddLedgerRow(const StepId& id, const MemoryLedger& ledger) {
  std::lock_guard lock(mutex_);
  tables_.insert({LedgerTableOf(ledger), HistoryTableOf(ledger)});
  history_[HistoryTableOf(ledger)];
  ledgers_[LedgerTableOf(ledger)].insert(id);
}

CallCounts MemoryDatabase::Calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

}  // namespace tidemark::testing
