#include "clock.h"

#include <chrono>
#include <cstdio>

namespace nlws {

double WallMs() {
  using namespace std::chrono;
  return static_cast<double>(duration_cast<microseconds>(system_clock::now().time_since_epoch()).count()) / 1000.0;
}

double MonoMs() {
  using namespace std::chrono;
  return static_cast<double>(duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count()) / 1000.0;
}

// Times and durations reach JS as whole milliseconds (finer is noise).
std::string JsonMs(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

}  // namespace nlws
