// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing
// above U+10FFFF). Text messages arrive in chunks that may split a character,
// so the state carries over between calls.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nlws {

struct Utf8State {
  uint8_t need = 0;  // continuation bytes still expected
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the next continuation byte
  bool complete() const { return need == 0; }
};

inline bool Utf8Feed(Utf8State& s, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint8_t b = p[i];
    if (s.need == 0) {
      if (b < 0x80) continue;
      s.lo = 0x80;
      s.hi = 0xBF;
      if (b >= 0xC2 && b <= 0xDF) {
        s.need = 1;
      } else if (b == 0xE0) {
        s.need = 2; s.lo = 0xA0;
      } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
        s.need = 2;
      } else if (b == 0xED) {
        s.need = 2; s.hi = 0x9F;
      } else if (b == 0xF0) {
        s.need = 3; s.lo = 0x90;
      } else if (b >= 0xF1 && b <= 0xF3) {
        s.need = 3;
      } else if (b == 0xF4) {
        s.need = 3; s.hi = 0x8F;
      } else {
        return false;
      }
    } else {
      if (b < s.lo || b > s.hi) return false;
      s.lo = 0x80;
      s.hi = 0xBF;
      s.need--;
    }
  }
  return true;
}

}  // namespace nlws
