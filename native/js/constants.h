// The CPU budget as a JS object (serviceInfo(), and the test hook that reads
// a budget below another root).
#pragma once
#include <napi.h>

#include <cstdint>

#include "../thread/cpu_budget.h"

namespace nlws::js {

Napi::Object BudgetObject(Napi::Env env, const CpuBudget& b, int64_t spinUs);

}  // namespace nlws::js
