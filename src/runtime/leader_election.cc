#include "runtime/leader_election.h"

#include "base/log.h"

namespace tidemark::runtime {
namespace {

using nlohmann::json;

std::string Holder(const json& lease) {
  const json spec = lease.value("spec", json::object());
  const json holder = spec.is_object() ? spec.value("holderIdentity", json()) : json();
  return holder.is_string() ? holder.get<std::string>() : "";
}

int64_t SpecInt(const json& lease, const char* field) {
  const json spec = lease.value("spec", json::object());
  const json value = spec.is_object() ? spec.value(field, json()) : json();
  return value.is_number_integer() ? value.get<int64_t>() : 0;
}

std::string SpecString(const json& lease, const char* field) {
  const json spec = lease.value("spec", json::object());
  const json value = spec.is_object() ? spec.value(field, json()) : json();
  return value.is_string() ? value.get<std::string>() : "";
}

}  // namespace

Status LeaderElectionOptions::Validate() const {
  if (lease_namespace.empty() || lease_name.empty() || identity.empty()) {
    return Status::InvalidArgument(
        "leader election needs a lease namespace, a lease name and an identity");
  }
  if (lease_duration <= renew_deadline) {
    return Status::InvalidArgument("the lease duration must be longer than the renew deadline");
  }
  if (renew_deadline.count() * 10 <= retry_period.count() * 12) {
    return Status::InvalidArgument(
        "the renew deadline must be longer than 1.2 times the retry period");
  }
  return Status::Ok();
}

LeaderElector::LeaderElector(const kube::Client& client, LeaderElectionOptions options)
    : client_(client), options_(std::move(options)) {}

json LeaderElector::Spec(const std::string& holder, int duration_seconds,
                         const std::string& acquired, int64_t transitions) const {
  return json{{"holderIdentity", holder},
              {"leaseDurationSeconds", duration_seconds},
              {"acquireTime", acquired},
              {"renewTime", FormatRfc3339Micro(options_.clock->WallNow())},
              {"leaseTransitions", transitions}};
}

void LeaderElector::Observe(const json& lease) {
  const json spec = lease.value("spec", json::object());
  if (!observed_ || observed_->value("spec", json::object()) != spec) {
    observed_at_ = options_.clock->Now();
  }
  observed_ = lease;
  leading_ = Holder(lease) == options_.identity;
}

Result<bool> LeaderElector::TryAcquireOrRenew() {
  const std::string now = FormatRfc3339Micro(options_.clock->WallNow());
  auto current =
      client_.Get(kube::resources::kLeases, options_.lease_namespace, options_.lease_name);
  if (!current.ok()) {
    if (current.status().code() != StatusCode::kNotFound) return current.status();
    json lease{
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", options_.lease_name}, {"namespace", options_.lease_namespace}}},
        {"spec",
         Spec(options_.identity, static_cast<int>(options_.lease_duration.count()), now, 0)}};
    auto created = client_.Create(kube::resources::kLeases, options_.lease_namespace, lease);
    if (!created.ok()) {
      // Another replica created it first: the same race as a 409 on update.
      if (created.status().code() == StatusCode::kAlreadyExists) {
        return Status::Conflict(created.status().message());
      }
      return created.status();
    }
    Observe(*created);
    return true;
  }
  Observe(*current);
  const std::string holder = Holder(*current);
  const auto duration = std::chrono::seconds(SpecInt(*current, "leaseDurationSeconds"));
  if (!holder.empty() && holder != options_.identity &&
      observed_at_ + duration > options_.clock->Now()) {
    return false;  // another replica's lease is still valid
  }
  const bool renewing = holder == options_.identity;
  const int64_t transitions = SpecInt(*current, "leaseTransitions");
  json lease = *current;
  lease["spec"] = Spec(options_.identity, static_cast<int>(options_.lease_duration.count()),
                       renewing ? SpecString(*current, "acquireTime") : now,
                       renewing ? transitions : transitions + 1);
  auto updated = client_.Replace(kube::resources::kLeases, lease);
  // Conflict: another replica wrote the lease since our read, and won.
  if (!updated.ok()) return updated.status();
  Observe(*updated);
  return true;
}

Status LeaderElector::Release() {
  if (!IsLeader() || !observed_) return Status::Ok();
  json lease = *observed_;
  const std::string now = FormatRfc3339Micro(options_.clock->WallNow());
  lease["spec"] = Spec("", 1, now, SpecInt(*observed_, "leaseTransitions"));
  leading_ = false;
  auto updated = client_.Replace(kube::resources::kLeases, lease);
  if (!updated.ok()) return updated.status().WithContext("releasing the lease");
  Observe(*updated);
  return Status::Ok();
}

void LeaderElector::Run(std::stop_token stop) {
  const Clock& clock = *options_.clock;
  const log::Fields fields{{"lease", options_.lease_namespace + "/" + options_.lease_name},
                           {"identity", options_.identity}};
  // Acquire.
  for (;;) {
    if (stop.stop_requested()) return;
    auto acquired = TryAcquireOrRenew();
    if (acquired.ok() && *acquired) break;
    if (!acquired.ok()) {
      log::Warn("acquiring the lease failed: " + acquired.status().ToString(), fields);
    }
    if (!clock.SleepFor(options_.retry_period, stop)) return;
  }
  log::Info("started leading", fields);
  if (options_.on_started_leading) options_.on_started_leading();

  // Renew every retry period; give up once no renewal succeeded within the deadline.
  MonoTime renewed = clock.Now();
  while (clock.SleepFor(options_.retry_period, stop)) {
    auto renewal = TryAcquireOrRenew();
    if (renewal.ok() && *renewal) {
      renewed = clock.Now();
      continue;
    }
    if (renewal.ok()) {  // someone else holds a valid lease: we lost it
      log::Warn("the lease was taken by another replica", fields);
      break;
    }
    log::Warn("renewing the lease failed: " + renewal.status().ToString(), fields);
    if (clock.Now() - renewed >= options_.renew_deadline) break;
  }
  if (stop.stop_requested() && options_.release_on_stop) {
    if (Status released = Release(); !released.ok()) {
      log::Warn(released.ToString(), fields);
    }
  }
  leading_ = false;
  log::Info("stopped leading", fields);
  if (options_.on_stopped_leading) options_.on_stopped_leading();
}

}  // namespace tidemark::runtime
