// Test hooks: the pure parts of the native layer (failure classifier,
// reconnect delay, timer queue, CPU budget, address order), callable from
// the tests with chosen inputs. They are exported apart, as the binding's
// `testing` object, and touch no session: shipping them costs nothing, and
// the tests run against the built package as users get it. A field the
// input lacks keeps the value the native struct starts with.
#include <string>
#include <vector>

#include "../session/backoff.h"
#include "../session/classify.h"
#include "../thread/resolver.h"
#include "../session/session.h"
#include "../thread/timer.h"
#include "constants.h"
#include "methods.h"
#include "values.h"

namespace nlws::js {

namespace {

bool Given(const Napi::Object& o, const char* name, Napi::Value* v) {
  *v = o.Get(name);
  return !v->IsUndefined();
}

// classify(failure): the reconnect policy (native/session/classify.h) ->
// {action, delayMs, reason, spread, keepClimbing}.
Napi::Value Classify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return env.Undefined();
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value v;
  Failure f;
  std::string cause = Str(o.Get("cause"));
  for (size_t i = 0; i < std::size(kCauseNames); i++)
    if (cause == kCauseNames[i]) f.cause = static_cast<Cause>(i);
  f.status = Int<int>(o.Get("status"), 0, 999);
  f.closeCode = Int<int>(o.Get("code"), 0, 65535);
  f.retryAfter = Str(o.Get("retryAfter"));
  f.refreshedOnce = Bool(o.Get("refreshedOnce"));
  f.proxyRefresh = Bool(o.Get("proxyRefresh"));
  if (Given(o, "reconnectOnNormalClose", &v)) f.reconnectOnNormalClose = Bool(v);
  f.nowMs = Given(o, "nowMs", &v) ? Int<int64_t>(v, 0, 8.64e15) : static_cast<int64_t>(WallMs());
  Decision d = nlws::Classify(f);
  Napi::Object r = Napi::Object::New(env);
  r.Set("action", ActionName(d.action));
  r.Set("delayMs", static_cast<double>(d.delayMs));
  r.Set("reason", d.reason);
  r.Set("spread", d.spread);
  r.Set("keepClimbing", d.keepClimbing);
  return r;
}

// reconnectDelay(input): the reconnect delay (native/session/backoff.h):
// {schedule, attempt, jitter: 'full'|'add', jitterPercent, retryAfterMs,
// maxRetryAfterMs, spread, random} -> {delayMs, scheduleMs, floorMs, retryAfterWon}.
Napi::Value ReconnectDelay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return env.Undefined();
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value v;
  std::vector<uint32_t> schedule;
  Napi::Value table = o.Get("schedule");
  for (uint32_t i = 0, n = Length(table); i < n; i++) schedule.push_back(U32(table.As<Napi::Array>().Get(i)));
  DelayInput in;
  in.schedule = &schedule;
  if (Given(o, "attempt", &v)) in.attempt = U32(v);
  in.jitter = Str(o.Get("jitter")) == kJitterNames[static_cast<int>(Jitter::kAdd)] ? Jitter::kAdd : Jitter::kFull;
  in.jitterPercent = Int<uint32_t>(o.Get("jitterPercent"), 0, 100);
  if (Given(o, "retryAfterMs", &v)) in.retryAfterMs = Int<int64_t>(v, -1, 8.64e15);
  in.maxRetryAfterMs = U32(o.Get("maxRetryAfterMs"));
  in.spread = Bool(o.Get("spread"));
  in.random = Clamped(o.Get("random"), 0, 1);
  Delay d = nlws::ReconnectDelay(in);
  Napi::Object r = Napi::Object::New(env);
  r.Set("delayMs", d.ms);
  r.Set("scheduleMs", d.scheduleMs);
  r.Set("floorMs", d.floorMs);
  r.Set("retryAfterWon", d.retryAfterWon);
  return r;
}

// timerQueue(timers, ops): the order timers fire in after a sequence of
// schedules and cancels (flat [kind, timer, offsetUs, ...]).
Napi::Value TimerQueue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int timers = Int<int>(info[0], 0, 100000);
  std::vector<TimerOp> ops;
  uint32_t n = Length(info[1]);
  for (uint32_t i = 0; i + 2 < n && ops.size() < 1000000; i += 3) {
    Napi::Array list = info[1].As<Napi::Array>();
    ops.push_back(TimerOp{Int<int>(list.Get(i), -1e9, 1e9), Int<int>(list.Get(i + 1), -1e9, 1e9),
                          Int<int64_t>(list.Get(i + 2), -1e12, 1e12)});
  }
  std::vector<int> fired = ReplayTimerOps(timers, ops);
  Napi::Array out = Napi::Array::New(env, fired.size());
  for (size_t i = 0; i < fired.size(); i++) out.Set(static_cast<uint32_t>(i), fired[i]);
  return out;
}

// cpuBudget(root, affinity): the CPU budget read below another root
// directory (a tree laid out like /proc and /sys/fs/cgroup).
Napi::Value CpuBudgetBelow(const Napi::CallbackInfo& info) {
  double n = info[1].IsNumber() ? Num(info[1]) : -1;
  int affinity = n >= 0 && n <= 1 << 16 ? static_cast<int>(n) : -1;
  return BudgetObject(info.Env(), ReadCpuBudget(Str(info[0]), affinity), -1);
}

// orderAddresses(addresses, family): the order the addresses of a name are
// tried in (native/thread/resolver.h).
Napi::Value OrderAddresses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> in;
  for (uint32_t i = 0, n = Length(info[0]); i < n; i++) {
    Napi::Value v = info[0].As<Napi::Array>().Get(i);
    if (v.IsString()) in.push_back(Str(v));
  }
  std::vector<std::string> out = OrderForRacing(in, Int<int>(info[1], 0, 6));
  Napi::Array r = Napi::Array::New(env, out.size());
  for (size_t i = 0; i < out.size(); i++) r.Set(static_cast<uint32_t>(i), out[i]);
  return r;
}

}  // namespace

Napi::Object TestHooks(Napi::Env env) {
  Napi::Object t = Napi::Object::New(env);
  t.Set("classify", Napi::Function::New(env, Classify, "classify"));
  t.Set("reconnectDelay", Napi::Function::New(env, ReconnectDelay, "reconnectDelay"));
  t.Set("timerQueue", Napi::Function::New(env, TimerQueue, "timerQueue"));
  t.Set("cpuBudget", Napi::Function::New(env, CpuBudgetBelow, "cpuBudget"));
  t.Set("orderAddresses", Napi::Function::New(env, OrderAddresses, "orderAddresses"));
  return t;
}

}  // namespace nlws::js
