#include "http/probe_server.h"

#include <httplib.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <exception>

#include "base/clock.h"
#include "base/log.h"
#include "metrics/metrics.h"

namespace tidemark::http {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4";

// Serves a check's verdict: 200 "ok", or 503 with the reason the check gave.
void ServeCheck(const ProbeCheck& check, httplib::Response& response) {
  const Status status = check();
  if (status.ok()) {
    response.set_content("ok\n", "text/plain");
  } else {
    response.status = 503;
    response.set_content(status.message() + "\n", "text/plain");
  }
}

}  // namespace

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  const auto invalid = [text](std::string_view why) {
    return Status::InvalidArgument("listen address \"" + std::string(text) +
                                   "\": " + std::string(why) +
                                   " (expected host:port, :port or [ipv6]:port)");
  };
  ListenAddress address;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return invalid("unclosed '['");
    address.host = std::string(text.substr(1, close - 1));
    if (text.substr(close + 1, 1) != ":") return invalid("no port after ']'");
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return invalid("no port");
    address.host = std::string(text.substr(0, colon));
    if (address.host.find(':') != std::string::npos) return invalid("IPv6 hosts need brackets");
    port_text = text.substr(colon + 1);
  }
  if (address.host.empty()) address.host = "0.0.0.0";
  const char* end = port_text.data() + port_text.size();
  const auto [rest, error] = std::from_chars(port_text.data(), end, address.port);
  if (port_text.empty() || error != std::errc() || rest != end || address.port < 0 ||
      address.port > 65535) {
    return invalid("the port must be a number from 0 to 65535");
  }
  return address;
}

Result<std::unique_ptr<ProbeServer>> ProbeServer::Start(std::string_view address_text,
                                                        const metrics::Metrics& metrics,
                                                        ProbeCheck liveness, ProbeCheck readiness) {
  TM_ASSIGN_OR_RETURN(ListenAddress address, ParseListenAddress(address_text));
  std::unique_ptr<ProbeServer> probe(new ProbeServer());
  probe->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *probe->server_;

  server.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics.Serialize(), kMetricsContentType);
  });
  server.Get("/healthz",
             [check = std::move(liveness)](const httplib::Request&, httplib::Response& response) {
               ServeCheck(check, response);
             });
  server.Get("/readyz",
             [check = std::move(readiness)](const httplib::Request&, httplib::Response& response) {
               ServeCheck(check, response);
             });
  // A throwing handler (a check, the serializer) answers 500 instead of ending the process.
  server.set_exception_handler(
      [](const httplib::Request& request, httplib::Response& response, std::exception_ptr error) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        log::Error("probe server: handler failed", {{"path", request.path}, {"error", what}});
        response.status = 500;
        response.set_content("internal error\n", "text/plain");
      });

  // httplib's default also sets SO_REUSEPORT, which would let a second process share a busy
  // port silently; SO_REUSEADDR alone still allows a quick restart.
  server.set_socket_options([](socket_t sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  if (address.port == 0) {
    probe->port_ = server.bind_to_any_port(address.host);
  } else if (server.bind_to_port(address.host, address.port)) {
    probe->port_ = address.port;
  } else {
    probe->port_ = -1;
  }
  if (probe->port_ <= 0) {
    return Status::Unavailable("cannot listen on " + std::string(address_text) +
                               " (address in use, or no such interface)");
  }

  auto listen_ended = std::make_shared<std::atomic<bool>>(false);
  probe->thread_ = std::thread([&server, listen_ended] {
    server.listen_after_bind();
    listen_ended->store(true);
  });
  // httplib's stop() does nothing before the accept loop runs; waiting for it here makes a
  // Stop() right after Start() safe.
  while (!server.is_running() && !listen_ended->load()) {
    (void)SystemClock().SleepFor(std::chrono::milliseconds(1), {});
  }
  if (listen_ended->load()) {
    probe->thread_.join();
    return Status::Unavailable("listening on " + std::string(address_text) + " failed");
  }
  log::Info("probe server listening",
            {{"address", address.host}, {"port", std::to_string(probe->port_)}});
  return probe;
}

ProbeServer::~ProbeServer() { Stop(); }

void ProbeServer::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace tidemark::http
