// What the addon is: the wire contract (wire.h) that
// test/wire.test.ts compares with lib/wire.ts, lws's log levels, version and
// our patches; and what its service thread decided from the CPUs it has.
#include <libwebsockets.h>

#include <iterator>
#include <string>

#include "../thread/cpu_budget.h"
#include "../wire.h"
#include "constants.h"
#include "environment.h"
#include "methods.h"

// Defined in lws by deps/patch-lws.py: the names of our changes to lws and
// the SHA-256 of the script that made them, "<name>;<name>;...@<sha256>".
extern "C" const char* nlws_lws_patch_set(void);

namespace nlws::js {

namespace {

// A wire.h list of names, as a JS array (index = number).
template <size_t N>
Napi::Array NameList(Napi::Env env, const char* const (&names)[N]) {
  Napi::Array a = Napi::Array::New(env, N);
  for (size_t i = 0; i < N; i++) a.Set(static_cast<uint32_t>(i), names[i]);
  return a;
}

}  // namespace

Napi::Value Constants(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("indexStride", kIndexStride);
  Napi::Object columns = Napi::Object::New(env);
  columns.Set("type", static_cast<int>(kColType));
  columns.Set("id", static_cast<int>(kColId));
  columns.Set("value", static_cast<int>(kColValue));
  columns.Set("chunk", static_cast<int>(kColChunk));
  columns.Set("offset", static_cast<int>(kColOffset));
  columns.Set("length", static_cast<int>(kColLength));
  o.Set("indexColumns", columns);
  Napi::Object events = Napi::Object::New(env);
  for (size_t i = 1; i < std::size(kEventTypeNames); i++) events.Set(kEventTypeNames[i], static_cast<int>(i));
  o.Set("eventTypes", events);
  o.Set("sessionStates", NameList(env, kSessionStateNames));
  o.Set("causes", NameList(env, kCauseNames));
  o.Set("actions", NameList(env, kActionNames));
  o.Set("dropReasons", NameList(env, kDropReasonNames));
  o.Set("overflow", NameList(env, kOverflowNames));
  o.Set("jitter", NameList(env, kJitterNames));
  Napi::Object drop = Napi::Object::New(env);
  drop.Set("binary", kDropBinary);
  drop.Set("reasonShift", kDropReasonShift);
  drop.Set("reasonMask", kDropReasonMask);
  drop.Set("priority", kDropPriority);
  o.Set("dropBits", drop);
  o.Set("LLL_ERR", LLL_ERR);
  o.Set("LLL_WARN", LLL_WARN);
  o.Set("LLL_NOTICE", LLL_NOTICE);
  o.Set("LLL_INFO", LLL_INFO);
  o.Set("LLL_DEBUG", LLL_DEBUG);
  o.Set("LLL_CLIENT", LLL_CLIENT);
  // lws's own version string ends in the git commit of the tree it was
  // built in (ours): report the release, and our changes to it apart.
  o.Set("lwsVersion", std::to_string(LWS_LIBRARY_VERSION_MAJOR) + "." + std::to_string(LWS_LIBRARY_VERSION_MINOR) +
                          "." + std::to_string(LWS_LIBRARY_VERSION_PATCH));
  o.Set("lwsPatchSet", nlws_lws_patch_set());
  return o;
}

Napi::Object BudgetObject(Napi::Env env, const CpuBudget& b, int64_t spinUs) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("cpus", b.affinity);
  o.Set("cpuQuota", b.quota > 0 ? Napi::Value(Napi::Number::New(env, b.quota)) : env.Null());
  o.Set("spinAllowed", b.SpinAllowed());
  if (spinUs >= 0) o.Set("spinUs", static_cast<double>(spinUs));
  return o;
}

// serviceInfo(): what the service thread decided from the CPUs it has:
// {cpus, cpuQuota, spinAllowed, spinUs} (spinUs 0: it never busy-polls).
Napi::Value ServiceInfo(const Napi::CallbackInfo& info) {
  Environment& self = Environment::Of(info);
  return BudgetObject(info.Env(), self.service().cpuBudget(), self.service().spinUs());
}

}  // namespace nlws::js
