// A test Kubernetes API server per test and a client connected to it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "kube/client.h"
#include "tests/support/kube_api_server.h"

namespace tidemark::runtime {

// Kubernetes MicroTime as leases and events carry it (POSIX regex, as gtest uses).
inline constexpr char kMicroTimePattern[] =
    R"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z)";

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::KubeApiServer::Start(server_options_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    kube::Config config;
    config.server = server_->url();
    auto client = kube::Client::Create(config);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(*client);
  }

  // The test server, like kube-apiserver, keeps objects only in existing namespaces.
  void CreateNamespace(const std::string& name) {
    const kube::ResourceRef namespaces{"", "v1", "namespaces", false};
    auto created = client_->Create(
        namespaces, "",
        {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}});
    ASSERT_TRUE(created.ok()) << created.status().ToString();
  }

  // Polls `condition` (for things other threads do) for at most 20 s of real time. Not a
  // timing assertion: only a guard against hanging forever.
  static bool Eventually(const std::function<bool()>& condition) {
    for (int i = 0; i < 2000; ++i) {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return condition();
  }

  testing::KubeApiServerOptions server_options_;  // subclasses may change it before SetUp
  std::unique_ptr<testing::KubeApiServer> server_;
  kube::ClientPtr client_;
};

}  // namespace tidemark::runtime
