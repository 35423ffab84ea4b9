#include "http/probe_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <stdexcept>
#include <string>

#include "metrics/metrics.h"
#include "tests/metrics/exposition.h"

namespace tidemark::http {
namespace {

TEST(ListenAddressTest, Forms) {
  Result<ListenAddress> any = ParseListenAddress(":8080");
  ASSERT_TRUE(any.ok()) << any.status().ToString();
  EXPECT_EQ(any->host, "0.0.0.0");
  EXPECT_EQ(any->port, 8080);

  Result<ListenAddress> loopback = ParseListenAddress("127.0.0.1:0");
  ASSERT_TRUE(loopback.ok());
  EXPECT_EQ(loopback->host, "127.0.0.1");
  EXPECT_EQ(loopback->port, 0);

  Result<ListenAddress> v6 = ParseListenAddress("[::1]:9090");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9090);

  Result<ListenAddress> named = ParseListenAddress("localhost:65535");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->host, "localhost");
}

TEST(ListenAddressTest, RejectsMalformed) {
  for (const char* text :
       {"8080", "", ":", ":http", ":65536", ":-1", "host:80x", "::1:80", "[::1]80", "[::1"}) {
    Result<ListenAddress> address = ParseListenAddress(text);
    ASSERT_FALSE(address.ok()) << text;
    EXPECT_EQ(address.status().code(), StatusCode::kInvalidArgument) << text;
  }
}

class ProbeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<ProbeServer>> server = ProbeServer::Start(
        "127.0.0.1:0", metrics_,
        [this] { return alive_ ? Status::Ok() : Status::Unavailable("main loop stopped"); },
        [this] { return ready_ ? Status::Ok() : Status::Unavailable("caches not synced"); });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    ASSERT_GT(server_->port(), 0);
  }

  httplib::Result Get(const std::string& path) {
    httplib::Client client("127.0.0.1", server_->port());
    return client.Get(path);
  }

  metrics::Metrics metrics_{"9.9.9"};
  std::atomic<bool> alive_{true};
  std::atomic<bool> ready_{false};
  std::unique_ptr<ProbeServer> server_;
};

TEST_F(ProbeServerTest, ServesMetricsInTextFormat) {
  metrics_.RecordReconcile(ReconcileResult::kError, 0.5);
  metrics_.SetPlanState("prod", "shop", 5, false);
  httplib::Result response = Get("/metrics");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  const testing::Exposition scrape = testing::ParseExposition(response->body);
  EXPECT_EQ(scrape.Value("tidemark_reconcile_total{result=\"error\"}"), 1);
  EXPECT_EQ(scrape.Value("tidemark_plan_pending_steps{namespace=\"prod\",plan=\"shop\"}"), 5);
  EXPECT_EQ(scrape.Value("tidemark_build_info{version=\"9.9.9\"}"), 1);

  // Each scrape is fresh.
  metrics_.RecordReconcile(ReconcileResult::kError, 0.5);
  response = Get("/metrics");
  ASSERT_TRUE(response);
  EXPECT_EQ(
      testing::ParseExposition(response->body).Value("tidemark_reconcile_total{result=\"error\"}"),
      2);
}

TEST_F(ProbeServerTest, HealthzFollowsTheLivenessCheck) {
  httplib::Result response = Get("/healthz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok\n");
  alive_ = false;
  response = Get("/healthz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->body, "main loop stopped\n");
}

TEST_F(ProbeServerTest, ReadyzSaysWhyUntilReady) {
  httplib::Result response = Get("/readyz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->body, "caches not synced\n");
  ready_ = true;
  response = Get("/readyz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok\n");
}

TEST_F(ProbeServerTest, UnknownPathIsNotFound) {
  httplib::Result response = Get("/debug/pprof");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
}

TEST_F(ProbeServerTest, StopClosesThePort) {
  const int port = server_->port();
  server_->Stop();
  server_->Stop();  // idempotent
  httplib::Client client("127.0.0.1", port);
  httplib::Result response = client.Get("/healthz");
  EXPECT_FALSE(response);
}

TEST_F(ProbeServerTest, BusyPortIsUnavailable) {
  Result<std::unique_ptr<ProbeServer>> second = ProbeServer::Start(
      "127.0.0.1:" + std::to_string(server_->port()), metrics_, [] { return Status::Ok(); },
      [] { return Status::Ok(); });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
}

TEST(ProbeServerStartTest, MalformedAddressIsInvalidArgument) {
  metrics::Metrics metrics("dev");
  Result<std::unique_ptr<ProbeServer>> server = ProbeServer::Start(
      "no-port", metrics, [] { return Status::Ok(); }, [] { return Status::Ok(); });
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
}

TEST(ProbeServerStartTest, ThrowingCheckAnswers500AndServerKeepsServing) {
  metrics::Metrics metrics("dev");
  Result<std::unique_ptr<ProbeServer>> server = ProbeServer::Start(
      "127.0.0.1:0", metrics, [] { return Status::Ok(); },
      []() -> Status { throw std::runtime_error("bug in a check"); });
  ASSERT_TRUE(server.ok());
  httplib::Client client("127.0.0.1", (*server)->port());
  httplib::Result response = client.Get("/readyz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  response = client.Get("/healthz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST(ProbeServerStartTest, StartThenStopAtOnce) {
  metrics::Metrics metrics("dev");
  for (int i = 0; i < 20; ++i) {
    Result<std::unique_ptr<ProbeServer>> server = ProbeServer::Start(
        "127.0.0.1:0", metrics, [] { return Status::Ok(); }, [] { return Status::Ok(); });
    ASSERT_TRUE(server.ok());
    (*server)->Stop();
  }
}

}  // namespace
}  // namespace tidemark::http
