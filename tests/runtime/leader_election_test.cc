// Leader election against the test API server. The electors share a fake clock and are
// stepped by hand (TryAcquireOrRenew), except where Run() itself is under test.
#include "runtime/leader_election.h"

#include <gmock/gmock.h>

#include <atomic>
#include <future>
#include <latch>

#include "server_fixture.h"

namespace tidemark::runtime {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class LeaderElectionTest : public ApiServerTest {
 protected:
  void SetUp() override {
    ApiServerTest::SetUp();
    CreateNamespace("tidemark-system");
  }
  LeaderElectionOptions Options(const std::string& identity) {
    LeaderElectionOptions options;
    options.lease_namespace = "tidemark-system";
    options.lease_name = "tidemark-controller";
    options.identity = identity;
    options.clock = &clock_;
    return options;
  }
  json Lease() {
    auto lease = client_->Get(kube::resources::kLeases, "tidemark-system", "tidemark-controller");
    EXPECT_TRUE(lease.ok()) << lease.status().ToString();
    return lease.ok() ? (*lease)["spec"] : json();
  }

  FakeClock clock_;
};

// The outcome of one attempt that must not fail: whether `elector` holds the lease.
bool Attempt(LeaderElector& elector) {
  const Result<bool> result = elector.TryAcquireOrRenew();
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() && *result;
}

MATCHER(IsMicroTime, "an RFC 3339 time with microseconds") {
  return arg.is_string() && ::testing::Value(arg.template get<std::string>(),
                                             ::testing::MatchesRegex(kMicroTimePattern));
}

TEST_F(LeaderElectionTest, TheFirstCreatesTheLeaseAndLeadsTheOtherWaits) {
  LeaderElector a(*client_, Options("a"));
  LeaderElector b(*client_, Options("b"));
  EXPECT_TRUE(Attempt(a));
  EXPECT_TRUE(a.IsLeader());
  EXPECT_FALSE(Attempt(b));
  EXPECT_FALSE(b.IsLeader());

  const json spec = Lease();
  EXPECT_EQ(spec["holderIdentity"], "a");
  EXPECT_EQ(spec["leaseDurationSeconds"], 15);
  EXPECT_EQ(spec["leaseTransitions"], 0);
  EXPECT_THAT(spec["acquireTime"], IsMicroTime());
  EXPECT_THAT(spec["renewTime"], IsMicroTime());
}

TEST_F(LeaderElectionTest, AnotherTakesOverOnlyAfterTheLeaseDurationWithoutRenewal) {
  LeaderElector a(*client_, Options("a"));
  LeaderElector b(*client_, Options("b"));
  ASSERT_TRUE(Attempt(a));
  ASSERT_FALSE(Attempt(b));  // b observes a's lease now

  clock_.Advance(seconds(10));
  ASSERT_TRUE(Attempt(a));  // a renews
  const json renewed = Lease();
  clock_.Advance(seconds(10));
  // 20 s since b first looked, but b has just seen a renewal: still valid.
  EXPECT_FALSE(Attempt(b));
  EXPECT_EQ(Lease()["holderIdentity"], "a");
  EXPECT_EQ(Lease()["acquireTime"], renewed["acquireTime"]);  // a renewal keeps it

  // a stops renewing; 14 s after b's last observation the lease still holds...
  clock_.Advance(seconds(14));
  EXPECT_FALSE(Attempt(b));
  // ...and at 15 s it has expired: b takes it.
  clock_.Advance(seconds(1));
  EXPECT_TRUE(Attempt(b));
  EXPECT_TRUE(b.IsLeader());
  const json spec = Lease();
  EXPECT_EQ(spec["holderIdentity"], "b");
  EXPECT_EQ(spec["leaseTransitions"], 1);
  EXPECT_NE(spec["acquireTime"], renewed["acquireTime"]);

  // The old leader learns it lost on its next attempt.
  EXPECT_FALSE(Attempt(a));
  EXPECT_FALSE(a.IsLeader());
}

TEST_F(LeaderElectionTest, TwoReplicasRacingForAFreeLeaseGetOneWinnerAndOneConflict) {
  LeaderElector a(*client_, Options("a"));
  ASSERT_TRUE(Attempt(a));
  ASSERT_TRUE(a.Release().ok());  // a free lease that both may take at once

  LeaderElector b(*client_, Options("b"));
  LeaderElector c(*client_, Options("c"));
  // Each answer waits long enough that both replicas read the lease before either writes.
  server_->SetResponseDelay(std::chrono::milliseconds(500));
  std::latch start(2);
  const auto attempt = [&start](LeaderElector* elector) {
    start.arrive_and_wait();
    return elector->TryAcquireOrRenew();
  };
  auto from_b = std::async(std::launch::async, attempt, &b);
  auto from_c = std::async(std::launch::async, attempt, &c);
  const Result<bool> result_b = from_b.get();
  const Result<bool> result_c = from_c.get();
  server_->SetResponseDelay(std::chrono::milliseconds(0));

  const Result<bool>& winner = result_b.ok() ? result_b : result_c;
  const Result<bool>& loser = result_b.ok() ? result_c : result_b;
  ASSERT_TRUE(winner.ok());
  EXPECT_TRUE(*winner);
  EXPECT_EQ(loser.status().code(), StatusCode::kConflict) << loser.status().ToString();
  EXPECT_EQ(Lease()["holderIdentity"], result_b.ok() ? "b" : "c");
  EXPECT_EQ(b.IsLeader() + c.IsLeader(), 1);
}

TEST_F(LeaderElectionTest, RunLeadsUntilStoppedAndThenReleasesTheLease) {
  std::atomic<int> started{0}, stopped{0};
  LeaderElectionOptions options = Options("a");
  options.on_started_leading = [&] { ++started; };
  options.on_stopped_leading = [&] { ++stopped; };
  LeaderElector a(*client_, options);
  std::jthread runner([&](std::stop_token stop) { a.Run(stop); });
  ASSERT_TRUE(Eventually([&] { return started == 1; }));
  EXPECT_TRUE(a.IsLeader());
  runner.request_stop();
  runner.join();
  EXPECT_EQ(stopped, 1);
  EXPECT_FALSE(a.IsLeader());
  const json spec = Lease();
  EXPECT_EQ(spec["holderIdentity"], "");
  EXPECT_EQ(spec["leaseDurationSeconds"], 1);

  // A released lease is free at once: no waiting for the duration.
  LeaderElector b(*client_, Options("b"));
  EXPECT_TRUE(Attempt(b));
  EXPECT_EQ(Lease()["leaseTransitions"], 1);
}

TEST_F(LeaderElectionTest, RunStepsDownWhenRenewalsFailPastTheDeadline) {
  std::atomic<int> started{0}, stopped{0};
  LeaderElectionOptions options = Options("a");
  options.on_started_leading = [&] { ++started; };
  options.on_stopped_leading = [&] { ++stopped; };
  LeaderElector a(*client_, options);
  std::jthread runner([&](std::stop_token stop) { a.Run(stop); });
  ASSERT_TRUE(Eventually([&] { return started == 1; }));
  const MonoTime lead_since = clock_.Now();

  server_->FailNextRequests("", ".*/leases/.*", 1000, 503);  // the API server is down
  ASSERT_TRUE(Eventually([&] {
    clock_.Advance(seconds(1));
    return stopped == 1;
  }));
  runner.join();
  EXPECT_GE(clock_.Now() - lead_since, options.renew_deadline);
  EXPECT_FALSE(a.IsLeader());
}

TEST(LeaderElectionOptionsTest, ValidatesLikeClientGo) {
  LeaderElectionOptions options;
  options.lease_namespace = "ns";
  options.lease_name = "lease";
  options.identity = "pod-a";
  EXPECT_TRUE(options.Validate().ok());  // 15 s / 10 s / 2 s
  options.renew_deadline = seconds(15);
  EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument);
  options.renew_deadline = seconds(2);
  EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument);
  options.renew_deadline = seconds(10);
  options.identity.clear();
  EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tidemark::runtime
