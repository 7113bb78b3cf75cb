// Module entry: one Environment per Node environment (main thread, workers).
#include <node_api.h>

#include "environment.h"

NAPI_MODULE_INIT() { return nlws::Environment::Init(env, exports); }
