// How many CPUs this process may use: its affinity mask and a CPU quota of
// its cgroup (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us, the
// smallest along the path to the hierarchy's root). The service thread
// busy-polls only when two CPUs are there for it and the JS thread.
#pragma once
#include <string>

namespace nlws {

struct CpuBudget {
  int affinity = 1;    // CPUs in the affinity mask
  double quota = 0;    // cgroup quota in CPUs (quota / period); 0: none
  // Spinning steals the JS thread's CPU unless there are two: a mask of one
  // CPU, or a quota below two CPUs, counts as one.
  bool SpinAllowed() const { return affinity >= 2 && (quota == 0 || quota >= 2); }
};

// `root` prefixes every file read (/proc/self/cgroup, /proc/self/mountinfo
// and the cgroup files): "" on a live system, a directory laid out like one
// in tests. `affinity` < 0: the calling thread's mask (what threads it
// starts inherit).
CpuBudget ReadCpuBudget(const std::string& root = "", int affinity = -1);

}  // namespace nlws
