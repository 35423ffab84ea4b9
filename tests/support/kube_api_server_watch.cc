// The test API server's watches: one stream per request, fed from the history.
#include "tests/support/kube_api_server_impl.h"

namespace tidemark::testing {

bool KubeApiServer::Impl::Selects(const WatchStream& stream, const json& object) const {
  if (!stream.name.empty() && object["metadata"].value("name", "") != stream.name) return false;
  return Matches(stream.query, stream.ns, object);
}

json KubeApiServer::Impl::Bookmark(const ResourceType& type, int64_t version,
                                   bool initial_events_end) {
  json metadata = {{"resourceVersion", std::to_string(version)}, {"creationTimestamp", nullptr}};
  if (initial_events_end) metadata["annotations"] = {{"k8s.io/initial-events-end", "true"}};
  return {{"kind", type.kind}, {"apiVersion", type.api_version()}, {"metadata", metadata}};
}

std::string KubeApiServer::Impl::EventLine(WatchStream& stream, const std::string& event_type,
                                           json object) {
  if (stream.table && event_type != "BOOKMARK" && event_type != "ERROR") {
    object = MakeTable(*stream.type, {object}, !stream.headers_sent, stream.include_object,
                       std::chrono::system_clock::now());
    stream.headers_sent = true;
  }
  return json{{"type", event_type}, {"object", std::move(object)}}.dump() + "\n";
}

std::optional<Reply> KubeApiServer::Impl::OpenWatchLocked(const Target& target,
                                                          const httplib::Request& req,
                                                          WatchStream* stream) {
  const ResourceType& type = *target.type;
  if (auto failure = ParseQuery(type, req, &stream->query)) return *failure;
  stream->type = target.type;
  stream->ns = target.ns;
  stream->name = target.name;
  stream->bookmarks = BoolParam(req, "allowWatchBookmarks");
  stream->table = WantsTable(req);
  stream->include_object = IncludeObject(req);
  auto timeout = std::chrono::duration_cast<Clock::duration>(options.default_watch_timeout);
  if (req.has_param("timeoutSeconds")) {
    try {
      timeout = std::chrono::seconds(std::stoll(req.get_param_value("timeoutSeconds")));
    } catch (const std::exception&) {
      return BadRequestReply("invalid timeoutSeconds");
    }
  }
  stream->deadline = Clock::now() + timeout;
  stream->next_bookmark = Clock::now() + options.bookmark_interval;
  stream->drop_generation = drop_generation;
  stream->bookmark_generation = bookmark_generation;
  const std::string requested = req.get_param_value("resourceVersion");
  const bool send_initial = BoolParam(req, "sendInitialEvents");
  if (send_initial && !stream->bookmarks) {
    return InvalidReply(type, "",
                        {{"allowWatchBookmarks", "FieldValueForbidden",
                          "Forbidden: sendInitialEvents requires setting allowWatchBookmarks "
                          "to true"}});
  }
  if (requested.empty() || requested == "0" || send_initial) {
    stream->cursor = resource_version;
    stream->initial_events_end = send_initial;
    for (const auto& [key, stored] : SnapshotLocked(type.storage, resource_version)) {
      json object = FromStorage(type, *stored);
      if (Selects(*stream, object)) stream->initial.push_back(object);
    }
    return std::nullopt;
  }
  try {
    stream->cursor = std::stoll(requested);
  } catch (const std::exception&) {
    return BadRequestReply("invalid resource version: " + requested);
  }
  stream->expired = stream->cursor < compacted;
  return std::nullopt;
}

std::string KubeApiServer::Impl::PollWatch(WatchStream& stream, bool* close, bool* abort) {
  std::unique_lock lock(mu);
  std::string out;
  const auto has_news = [&] {
    return stopping || stream.drop_generation != drop_generation || stream.expired ||
           !stream.initial.empty() || stream.initial_events_end ||
           stream.cursor < resource_version ||
           (stream.bookmarks && stream.bookmark_generation != bookmark_generation);
  };
  auto wake = std::min(stream.deadline, Clock::now() + std::chrono::seconds(1));
  if (stream.bookmarks) wake = std::min(wake, stream.next_bookmark);
  changed.wait_until(lock, wake, has_news);
  if (stopping || stream.drop_generation != drop_generation) {
    *abort = true;
    return out;
  }
  if (stream.cursor < compacted) stream.expired = true;
  if (stream.expired) {
    const Reply gone = ExpiredReply("too old resource version: " + std::to_string(stream.cursor) +
                                    " (" + std::to_string(compacted) + ")");
    out = EventLine(stream, "ERROR", gone.body);
    *close = true;
    return out;
  }
  const ResourceType& type = *stream.type;
  while (!stream.initial.empty()) {
    out += EventLine(stream, "ADDED", std::move(stream.initial.front()));
    stream.initial.pop_front();
  }
  if (stream.initial_events_end) {
    out += EventLine(stream, "BOOKMARK", Bookmark(type, stream.cursor, true));
    stream.initial_events_end = false;
  }
  auto event = std::lower_bound(
      history.begin(), history.end(), stream.cursor + 1,
      [](const HistoryEvent& e, int64_t version) { return e.resource_version < version; });
  for (; event != history.end(); ++event) {
    if (event->storage != type.storage) continue;
    const json object = FromStorage(type, event->object);
    const bool now_matches = Selects(stream, object);
    const bool matched_before =
        !event->previous.is_null() && Selects(stream, FromStorage(type, event->previous));
    std::string event_type = event->type;
    if (event_type == "MODIFIED" && now_matches && !matched_before) event_type = "ADDED";
    if (event_type == "MODIFIED" && !now_matches && matched_before) event_type = "DELETED";
    if (event_type == "DELETED" ? matched_before : now_matches) {
      out += EventLine(stream, event_type, object);
    }
  }
  stream.cursor = resource_version;
  const auto now = Clock::now();
  if (stream.bookmarks &&
      (now >= stream.next_bookmark || stream.bookmark_generation != bookmark_generation)) {
    out += EventLine(stream, "BOOKMARK", Bookmark(type, stream.cursor, false));
    stream.next_bookmark = now + options.bookmark_interval;
    stream.bookmark_generation = bookmark_generation;
  }
  if (now >= stream.deadline) *close = true;
  return out;
}

void KubeApiServer::Impl::ServeWatch(const Target& target, const httplib::Request& req,
                                     httplib::Response& res) {
  auto stream = std::make_shared<WatchStream>();
  {
    std::lock_guard lock(mu);
    if (auto failure = OpenWatchLocked(target, req, stream.get())) {
      Send(*failure, res);
      return;
    }
    ++watch_count;
  }
  res.status = 200;
  res.set_chunked_content_provider(
      "application/json",
      [this, stream](size_t, httplib::DataSink& sink) {
        bool close = false, abort = false;
        const std::string out = PollWatch(*stream, &close, &abort);
        if (abort) return false;
        if (!out.empty() && !sink.write(out.data(), out.size())) return false;
        if (close) sink.done();
        return true;
      },
      [this, stream](bool) {
        std::lock_guard lock(mu);
        --watch_count;
      });
}

}  // namespace tidemark::testing
