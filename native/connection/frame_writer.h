// Client data frames framed and masked by us, several in one buffer, so
// that small messages queued together go out in one write (lws writes one
// frame per lws_write(), a system call each). Service thread only.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nlws {

// Largest frame header a client writes: 2 + 8 (length) + 4 (masking key).
constexpr size_t kMaxClientFrameHeader = 14;

// Bytes the frame of a `len`-byte payload takes.
constexpr size_t ClientFrameSize(size_t len) {
  return 2 + (len < 126 ? 0 : len <= 0xffff ? 2 : 8) + 4 + len;
}

// Writes one whole (FIN) unfragmented data frame, masked with a fresh key,
// at `dst` (ClientFrameSize(len) bytes). False when no random key could be
// had (the caller falls back to lws's own framing).
bool WriteMaskedFrame(uint8_t* dst, bool binary, const uint8_t* payload, size_t len);

// Four bytes for a masking key: from a per-thread pool filled from the
// kernel's CSPRNG (getrandom) 4 KiB at a time; a key taken is wiped from
// the pool. False if the kernel gave none.
bool NextMaskingKey(uint8_t key[4]);

}  // namespace nlws
