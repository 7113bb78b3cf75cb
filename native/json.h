// Minimal JSON writer for the few structured events (open, error, close):
// they are rare, so text keeps the event format uniform (type, id, bytes).
#pragma once
#include <string>

namespace nlws {

void AppendJsonString(std::string& out, const char* s, size_t n);
inline void AppendJsonString(std::string& out, const std::string& s) {
  AppendJsonString(out, s.data(), s.size());
}

}  // namespace nlws
