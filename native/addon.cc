// Module entry: one Environment per Node environment.
#include <napi.h>

#include "environment.h"

using nlws::Environment;
NODE_API_ADDON(Environment)
