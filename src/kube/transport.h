// HTTP(S) to the API server over cpp-httplib: TLS trust and client certificates from the
// Config, a bearer token asked from its CredentialSource before each request, per-request
// timeouts, and cancellable streaming for watches.
//
// A Transport is immutable after Create() and thread-safe: each request opens its own
// connection (the API server sees few requests from one controller; watches hold theirs
// for minutes anyway).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kube/config.h"

namespace tidemark::kube {

struct HttpRequest {
  std::string method = "GET";
  std::string path;  // with its query string, already percent-encoded
  std::string body;
  std::string content_type;  // of the body
  // The longest wait for any one read or write; 0: TransportOptions::request_timeout.
  std::chrono::milliseconds timeout{0};
};

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;  // empty for a streamed 2xx body
};

struct TransportOptions {
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{30'000};  // for requests that set none
  std::string user_agent = "tidemark";
};

class Transport;
using TransportPtr = std::unique_ptr<Transport>;

class Transport {
 public:
  // Fails on a malformed server URL or unreadable PEM data in the Config.
  static Result<TransportPtr> Create(Config config, TransportOptions options = {});

  // One request. Any HTTP reply is a success here (callers map error codes); failing to get
  // a reply is Unavailable, or DeadlineExceeded when the timeout passed. A 401 makes the
  // credentials be fetched anew and the request sent once more.
  Result<HttpResponse> Send(const HttpRequest& request) const;

  // Like Send, but a 2xx body goes piece by piece to `on_data` as it arrives, until the
  // server ends it or `on_data` returns false. Requesting `stop` closes the connection and
  // returns Cancelled. A non-2xx body is collected into the response instead; a 401 makes
  // the next request fetch the credentials anew.
  Result<HttpResponse> Stream(const HttpRequest& request,
                              const std::function<bool(std::string_view)>& on_data,
                              std::stop_token stop) const;

  const Config& config() const { return config_; }

  ~Transport();

 private:
  // Keep-alive connections left by earlier Sends (a watch has its own), each with the
  // client certificate it authenticates with: one made with a rotated certificate is not
  // reused. A few are enough for the controller's workers.
  struct IdleConnection;
  static constexpr size_t kMaxIdleConnections = 8;

  Transport(Config config, TransportOptions options, bool tls, std::string host, int port);

  std::chrono::milliseconds TimeoutOf(const HttpRequest& request) const;
  Result<HttpResponse> SendOnce(const HttpRequest& request) const;

  const Config config_;
  const TransportOptions options_;
  const bool tls_;
  const std::string host_;  // without brackets for IPv6
  const int port_;
  mutable std::mutex idle_mutex_;
  mutable std::vector<IdleConnection> idle_;  // guarded by idle_mutex_
};

}  // namespace tidemark::kube
