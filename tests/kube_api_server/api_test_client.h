// A small raw HTTP client for the test API server's tests: requests return the status
// code, headers and the decoded JSON body; watches return their events as a list.
#pragma once

#include <httplib.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tidemark::testing {

struct ApiResponse {
  int status = 0;  // 0: no answer (connection failed)
  nlohmann::json body;
  httplib::Headers headers;
};

class ApiTestClient {
 public:
  explicit ApiTestClient(int port) : port_(port) {}

  ApiResponse Get(const std::string& path, const httplib::Headers& headers = {}) {
    return Decode(Client().Get(path, headers));
  }
  ApiResponse Post(const std::string& path, const nlohmann::json& body) {
    return Decode(Client().Post(path, body.dump(), "application/json"));
  }
  ApiResponse Put(const std::string& path, const nlohmann::json& body) {
    return Decode(Client().Put(path, body.dump(), "application/json"));
  }
  ApiResponse Patch(const std::string& path, const std::string& body,
                    const std::string& content_type) {
    return Decode(Client().Patch(path, body, content_type));
  }
  ApiResponse Delete(const std::string& path, const nlohmann::json& options = nullptr) {
    return Decode(options.is_null() ? Client().Delete(path)
                                    : Client().Delete(path, options.dump(), "application/json"));
  }

  // Reads a watch until it ends or `max_events` arrived. `status` gets the HTTP status.
  std::vector<nlohmann::json> Watch(const std::string& path, size_t max_events,
                                    int* status = nullptr) {
    std::vector<nlohmann::json> events;
    std::string buffer;
    int answered = 0;
    auto client = Client();
    client.Get(
        path,
        [&](const httplib::Response& response) {
          answered = response.status;
          return true;
        },
        [&](const char* data, size_t length) {
          buffer.append(data, length);
          for (size_t newline; (newline = buffer.find('\n')) != std::string::npos;) {
            events.push_back(nlohmann::json::parse(buffer.substr(0, newline)));
            buffer.erase(0, newline + 1);
          }
          return events.size() < max_events;
        });
    if (status) *status = answered;
    return events;
  }

 private:
  httplib::Client Client() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(60, 0);  // a guard against hangs, not a timing assertion
    return client;
  }

  static ApiResponse Decode(const httplib::Result& result) {
    ApiResponse response;
    if (!result) return response;
    response.status = result->status;
    response.headers = result->headers;
    response.body = nlohmann::json::parse(result->body, nullptr, false);
    return response;
  }

  int port_;
};

}  // namespace tidemark::testing
