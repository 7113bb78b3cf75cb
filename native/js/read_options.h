// The record lib/options/validate.ts builds (NativeConnectOptions), read
// into a ConnectOptions. No defaults live here: the façade sends every field
// (lib/options/defaults.ts is the only table of defaults). A raw caller's
// missing or wrong-typed field reads as zero, false or empty (values.h).
#pragma once
#include <napi.h>

#include <memory>

#include "../connect_options.h"

namespace nlws::js {

std::unique_ptr<ConnectOptions> ReadConnectOptions(const Napi::Object& o);

}  // namespace nlws::js
