#include "tests/support/kube_protobuf.h"

#include <cstdint>
#include <functional>
#include <string_view>

#include "base/base64.h"

namespace tidemark::testing {
namespace {

using nlohmann::json;

// One field of a protobuf message: its number and, for the wire types used by Kubernetes
// objects, either a varint or length-delimited bytes.
struct Field {
  int number = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

// Calls `on_field` for every field of `message`; false when the encoding is broken.
bool ForEachField(std::string_view message, const std::function<void(const Field&)>& on_field) {
  size_t at = 0;
  const auto read_varint = [&](uint64_t* value) {
    *value = 0;
    for (int shift = 0; shift < 64 && at < message.size(); shift += 7) {
      const auto byte = static_cast<uint8_t>(message[at++]);
      *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return true;
    }
    return false;
  };
  while (at < message.size()) {
    uint64_t key = 0;
    if (!read_varint(&key)) return false;
    Field field;
    field.number = static_cast<int>(key >> 3);
    switch (key & 7) {
      case 0:
        if (!read_varint(&field.varint)) return false;
        break;
      case 1:
        at += 8;
        break;
      case 2: {
        uint64_t length = 0;
        if (!read_varint(&length) || length > message.size() - at) return false;
        field.bytes = message.substr(at, length);
        at += length;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        return false;
    }
    if (at > message.size()) return false;
    on_field(field);
  }
  return true;
}

// A map<string, string|bytes> entry: key = 1, value = 2.
void AddMapEntry(std::string_view entry, json& map, bool base64_values) {
  std::string key, value;
  ForEachField(entry, [&](const Field& field) {
    if (field.number == 1) key = field.bytes;
    if (field.number == 2) value = field.bytes;
  });
  map[key] = base64_values ? Base64Encode(value) : value;
}

json DecodeObjectMeta(std::string_view message) {
  json meta = json::object();
  ForEachField(message, [&](const Field& field) {
    const std::string text(field.bytes);
    switch (field.number) {
      case 1:
        meta["name"] = text;
        break;
      case 2:
        meta["generateName"] = text;
        break;
      case 3:
        meta["namespace"] = text;
        break;
      case 6:
        meta["resourceVersion"] = text;
        break;
      case 11:
        AddMapEntry(field.bytes, meta["labels"], false);
        break;
      case 12:
        AddMapEntry(field.bytes, meta["annotations"], false);
        break;
      case 14:
        meta["finalizers"].push_back(text);
        break;
      default:
        break;  // set by the server, or not used by kubectl create
    }
  });
  // Go writes empty strings; JSON clients leave them out, and so does this decoder.
  for (auto it = meta.begin(); it != meta.end();) {
    it = it->is_string() && it->get<std::string>().empty() ? meta.erase(it) : std::next(it);
  }
  return meta;
}

}  // namespace

Result<json> DecodeKubernetesProtobuf(const std::string& body) {
  static constexpr std::string_view kMagic("k8s\0", 4);
  if (body.compare(0, kMagic.size(), kMagic) != 0) {
    return Status::InvalidArgument("not a Kubernetes protobuf object (no k8s magic prefix)");
  }
  std::string api_version, kind;
  std::string_view raw;
  const bool envelope_ok =
      ForEachField(std::string_view(body).substr(kMagic.size()), [&](const Field& field) {
        if (field.number == 2) raw = field.bytes;
        if (field.number != 1) return;
        ForEachField(field.bytes, [&](const Field& type_meta) {
          if (type_meta.number == 1) api_version = type_meta.bytes;
          if (type_meta.number == 2) kind = type_meta.bytes;
        });
      });
  if (!envelope_ok) return Status::InvalidArgument("malformed protobuf envelope");
  if (api_version != "v1" || (kind != "Namespace" && kind != "ConfigMap" && kind != "Secret")) {
    return Status::Unsupported("protobuf bodies of " + api_version + " " + kind +
                               " are not decoded by the test API server: send JSON");
  }
  json object = {{"apiVersion", api_version}, {"kind", kind}, {"metadata", json::object()}};
  const bool object_ok = ForEachField(raw, [&](const Field& field) {
    if (field.number == 1) {
      object["metadata"] = DecodeObjectMeta(field.bytes);
    } else if (kind == "Namespace" && field.number == 2) {
      ForEachField(field.bytes, [&](const Field& spec) {
        if (spec.number == 1) object["spec"]["finalizers"].push_back(std::string(spec.bytes));
      });
    } else if (kind == "ConfigMap" && field.number == 2) {
      AddMapEntry(field.bytes, object["data"], false);
    } else if (kind == "ConfigMap" && field.number == 3) {
      AddMapEntry(field.bytes, object["binaryData"], true);
    } else if (kind == "ConfigMap" && field.number == 4) {
      object["immutable"] = field.varint != 0;
    } else if (kind == "Secret" && field.number == 2) {
      AddMapEntry(field.bytes, object["data"], true);
    } else if (kind == "Secret" && field.number == 3 && !field.bytes.empty()) {
      object["type"] = std::string(field.bytes);
    } else if (kind == "Secret" && field.number == 4) {
      AddMapEntry(field.bytes, object["stringData"], false);
    } else if (kind == "Secret" && field.number == 5) {
      object["immutable"] = field.varint != 0;
    }
  });
  if (!object_ok) return Status::InvalidArgument("malformed protobuf " + kind);
  return object;
}

}  // namespace tidemark::testing
