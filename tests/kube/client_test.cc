// The resource client against a tiny in-test HTTP server that answers with canned
// replies, including chunked watch streams cut at awkward places and TLS with client
// certificates.
#include "kube/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include "temp_dir.h"
#include "tests/support/process.h"

namespace tidemark::kube {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

const ResourceRef kPlans{"tidemark.dev", "v1alpha1", "migrationplans", true};

std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  return json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
              {"reason", reason}, {"message", message}, {"code", code}}
      .dump();
}

std::string Event(const std::string& type, const std::string& name, int version) {
  return json{{"type", type},
              {"object",
               {{"metadata",
                 {{"name", name},
                  {"namespace", "ns"},
                  {"resourceVersion", std::to_string(version)}}}}}}
             .dump() +
         "\n";
}

struct Seen {
  std::string method, target, content_type, authorization;
};

// Serves on 127.0.0.1:any from a background thread; handlers are registered before Start().
class TinyServer {
 public:
  explicit TinyServer(std::unique_ptr<httplib::Server> server = std::make_unique<httplib::Server>())
      : server_(std::move(server)) {
    // Recorded before the handler answers, so the client never returns first.
    server_->set_pre_routing_handler([this](const httplib::Request& request, httplib::Response&) {
      std::lock_guard lock(mutex_);
      seen_.push_back({request.method, request.target, request.get_header_value("Content-Type"),
                       request.get_header_value("Authorization")});
      return httplib::Server::HandlerResponse::Unhandled;
    });
  }
  ~TinyServer() {
    release_ = true;
    server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  httplib::Server& server() { return *server_; }
  void Start() {
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  // Handlers that hold a request open wait for this (set when the test ends).
  const std::atomic<bool>& released() const { return release_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> release_{false};
  std::mutex mutex_;
  std::vector<Seen> seen_;
};

ClientPtr ClientFor(const std::string& url, const std::string& token = "") {
  Config config;
  config.server = url;
  if (!token.empty()) config.credentials = StaticCredentials({token, "", ""});
  auto client = Client::Create(config);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(*client) : nullptr;
}

TEST(ClientTest, GetSendsTheTokenAndReturnsTheObject) {
  TinyServer server;
  server.server().Get("/apis/tidemark.dev/v1alpha1/namespaces/prod/migrationplans/shop",
                      [](const httplib::Request&, httplib::Response& res) {
                        res.set_content(R"({"metadata":{"name":"shop","resourceVersion":"5"}})",
                                        "application/json");
                      });
  server.Start();
  auto object = ClientFor(server.url(), "t0ken")->Get(kPlans, "prod", "shop");
  ASSERT_TRUE(object.ok()) << object.status().ToString();
  EXPECT_EQ(ResourceVersionOf(*object), "5");
  EXPECT_EQ(ObjectKey(*object), "shop");
  ASSERT_EQ(server.seen().size(), 1u);
  EXPECT_EQ(server.seen()[0].authorization, "Bearer t0ken");
}

TEST(ClientTest, ListPassesItsOptionsAndReadsThePage) {
  TinyServer server;
  server.server().Get("/api/v1/configmaps", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(
        R"({"kind":"ConfigMapList","metadata":{"resourceVersion":"42","continue":"next"},
                        "items":[{"metadata":{"name":"a","namespace":"x"}}]})",
        "application/json");
  });
  server.Start();
  ListOptions options;
  options.label_selector = "app=shop,tier!=db";
  options.field_selector = "metadata.name=a b";
  options.limit = 2;
  options.continue_token = "tok/en=";
  auto list = ClientFor(server.url())->List(resources::kConfigMaps, "", options);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->resource_version, "42");
  EXPECT_EQ(list->continue_token, "next");
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(ObjectKey(list->items[0]), "x/a");
  // Built-in lists leave these out of their items; the client fills them in.
  EXPECT_EQ(list->items[0]["apiVersion"], "v1");
  EXPECT_EQ(list->items[0]["kind"], "ConfigMap");
  EXPECT_EQ(server.seen()[0].target,
            "/api/v1/configmaps?labelSelector=app%3Dshop%2Ctier%21%3Ddb"
            "&fieldSelector=metadata.name%3Da%20b&limit=2&continue=tok%2Fen%3D");
}

TEST(ClientTest, WritesUseTheRightVerbsPathsAndContentTypes) {
  TinyServer server;
  const auto echo = [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.body.empty() ? std::string("{}") : req.body, "application/json");
  };
  server.server().Post("/apis/coordination.k8s.io/v1/namespaces/ns/leases", echo);
  server.server().Put(R"(/apis/coordination.k8s.io/v1/namespaces/ns/leases/l(/status)?)", echo);
  server.server().Patch(R"(/apis/coordination.k8s.io/v1/namespaces/ns/leases/l(/status)?)", echo);
  server.server().Delete("/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", echo);
  server.Start();
  auto client = ClientFor(server.url());
  const json lease{{"metadata", {{"name", "l"}, {"namespace", "ns"}, {"resourceVersion", "3"}}}};
  const ResourceRef& leases = resources::kLeases;
  auto created = client->Create(leases, "other", lease);  // the object's namespace wins
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(*created, lease);  // the server echoed the body it received
  ASSERT_TRUE(client->Replace(leases, lease).ok());
  ASSERT_TRUE(client->ReplaceStatus(leases, lease).ok());
  ASSERT_TRUE(client->Patch(leases, "ns", "l", PatchType::kMerge, {{"spec", {}}}).ok());
  ASSERT_TRUE(client
                  ->Patch(leases, "ns", "l", PatchType::kJson,
                          json::array({{{"op", "remove"}, {"path", "/spec"}}}))
                  .ok());
  ASSERT_TRUE(client->PatchStatus(leases, "ns", "l", PatchType::kMerge, {{"status", {}}}).ok());
  ASSERT_TRUE(client->Delete(leases, "ns", "l").ok());
  const std::vector<Seen> seen = server.seen();
  ASSERT_EQ(seen.size(), 7u);
  const std::string base = "/apis/coordination.k8s.io/v1/namespaces/ns/leases";
  EXPECT_EQ(seen[0].method + " " + seen[0].target, "POST " + base);
  EXPECT_EQ(seen[0].content_type, "application/json");
  EXPECT_EQ(seen[1].method + " " + seen[1].target, "PUT " + base + "/l");
  EXPECT_EQ(seen[2].method + " " + seen[2].target, "PUT " + base + "/l/status");
  EXPECT_EQ(seen[3].method + " " + seen[3].target, "PATCH " + base + "/l");
  EXPECT_EQ(seen[3].content_type, "application/merge-patch+json");
  EXPECT_EQ(seen[4].content_type, "application/json-patch+json");
  EXPECT_EQ(seen[5].method + " " + seen[5].target, "PATCH " + base + "/l/status");
  EXPECT_EQ(seen[6].method + " " + seen[6].target, "DELETE " + base + "/l");
}

TEST(ClientTest, ErrorRepliesBecomeTypedStatusesWithTheServersMessage) {
  TinyServer server;
  const auto fail = [](int code, std::string reason) {
    return [code, reason](const httplib::Request&, httplib::Response& res) {
      res.status = code;
      res.set_content(StatusBody(code, reason, "server says " + std::to_string(code)),
                      "application/json");
    };
  };
  const std::string plans = "/apis/tidemark.dev/v1alpha1/namespaces/p/migrationplans";
  server.server().Get(plans + "/missing", fail(404, "NotFound"));
  server.server().Post(plans, fail(409, "AlreadyExists"));
  server.server().Put(plans + "/stale", fail(409, "Conflict"));
  server.server().Patch(plans + "/strategic", fail(415, "UnsupportedMediaType"));
  server.server().Put(plans + "/invalid", fail(422, "Invalid"));
  server.server().Get(plans, fail(410, "Expired"));
  server.server().Delete(plans + "/down", fail(503, "ServiceUnavailable"));
  server.Start();
  auto client = ClientFor(server.url());
  const auto object = [](const std::string& name) {
    return json{{"metadata", {{"name", name}, {"namespace", "p"}}}};
  };
  const Status not_found = client->Get(kPlans, "p", "missing").status();
  EXPECT_EQ(not_found.code(), StatusCode::kNotFound);
  EXPECT_EQ(not_found.message(), "get migrationplans p/missing: HTTP 404: server says 404");
  EXPECT_EQ(client->Create(kPlans, "p", object("x")).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(client->Replace(kPlans, object("stale")).status().code(), StatusCode::kConflict);
  EXPECT_EQ(client->Patch(kPlans, "p", "strategic", PatchType::kMerge, {}).status().code(),
            StatusCode::kUnsupported);
  EXPECT_EQ(client->Replace(kPlans, object("invalid")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client->List(kPlans, "p", {}).status().code(), StatusCode::kGone);
  const Status down = client->Delete(kPlans, "p", "down").status();
  EXPECT_EQ(down.code(), StatusCode::kUnavailable);
  EXPECT_THAT(down.message(), HasSubstr("server says 503"));
}

TEST(ClientTest, ARefusedTokenIsReadAgainFromItsFileOnce) {
  TinyServer server;
  server.server().Get("/api/v1/namespaces/ns/configmaps/c", [](const httplib::Request& req,
                                                               httplib::Response& res) {
    if (req.get_header_value("Authorization") != "Bearer rotated") {
      res.status = 401;
      res.set_content(StatusBody(401, "Unauthorized", "Unauthorized"), "application/json");
      return;
    }
    res.set_content(R"({"metadata":{"name":"c"}})", "application/json");
  });
  server.Start();
  TempDir dir;
  const std::string token = dir.Write("token", "old");
  FakeClock clock;  // never advanced: only the 401 makes the file be read again
  Config config;
  config.server = server.url();
  config.credentials = TokenFileCredentials(token, std::chrono::seconds(60), &clock);
  auto client = Client::Create(config);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->Get(resources::kConfigMaps, "ns", "c").status().code(),
            StatusCode::kFailedPrecondition);  // "old" refused twice: no endless retry
  dir.Write("token", "rotated");
  auto object = (*client)->Get(resources::kConfigMaps, "ns", "c");
  ASSERT_TRUE(object.ok()) << object.status().ToString();
  const std::vector<Seen> seen = server.seen();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[2].authorization, "Bearer old");
  EXPECT_EQ(seen[3].authorization, "Bearer rotated");
}

TEST(ClientTest, ARefusedWatchMakesTheNextRequestReadTheTokenAgain) {
  TinyServer server;
  server.server().Get(
      "/api/v1/namespaces/ns/configmaps", [](const httplib::Request& req, httplib::Response& res) {
        if (req.get_header_value("Authorization") != "Bearer rotated") {
          res.status = 401;
          res.set_content(StatusBody(401, "Unauthorized", "Unauthorized"), "application/json");
          return;
        }
        res.set_content(Event("ADDED", "a", 1), "application/json");
      });
  server.Start();
  TempDir dir;
  const std::string token = dir.Write("token", "old");
  FakeClock clock;  // never advanced
  Config config;
  config.server = server.url();
  config.credentials = TokenFileCredentials(token, std::chrono::seconds(60), &clock);
  auto client = Client::Create(config);
  ASSERT_TRUE(client.ok());
  int events = 0;
  const auto count = [&](WatchEvent) {
    ++events;
    return true;
  };
  EXPECT_EQ((*client)->Watch(resources::kConfigMaps, "ns", {}, count, {}).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(server.seen().size(), 1u);  // not retried: the watcher backs off
  dir.Write("token", "rotated");
  const Status watched = (*client)->Watch(resources::kConfigMaps, "ns", {}, count, {});
  EXPECT_TRUE(watched.ok()) << watched.ToString();
  EXPECT_EQ(events, 1);
}

TEST(ClientTest, NoServerIsUnavailableAndASilentOneIsDeadlineExceeded) {
  Config config;
  config.server = "http://127.0.0.1:1";  // nothing listens on port 1
  auto refused = (*Client::Create(config))->Get(kPlans, "p", "x");
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("GET /apis/tidemark.dev"));
  // What failed and where, not httplib's bare "Connection".
  EXPECT_THAT(refused.status().message(),
              HasSubstr(": cannot connect to 127.0.0.1:1: Connection refused"));

  config.server = "http://tidemark-no-such-host.invalid:6443";
  auto unknown = (*Client::Create(config))->Get(kPlans, "p", "x");
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("cannot connect to tidemark-no-such-host.invalid:6443: cannot resolve"));

  TinyServer silent;
  silent.server().Get(".*", [&silent](const httplib::Request&, httplib::Response& res) {
    for (int i = 0; i < 500 && !silent.released(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    res.set_content("{}", "application/json");
  });
  silent.Start();
  ListOptions options;
  options.timeout = std::chrono::milliseconds(200);
  auto late = ClientFor(silent.url())->List(kPlans, "p", options);
  EXPECT_EQ(late.status().code(), StatusCode::kDeadlineExceeded);
}

// Writes `parts` as separate chunks, then ends the stream.
void ServeChunks(TinyServer& server, std::vector<std::string> parts) {
  server.server().Get("/api/v1/namespaces/ns/configmaps",
                      [parts](const httplib::Request& req, httplib::Response& res) {
                        if (!req.has_param("watch")) return;
                        auto index = std::make_shared<size_t>(0);
                        res.set_chunked_content_provider(
                            "application/json", [parts, index](size_t, httplib::DataSink& sink) {
                              if (*index < parts.size()) {
                                const std::string& part = parts[(*index)++];
                                sink.write(part.data(), part.size());
                              } else {
                                sink.done();
                              }
                              return true;
                            });
                      });
}

TEST(ClientTest, WatchDecodesEventsAcrossChunkBoundaries) {
  const std::string stream =
      Event("ADDED", "a", 11) + Event("MODIFIED", "a", 12) + Event("DELETED", "a", 13);
  TinyServer server;
  // Chunk 1 ends inside event 1; chunk 2 finishes it, holds event 2 and starts event 3.
  ServeChunks(server, {stream.substr(0, 20), stream.substr(20, stream.size() - 40),
                       stream.substr(stream.size() - 20)});
  server.Start();
  std::vector<std::string> got;
  WatchOptions options;
  options.resource_version = "10";
  const Status status = ClientFor(server.url())
                            ->Watch(resources::kConfigMaps, "ns", options,
                                    [&](WatchEvent event) {
                                      got.push_back(std::string(WatchEventTypeName(event.type)) +
                                                    " " + ResourceVersionOf(event.object));
                                      return true;
                                    },
                                    {});
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(got, (std::vector<std::string>{"ADDED 11", "MODIFIED 12", "DELETED 13"}));
  EXPECT_EQ(server.seen()[0].target,
            "/api/v1/namespaces/ns/configmaps?watch=true&resourceVersion=10"
            "&allowWatchBookmarks=true&timeoutSeconds=300");
}

TEST(ClientTest, AWatchErrorEventWith410IsGone) {
  TinyServer server;
  ServeChunks(server, {Event("ADDED", "a", 11), R"({"type":"ERROR","object":)" +
                                                    StatusBody(410, "Expired", "too old") + "}\n"});
  server.Start();
  int events = 0;
  const Status status = ClientFor(server.url())
                            ->Watch(resources::kConfigMaps, "ns", {},
                                    [&](WatchEvent) {
                                      ++events;
                                      return true;
                                    },
                                    {});
  EXPECT_EQ(status.code(), StatusCode::kGone);
  EXPECT_THAT(status.message(), HasSubstr("too old"));
  EXPECT_EQ(events, 1);
}

TEST(ClientTest, StoppingAWatchClosesTheStream) {
  TinyServer server;
  server.server().Get("/api/v1/namespaces/ns/configmaps",
                      [&server](const httplib::Request&, httplib::Response& res) {
                        auto sent = std::make_shared<bool>(false);
                        res.set_chunked_content_provider(
                            "application/json", [&server, sent](size_t, httplib::DataSink& sink) {
                              if (!*sent) {
                                const std::string event = Event("ADDED", "a", 1);
                                sink.write(event.data(), event.size());
                                *sent = true;
                                return true;
                              }
                              // Stay open, silent, as a real watch does between events.
                              std::this_thread::sleep_for(std::chrono::milliseconds(10));
                              return !server.released();
                            });
                      });
  server.Start();
  auto client = ClientFor(server.url());
  std::stop_source stop;
  std::promise<void> first_event;
  std::future<Status> result = std::async(std::launch::async, [&] {
    return client->Watch(
        resources::kConfigMaps, "ns", {},
        [&](WatchEvent) {
          first_event.set_value();
          return true;
        },
        stop.get_token());
  });
  first_event.get_future().wait();
  stop.request_stop();
  EXPECT_EQ(result.get().code(), StatusCode::kCancelled);
}

// A CA, a server certificate valid only for "kubernetes.default", and a client
// certificate, made with the openssl command.
class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string d = dir_.path();
    const auto run = [&](const std::string& command) {
      auto result = tidemark::testing::RunProcess({"/bin/sh", "-c", command});
      ASSERT_EQ(result.exit_code, 0) << command << "\n" << result.err;
    };
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    for (const std::string ca : {"ca", "other-ca"}) {
      run("openssl req -x509" + key + " -keyout " + d + "/" + ca + ".key -out " + d + "/" + ca +
          ".crt -days 2 -subj /CN=" + ca);
    }
    dir_.Write("server.ext", "subjectAltName=DNS:kubernetes.default\n");
    dir_.Write("client.ext", "extendedKeyUsage=clientAuth\n");
    for (const std::string who : {"server", "client"}) {
      run("openssl req" + key + " -keyout " + d + "/" + who + ".key -out " + d + "/" + who +
          ".csr -subj /CN=" + who + " && openssl x509 -req -in " + d + "/" + who + ".csr -CA " + d +
          "/ca.crt -CAkey " + d + "/ca.key -CAcreateserial -days 2 -out " + d + "/" + who +
          ".crt -extfile " + d + "/" + who + ".ext");
    }
    server_ = std::make_unique<TinyServer>(std::make_unique<httplib::SSLServer>(
        (d + "/server.crt").c_str(), (d + "/server.key").c_str(), (d + "/ca.crt").c_str()));
    server_->server().Get("/api/v1/namespaces/ns/configmaps/c",
                          [](const httplib::Request&, httplib::Response& res) {
                            res.set_content(R"({"metadata":{"name":"c"}})", "application/json");
                          });
    server_->Start();
  }

  std::string Read(const std::string& name) {
    std::ifstream in(dir_.path() + "/" + name);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // A config that trusts `ca`, presents the client certificate and expects the server to
  // be "kubernetes.default".
  Config MakeConfig(const std::string& ca) {
    Config config;
    config.server = "https://127.0.0.1:" + std::to_string(server_->port());
    config.ca_pem = Read(ca);
    config.tls_server_name = "kubernetes.default";
    config.credentials = StaticCredentials({"", Read("client.crt"), Read("client.key")});
    return config;
  }

  Result<json> GetWith(const Config& config) {
    auto client = Client::Create(config);
    if (!client.ok()) return client.status();
    return (*client)->Get(resources::kConfigMaps, "ns", "c");
  }

  TempDir dir_;
  std::unique_ptr<TinyServer> server_;
};

TEST_F(TlsTest, TrustsTheGivenCaAndPresentsTheClientCertificate) {
  auto object = GetWith(MakeConfig("ca.crt"));
  ASSERT_TRUE(object.ok()) << object.status().ToString();
  EXPECT_EQ(ObjectKey(*object), "c");
}

TEST_F(TlsTest, RejectsAServerSignedByAnotherCa) {
  EXPECT_EQ(GetWith(MakeConfig("other-ca.crt")).status().code(), StatusCode::kUnavailable);
  Config insecure = MakeConfig("other-ca.crt");
  insecure.ca_pem.clear();
  insecure.insecure_skip_tls_verify = true;
  EXPECT_TRUE(GetWith(insecure).ok());
}

TEST_F(TlsTest, VerifiesTheTlsServerNameNotTheAddress) {
  Config by_address = MakeConfig("ca.crt");
  by_address.tls_server_name.clear();  // the certificate does not name 127.0.0.1
  EXPECT_EQ(GetWith(by_address).status().code(), StatusCode::kUnavailable);
}

TEST_F(TlsTest, TheServerRefusesAClientWithoutCertificate) {
  Config anonymous = MakeConfig("ca.crt");
  anonymous.credentials = nullptr;
  EXPECT_EQ(GetWith(anonymous).status().code(), StatusCode::kUnavailable);
}

TEST(TransportTest, RejectsMalformedServersAndCertificates) {
  Config config;
  config.origin = "kubeconfig k";
  for (const char* server : {"ftp://x", "https://", "https://h:99999", "https://h/prefix"}) {
    config.server = server;
    EXPECT_FALSE(Transport::Create(config).ok()) << server;
  }
  config.server = "https://h";
  config.ca_pem = "not a certificate";
  const Status bad_ca = Transport::Create(config).status();
  EXPECT_EQ(bad_ca.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_ca.message(), HasSubstr("kubeconfig k: the certificate authority"));
}

}  // namespace
}  // namespace tidemark::kube
