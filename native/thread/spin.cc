#include "spin.h"

#include <cstdlib>

namespace nlws {

static constexpr int64_t kDefaultSpinUs = 100;
static constexpr int kMaxSpinMisses = 8;
// While spinning, the sockets are polled this often (a poll() costs a system
// call over every socket; the mailbox is a memory load).
static constexpr int64_t kSpinPollUs = 10;

static inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

static int64_t SpinUsFromEnv() {
  const char* v = getenv("NLWS_SPIN_US");
  if (!v || !*v) return kDefaultSpinUs;
  char* end = nullptr;
  long long n = strtoll(v, &end, 10);
  if (*end || n < 0) return kDefaultSpinUs;
  return n > 10000 ? 10000 : n;
}

Spin::Spin() : windowUs_(SpinUsFromEnv()) {}

bool Spin::Next(bool published, int64_t nowUs) {
  if (roundOpen_) {
    bool answered = lastCommandUs_ >= lastPublishUs_;
    if (answered || published || nowUs - lastPublishUs_ > windowUs_) {
      roundOpen_ = false;
      if (answered && lastCommandUs_ - lastPublishUs_ <= windowUs_) {
        enabled_ = true;
        misses_ = 0;
      } else if (++misses_ >= kMaxSpinMisses) {
        enabled_ = false;
      }
    }
  }
  if (published) {
    roundOpen_ = true;
    lastPublishUs_ = nowUs;
  }
  return enabled_ && roundOpen_ && nowUs - lastPublishUs_ <= windowUs_;
}

void Spin::WatchMailbox(const Mailbox& m) {
  int64_t until = lws_now_usecs() + kSpinPollUs;
  while (!m.Wanted() && lws_now_usecs() < until) CpuRelax();
}

}  // namespace nlws
