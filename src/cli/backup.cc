#include "cli/backup.h"

#include <chrono>
#include <filesystem>
#include <ostream>

#include "cli/process_runner.h"
#include "postgres/connection.h"

namespace tidemark::cli {

Status BackUpDatabase(const plan::MigrationPlan& plan, resource::ObjectSource& objects,
                      const std::string& file, std::ostream& progress) {
  TM_ASSIGN_OR_RETURN(postgres::ConnectionParams params,
                      postgres::ResolveConnection(plan.database, plan.meta.ns, objects,
                                                  /*allow_local_sources=*/true));
  TM_ASSIGN_OR_RETURN(auto environment, postgres::ClientEnvironment(params));
  std::vector<std::string> secrets;
  for (const auto& [name, value] : environment) {
    if (name == "PGPASSWORD" && !value.empty()) secrets.push_back(value);
  }
  progress << "  Backing up the database with pg_dump to " << file << "..." << std::flush;
  const auto start = std::chrono::steady_clock::now();
  const ChildResult dumped =
      RunChild({{"pg_dump", "--format=custom", "--file=" + file}, environment, "", {}}, {});
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  if (dumped.end == ChildResult::End::kSucceeded) {
    progress << " OK (" << ms << " ms)\n" << std::flush;
    return Status::Ok();
  }
  progress << " FAILED\n" << std::flush;
  std::error_code ignored;
  std::filesystem::remove(file, ignored);  // a partial dump is no backup
  if (dumped.end == ChildResult::End::kNotStarted) {
    return Status::FailedPrecondition(
        "could not start pg_dump: " + dumped.failure +
        "; install the PostgreSQL client programs (pg_dump of the server's major version or "
        "newer) or leave out --backup");
  }
  const std::string tail =
      engine::OutputTail(dumped.output, secrets, 5, ProcessRunner::kMaxLineBytes);
  return Status::Unavailable("pg_dump to " + file + " " + dumped.failure +
                             (tail.empty() ? "" : ": " + tail));
}

}  // namespace tidemark::cli
