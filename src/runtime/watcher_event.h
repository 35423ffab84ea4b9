// What a watcher reports, kube-rs style: single changes (Apply, Delete) once watching, and
// a full listing framed by Init .. InitDone, during which the objects arrive as InitApply.
// A Store buffers a listing and swaps it in at InitDone.
#pragma once

#include <nlohmann/json.hpp>

namespace tidemark::runtime {

struct WatcherEvent {
  enum class Type {
    kInit,       // a (re-)list begins
    kInitApply,  // one object of the listing
    kInitDone,   // the listing is complete: it replaces everything known before
    kApply,      // an object was added or changed
    kDelete,     // an object was deleted (object: its last state)
  };
  Type type = Type::kApply;
  nlohmann::json object;  // null for kInit and kInitDone
};

}  // namespace tidemark::runtime
