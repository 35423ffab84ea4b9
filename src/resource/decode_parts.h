// The parts of the MigrationPlan decoder (decode.cc) that map a step's or the spec's extras
// (decode_parts.cc), and the helpers both use. Internal to src/resource.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "plan/model.h"
#include "resource/decoder.h"

namespace tidemark::resource {

// decode.cc. False, and a problem at `path`, when `name` is not a Kubernetes name.
bool CheckObjectName(Decoder& d, const std::string& path, const std::string& name);
// "1,048,577 bytes, more than the 1,048,576 of what (\"SELECT ...\")".
std::string TooLong(const std::string& value, size_t limit, const std::string& what);
// A secretKeyRef, env or file source of a value.
void DecodeValueSource(Decoder& d, const nlohmann::json& node, const std::string& path,
                       plan::Value* value);

// decode_parts.cc.
void DecodeLintAllow(Decoder& d, const nlohmann::json& list, const std::string& path,
                     std::vector<plan::LintAllow>* allows);
// kind, and a back-fill's batchDelay and maxBatches (after the step's other fields).
void DecodeStepKind(Decoder& d, const nlohmann::json& node, const std::string& path,
                    plan::Step* step);
void DecodeRunner(Decoder& d, const nlohmann::json& node, const std::string& path,
                  plan::RunnerSpec* runner);
void DecodeRollout(Decoder& d, const nlohmann::json& node, const std::string& path,
                   plan::RolloutSpec* rollout);
void DecodeApprovedDigest(Decoder& d, const nlohmann::json& spec, const std::string& path,
                          std::string* approved_digest);

}  // namespace tidemark::resource
