#include "frame_writer.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

namespace nlws {

namespace {

constexpr size_t kKeyPoolBytes = 4096;

struct KeyPool {
  uint8_t bytes[kKeyPoolBytes];
  size_t left = 0;
};

thread_local KeyPool g_pool;

bool Refill(KeyPool& p) {
  size_t got = 0;
  while (got < kKeyPoolBytes) {
    ssize_t n = getrandom(p.bytes + got, kKeyPoolBytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    got += static_cast<size_t>(n);
  }
  p.left = kKeyPoolBytes;
  return true;
}

}  // namespace

bool NextMaskingKey(uint8_t key[4]) {
  KeyPool& p = g_pool;
  if (p.left < 4 && !Refill(p)) return false;
  p.left -= 4;
  memcpy(key, p.bytes + p.left, 4);
  memset(p.bytes + p.left, 0, 4);
  return true;
}

bool WriteMaskedFrame(uint8_t* dst, bool binary, const uint8_t* payload, size_t len) {
  uint8_t key[4];
  if (!NextMaskingKey(key)) return false;
  uint8_t* h = dst;
  h[0] = static_cast<uint8_t>(0x80 | (binary ? 0x2 : 0x1));  // FIN, opcode
  if (len < 126) {
    h[1] = static_cast<uint8_t>(0x80 | len);
    h += 2;
  } else if (len <= 0xffff) {
    h[1] = 0x80 | 126;
    h[2] = static_cast<uint8_t>(len >> 8);
    h[3] = static_cast<uint8_t>(len);
    h += 4;
  } else {
    h[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) h[2 + i] = static_cast<uint8_t>(static_cast<uint64_t>(len) >> (56 - 8 * i));
    h += 10;
  }
  memcpy(h, key, 4);
  dst = h + 4;
  // Eight bytes at a time; the key repeats every four bytes.
  uint8_t k8b[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
  uint64_t k8;
  memcpy(&k8, k8b, 8);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t v;
    memcpy(&v, payload + i, 8);
    v ^= k8;
    memcpy(dst + i, &v, 8);
  }
  for (; i < len; i++) dst[i] = payload[i] ^ key[i & 3];
  return true;
}

}  // namespace nlws
