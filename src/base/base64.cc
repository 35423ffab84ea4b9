#include "base/base64.h"

#include <nettle/base64.h>

#include <cctype>
#include <cstdint>

namespace tidemark {

std::string Base64Encode(std::string_view data) {
  std::string out(BASE64_ENCODE_RAW_LENGTH(data.size()), '\0');
  base64_encode_raw(out.data(), data.size(), reinterpret_cast<const uint8_t*>(data.data()));
  return out;
}

Result<std::string> Base64Decode(std::string_view input) {
  std::string text;
  for (char c : input) {
    if (!std::isspace(static_cast<unsigned char>(c))) text.push_back(c);
  }
  while (text.size() % 4 != 0) text.push_back('=');
  base64_decode_ctx context;
  base64_decode_init(&context);
  std::string out(BASE64_DECODE_LENGTH(text.size()), '\0');
  size_t length = out.size();
  if (!base64_decode_update(&context, &length, reinterpret_cast<uint8_t*>(out.data()), text.size(),
                            text.data()) ||
      !base64_decode_final(&context)) {
    return Status::InvalidArgument("not valid base64");
  }
  out.resize(length);
  return out;
}

}  // namespace tidemark
