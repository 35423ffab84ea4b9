// A watch response body, cut into chunks anywhere: the first byte of the input chooses the
// chunk size, the rest is the stream.
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_checks.h"
#include "kube/watch_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tidemark;
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  kube::WatchDecoder decoder("watch migrationplans");
  std::vector<kube::WatchEvent> events;
  while (!stream.empty()) {
    const Status fed = decoder.Feed(stream.substr(0, chunk), &events);
    if (!fed.ok()) {
      fuzz::CheckMessage(fed);
      return 0;  // a decoder that returned an error is not fed again
    }
    stream.remove_prefix(std::min(chunk, stream.size()));
  }
  fuzz::CheckMessage(decoder.Finish(&events));
  for (const kube::WatchEvent& event : events) (void)DumpJson(event.object);
  return 0;
}
