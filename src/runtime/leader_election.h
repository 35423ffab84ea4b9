// Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm
// (KUBE_API.md): replicas compete for the lease; the holder renews it every retry period
// and steps down when it cannot renew within the renew deadline; another holder's lease
// counts as valid while the time this replica *observed* its last change, plus the lease
// duration, is in the future (so clocks of different machines never get compared).
//
// One LeaderElector per replica. Run() and TryAcquireOrRenew()/Release() are meant for one
// thread; IsLeader() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "kube/client.h"

namespace tidemark::runtime {

struct LeaderElectionOptions {
  std::string lease_namespace;              // required
  std::string lease_name;                   // required
  std::string identity;                     // required, unique per replica (pod name)
  std::chrono::seconds lease_duration{15};  // how long others wait after the last renewal
  std::chrono::seconds renew_deadline{10};  // the leader gives up after failing this long
  std::chrono::seconds retry_period{2};     // between attempts to acquire or renew
  bool release_on_stop = true;              // hand the lease over when Run() is stopped
  const Clock* clock = &SystemClock();      // not owned
  // Called on Run()'s thread: must return quickly (start the workers elsewhere).
  std::function<void()> on_started_leading;
  // Called on Run()'s thread when leadership ends (lost, or stopped); the controller must
  // stop reconciling at once.
  std::function<void()> on_stopped_leading;

  // client-go's checks: names set, lease duration > renew deadline > 1.2 x retry period.
  Status Validate() const;
};

class LeaderElector;
using LeaderElectorPtr = std::unique_ptr<LeaderElector>;

class LeaderElector {
 public:
  // `client` must outlive the elector. Give it a TransportOptions::request_timeout well
  // under the renew deadline (say 5 s), or a hung request delays stepping down.
  LeaderElector(const kube::Client& client, LeaderElectionOptions options);

  // Acquires the lease (retrying every retry period), leads while renewals succeed, and
  // returns when leadership is lost or `stop` is requested (then releases the lease when
  // release_on_stop). on_stopped_leading runs before it returns if leading had started.
  void Run(std::stop_token stop);

  // One attempt, client-go's tryAcquireOrRenew: get the lease (create it on 404), and take
  // or renew it unless another holder's lease is still valid. True when this replica holds
  // the lease afterwards; Conflict when another replica wrote it first.
  Result<bool> TryAcquireOrRenew();
  // Gives the lease up (empty holder, duration 1 s) when this replica holds it.
  Status Release();

  bool IsLeader() const { return leading_.load(); }

 private:
  nlohmann::json Spec(const std::string& holder, int duration_seconds, const std::string& acquired,
                      int64_t transitions) const;
  void Observe(const nlohmann::json& lease);

  const kube::Client& client_;
  const LeaderElectionOptions options_;
  std::atomic<bool> leading_{false};
  // The last lease read or written, and when (on our clock) its spec last changed.
  std::optional<nlohmann::json> observed_;
  MonoTime observed_at_;
};

}  // namespace tidemark::runtime
