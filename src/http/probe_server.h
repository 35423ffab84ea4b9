// ProbeServer: the operator's (and `tidemark run --watch`'s) small HTTP server for
// Prometheus and the kubelet: /metrics, /healthz, /readyz.
//
// - GET /metrics: Metrics::Serialize(), Content-Type `text/plain; version=0.0.4`.
// - GET /healthz: 200 "ok" while the liveness check returns OK, else 503 with its message.
//   The check should say whether the process's main loop still turns.
// - GET /readyz: 200 "ok" once the readiness check returns OK (caches synced, say), else
//   503 with the reason.
// The server runs on its own thread pool from Start() until Stop() or destruction. The
// Metrics object and both checks are borrowed: they must outlive the server, and the checks
// are called from the server's threads, so they must be thread-safe. Start/Stop are not to be
// called concurrently with each other; port() is thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "base/status.h"

namespace httplib {
class Server;
}

namespace tidemark::metrics {
class Metrics;
}

namespace tidemark::http {

// `--metrics-addr` split: "host:port", ":port" (every IPv4 interface), "[::1]:port".
struct ListenAddress {
  std::string host;  // "0.0.0.0" when the flag names none
  int port = 0;      // 0: any free port
};
Result<ListenAddress> ParseListenAddress(std::string_view text);

// OK when healthy (or ready); otherwise the Status message is served as the reason.
using ProbeCheck = std::function<Status()>;

class ProbeServer {
 public:
  // Binds `address` (see ParseListenAddress) and starts serving. InvalidArgument for a
  // malformed address, Unavailable when the address cannot be bound.
  static Result<std::unique_ptr<ProbeServer>> Start(std::string_view address,
                                                    const metrics::Metrics& metrics,
                                                    ProbeCheck liveness, ProbeCheck readiness);
  ~ProbeServer();  // Stop()
  ProbeServer(const ProbeServer&) = delete;
  ProbeServer& operator=(const ProbeServer&) = delete;

  // The port bound: the one asked for, or the one the system chose for port 0.
  int port() const { return port_; }
  // Stops accepting, finishes the requests in flight and joins the thread. Idempotent.
  void Stop();

 private:
  ProbeServer() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace tidemark::http
