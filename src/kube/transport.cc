#include "kube/transport.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>

namespace tidemark::kube {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;

BioPtr MemoryBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::vector<X509Ptr> ReadCertificates(const std::string& pem) {
  std::vector<X509Ptr> certs;
  BioPtr bio = MemoryBio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  ERR_clear_error();  // the loop ends on an expected "no start line"
  return certs;
}

// A store holding the Config's CAs; ownership passes to the SSL context that takes it.
X509_STORE* MakeStore(const std::string& pem) {
  X509_STORE* store = X509_STORE_new();
  for (const X509Ptr& cert : ReadCertificates(pem)) X509_STORE_add_cert(store, cert.get());
  return store;
}

// The numeric address of `host`, for the tls-server-name case where the name httplib
// verifies differs from the address it connects to.
Result<std::string> ResolveNumeric(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    return Status::Unavailable("cannot resolve " + host);
  }
  char text[INET6_ADDRSTRLEN] = {};
  const void* address =
      found->ai_family == AF_INET6
          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr)
          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr);
  inet_ntop(found->ai_family, address, text, sizeof text);
  freeaddrinfo(found);
  return std::string(text);
}

std::string Describe(const HttpRequest& request) {
  return request.method + " " + request.path.substr(0, request.path.find('?'));
}

}  // namespace

Result<TransportPtr> Transport::Create(Config config, TransportOptions options) {
  const std::string& server = config.server;
  bool tls;
  std::string rest;
  if (server.rfind("https://", 0) == 0) {
    tls = true;
    rest = server.substr(8);
  } else if (server.rfind("http://", 0) == 0) {
    tls = false;
    rest = server.substr(7);
  } else {
    return Status::InvalidArgument(config.origin + ": server \"" + server +
                                   "\" is not an http:// or https:// URL");
  }
  if (const size_t slash = rest.find('/'); slash != std::string::npos) {
    if (rest.find_first_not_of('/', slash) != std::string::npos) {
      return Status::Unsupported(config.origin + ": server \"" + server +
                                 "\" has a path; tidemark needs the API server's root URL");
    }
    rest.resize(slash);
  }
  std::string host;
  std::string port_text;
  if (!rest.empty() && rest.front() == '[') {  // [::1]:6443
    const size_t close = rest.find(']');
    if (close == std::string::npos) {
      return Status::InvalidArgument(config.origin + ": server \"" + server + "\": bad IPv6 host");
    }
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port_text = rest.substr(close + 2);
  } else {
    const size_t colon = rest.rfind(':');
    host = rest.substr(0, colon);
    if (colon != std::string::npos) port_text = rest.substr(colon + 1);
  }
  int port = tls ? 443 : 80;
  if (!port_text.empty()) {
    const auto [end, error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (error != std::errc() || end != port_text.data() + port_text.size() || port <= 0 ||
        port > 65535) {
      return Status::InvalidArgument(config.origin + ": server \"" + server + "\": bad port");
    }
  }
  if (host.empty()) {
    return Status::InvalidArgument(config.origin + ": server \"" + server + "\" has no host");
  }
  if (!config.ca_pem.empty() && ReadCertificates(config.ca_pem).empty()) {
    return Status::InvalidArgument(config.origin +
                                   ": the certificate authority holds no PEM certificate");
  }
  return TransportPtr(new Transport(std::move(config), std::move(options), tls, host, port));
}

namespace {

// Everything one request needs. The headers are built per request so that rotated
// credentials apply at once; the client (a connection) may be an idle one reused.
struct Connection {
  std::unique_ptr<httplib::ClientImpl> client;
  httplib::Headers headers;
  std::string client_cert_pem;  // what the client authenticates with
};

// `reuse` offers an idle client made with the same client certificate, or null.
using ReuseIdle = std::function<std::unique_ptr<httplib::ClientImpl>(const std::string& cert)>;

Result<Connection> Connect(const Config& config, const TransportOptions& options, bool tls,
                           const std::string& host, int port, std::chrono::milliseconds timeout,
                           const ReuseIdle& reuse) {
  Credentials credentials;
  if (config.credentials) {
    TM_ASSIGN_OR_RETURN(credentials, config.credentials->Get());
  }
  Connection connection;
  connection.client_cert_pem = credentials.client_cert_pem;
  if (reuse) connection.client = reuse(credentials.client_cert_pem);
  if (!connection.client && tls) {
    X509Ptr cert;
    KeyPtr key;
    if (!credentials.client_cert_pem.empty()) {
      std::vector<X509Ptr> certs = ReadCertificates(credentials.client_cert_pem);
      BioPtr key_bio = MemoryBio(credentials.client_key_pem);
      key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
      ERR_clear_error();
      if (certs.empty()) {
        return Status::InvalidArgument(config.origin + ": the client certificate is not PEM");
      }
      if (!key) return Status::InvalidArgument(config.origin + ": the client key is not PEM");
      cert = std::move(certs.front());
    }
    const std::string& verified_name =
        config.tls_server_name.empty() ? host : config.tls_server_name;
    auto ssl =
        cert ? std::make_unique<httplib::SSLClient>(verified_name, port, cert.get(), key.get())
             : std::make_unique<httplib::SSLClient>(verified_name, port);
    if (!config.tls_server_name.empty()) {
      TM_ASSIGN_OR_RETURN(const std::string address, ResolveNumeric(host));
      ssl->set_hostname_addr_map({{verified_name, address}});
    }
    if (!config.ca_pem.empty()) ssl->set_ca_cert_store(MakeStore(config.ca_pem));
    ssl->enable_server_certificate_verification(!config.insecure_skip_tls_verify);
    connection.client = std::move(ssl);
  } else if (!connection.client) {
    connection.client = std::make_unique<httplib::ClientImpl>(host, port);
  }
  httplib::ClientImpl& client = *connection.client;
  client.set_url_encode(false);  // paths arrive encoded
  client.set_keep_alive(reuse != nullptr);
  client.set_tcp_nodelay(true);  // requests are small; Nagle would hold them for an ACK
  client.set_connection_timeout(options.connect_timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  connection.headers = {{"Accept", "application/json"}, {"User-Agent", options.user_agent}};
  if (!credentials.token.empty()) {
    connection.headers.emplace("Authorization", "Bearer " + credentials.token);
  }
  return connection;
}

httplib::Request MakeRequest(const HttpRequest& request, const httplib::Headers& headers) {
  httplib::Request out;
  out.method = request.method;
  out.path = request.path;
  out.headers = headers;
  out.body = request.body;
  if (!request.content_type.empty()) out.headers.emplace("Content-Type", request.content_type);
  return out;
}

std::string Address(const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// Why connecting to host:port fails, in the system's words ("Connection refused", "No route
// to host", a name that does not resolve): httplib reports every such failure as
// "Connection". Asked by one more attempt, made only after a failure.
std::string ConnectFailure(const std::string& host, int port, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int resolved = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (resolved != 0) return std::string("cannot resolve the name: ") + gai_strerror(resolved);
  int error = 0;
  for (const addrinfo* candidate = found; candidate; candidate = candidate->ai_next) {
    const int fd =
        socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC, candidate->ai_protocol);
    if (fd < 0) {
      error = errno;
      continue;
    }
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    const timeval limit{static_cast<time_t>(seconds.count()),
                        static_cast<suseconds_t>((timeout - seconds).count() * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);  // bounds connect()
    error = connect(fd, candidate->ai_addr, candidate->ai_addrlen) == 0 ? 0 : errno;
    close(fd);
    if (error == 0) break;
  }
  freeaddrinfo(found);
  if (error == 0) return "the connection failed (it succeeds now)";
  if (error == EINPROGRESS || error == EAGAIN) return "timed out";
  return std::strerror(error);
}

Status TransportError(const HttpRequest& request, const std::string& host, int port,
                      const TransportOptions& options, std::chrono::milliseconds timeout,
                      httplib::Error error, std::chrono::steady_clock::duration elapsed) {
  const std::string where = Describe(request) + ": ";
  const std::string address = Address(host, port);
  if (error == httplib::Error::ConnectionTimeout) {
    return Status::DeadlineExceeded(where + "cannot connect to " + address + ": timed out (" +
                                    std::to_string(options.connect_timeout.count()) + " ms)");
  }
  if (error == httplib::Error::Connection) {
    const std::string why = ConnectFailure(host, port, options.connect_timeout);
    const std::string what = where + "cannot connect to " + address + ": " + why;
    return why == "timed out" ? Status::DeadlineExceeded(what) : Status::Unavailable(what);
  }
  const std::string what = where + httplib::to_string(error) + " (" + address + ")";
  if (elapsed >= timeout) {
    return Status::DeadlineExceeded(what + " (no answer within " + std::to_string(timeout.count()) +
                                    " ms)");
  }
  return Status::Unavailable(what);
}

}  // namespace

std::chrono::milliseconds Transport::TimeoutOf(const HttpRequest& request) const {
  return request.timeout > std::chrono::milliseconds(0) ? request.timeout
                                                        : options_.request_timeout;
}

Result<HttpResponse> Transport::Send(const HttpRequest& request) const {
  TM_ASSIGN_OR_RETURN(HttpResponse response, SendOnce(request));
  // Rotated credentials (a new token file, an exec credential revoked early) are fetched
  // again once, as client-go does on 401.
  if (response.status == 401 && config_.credentials) {
    config_.credentials->Invalidate();
    return SendOnce(request);
  }
  return response;
}

struct Transport::IdleConnection {
  std::unique_ptr<httplib::ClientImpl> client;
  std::string client_cert_pem;
};

Transport::Transport(Config config, TransportOptions options, bool tls, std::string host, int port)
    : config_(std::move(config)),
      options_(std::move(options)),
      tls_(tls),
      host_(std::move(host)),
      port_(port) {}

Transport::~Transport() = default;

Result<HttpResponse> Transport::SendOnce(const HttpRequest& request) const {
  const auto timeout = TimeoutOf(request);
  const ReuseIdle reuse = [this](const std::string& cert) -> std::unique_ptr<httplib::ClientImpl> {
    std::lock_guard lock(idle_mutex_);
    for (auto idle = idle_.rbegin(); idle != idle_.rend(); ++idle) {
      if (idle->client_cert_pem != cert) continue;
      auto client = std::move(idle->client);
      idle_.erase(std::next(idle).base());
      return client;
    }
    return nullptr;
  };
  TM_ASSIGN_OR_RETURN(Connection connection,
                      Connect(config_, options_, tls_, host_, port_, timeout, reuse));
  const auto started = std::chrono::steady_clock::now();
  // A connection the server closed while idle is noticed and made anew by the client.
  httplib::Result result = connection.client->send(MakeRequest(request, connection.headers));
  if (!result) {
    return TransportError(request, host_, port_, options_, timeout, result.error(),
                          std::chrono::steady_clock::now() - started);
  }
  {
    std::lock_guard lock(idle_mutex_);
    if (idle_.size() < kMaxIdleConnections) {
      idle_.push_back({std::move(connection.client), std::move(connection.client_cert_pem)});
    }
  }
  return HttpResponse{result->status, result->get_header_value("Content-Type"),
                      std::move(result->body)};
}

Result<HttpResponse> Transport::Stream(const HttpRequest& request,
                                       const std::function<bool(std::string_view)>& on_data,
                                       std::stop_token stop) const {
  if (stop.stop_requested()) return Status::Cancelled(Describe(request) + ": stopped");
  const auto timeout = TimeoutOf(request);
  TM_ASSIGN_OR_RETURN(Connection connection,
                      Connect(config_, options_, tls_, host_, port_, timeout, nullptr));
  httplib::ClientImpl& client = *connection.client;
  // A stop that comes before the socket exists is caught when it is made; one that comes
  // later closes it, which wakes the blocked read.
  client.set_socket_options([stop](socket_t socket) {
    if (stop.stop_requested()) shutdown(socket, SHUT_RDWR);
  });
  std::stop_callback on_stop(stop, [&client] { client.stop(); });

  HttpResponse response;
  httplib::Request http = MakeRequest(request, connection.headers);
  http.response_handler = [&response](const httplib::Response& head) {
    response.status = head.status;
    response.content_type = head.get_header_value("Content-Type");
    return true;
  };
  http.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (stop.stop_requested()) return false;
    if (response.status < 200 || response.status > 299) {
      response.body.append(data, size);
      return true;
    }
    return on_data(std::string_view(data, size));
  };
  const auto started = std::chrono::steady_clock::now();
  httplib::Result result = client.send(http);
  if (stop.stop_requested()) return Status::Cancelled(Describe(request) + ": stopped");
  if (!result && result.error() != httplib::Error::Canceled) {
    return TransportError(request, host_, port_, options_, timeout, result.error(),
                          std::chrono::steady_clock::now() - started);
  }
  // No retry here (the watcher retries with back-off), but with fresh credentials.
  if (response.status == 401 && config_.credentials) config_.credentials->Invalidate();
  return response;
}

}  // namespace tidemark::kube
