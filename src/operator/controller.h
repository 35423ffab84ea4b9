// `tidemark operator`: the controller process. Watches MigrationPlans (and the ConfigMaps
// and Secrets they name), reconciles them with several workers but never two at once for
// one plan, elects a leader on a Lease, serves /metrics, /healthz and /readyz, and drains
// on shutdown (SPEC section 4).
#pragma once

#include <stop_token>
#include <string>
#include <vector>

#include "kube/config.h"
#include "operator/plan_reconciler.h"

namespace tidemark::op {

struct ControllerOptions {
  kube::KubeconfigOptions kubeconfig;   // empty path: $KUBECONFIG, in-cluster, ~/.kube/config
  std::vector<std::string> namespaces;  // shard by namespace; empty: every namespace
  std::string label_selector;           // shard by label (MigrationPlans only)
  int workers = 4;                      // plans reconciled at once
  bool leader_elect = false;
  std::string lease_namespace;  // default: the controller's own namespace
  std::string lease_name = "tidemark-controller";
  std::string identity;  // default: the host name (the pod name)
  std::string metrics_address = ":8080";
  std::string version;
  ReconcilerOptions reconciler;
};

// Runs until `stop` is requested (SIGTERM) or leadership is lost. Returns the exit code.
int RunController(const ControllerOptions& options, std::stop_token stop);

}  // namespace tidemark::op
