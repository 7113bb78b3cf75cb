#include "cpu_budget.h"

#include <sched.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace nlws {

namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : s) {
    if (ch == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

bool HasToken(const std::string& list, const std::string& token) {
  for (auto& t : Split(list, ',')) {
    if (t == token) return true;
  }
  return false;
}

// A cgroup hierarchy: where it is mounted, the cgroup path the mount's root
// stands for, and this process's cgroup in it.
struct Hierarchy {
  std::string mountPoint;
  std::string mountRoot;
  std::string path;
  bool found() const { return !mountPoint.empty() && !path.empty(); }
};

// /proc/self/mountinfo: "id parent maj:min root mountpoint opts [tags] - fstype source superopts".
void FindMounts(const std::string& mountinfo, Hierarchy* v2, Hierarchy* v1) {
  std::istringstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, dev, root, mountPoint;
    if (!(head >> id >> parent >> dev >> root >> mountPoint)) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype, source, superOpts;
    if (!(tail >> fstype >> source >> superOpts)) continue;
    if (fstype == "cgroup2" && v2->mountPoint.empty()) {
      v2->mountPoint = mountPoint;
      v2->mountRoot = root;
    } else if (fstype == "cgroup" && HasToken(superOpts, "cpu") && v1->mountPoint.empty()) {
      v1->mountPoint = mountPoint;
      v1->mountRoot = root;
    }
  }
}

// /proc/self/cgroup: "0::/path" (v2), "N:ctrl,ctrl:/path" (v1).
void FindPaths(const std::string& cgroup, Hierarchy* v2, Hierarchy* v1) {
  std::istringstream in(cgroup);
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) {
      v2->path = path;
    } else if (HasToken(controllers, "cpu")) {
      v1->path = path;
    }
  }
}

// The directories from the process's cgroup up to the mounted root.
std::vector<std::string> Levels(const std::string& root, const Hierarchy& h) {
  std::string rel = h.path;
  // Inside a cgroup namespace or a bind mount, the mount shows the part of
  // the tree below its own root.
  if (h.mountRoot != "/" && rel.compare(0, h.mountRoot.size(), h.mountRoot) == 0) rel = rel.substr(h.mountRoot.size());
  std::vector<std::string> out;
  std::string base = root + h.mountPoint;
  for (;;) {
    while (rel.size() > 1 && rel.back() == '/') rel.pop_back();
    out.push_back(rel.empty() || rel == "/" ? base : base + rel);
    if (rel.empty() || rel == "/") break;
    size_t slash = rel.rfind('/');
    rel = slash == std::string::npos ? "" : rel.substr(0, slash);
  }
  return out;
}

double Min(double a, double b) { return a == 0 ? b : (b == 0 ? a : (a < b ? a : b)); }

// v2 cpu.max: "max 100000" (no quota) or "<quota> <period>".
double QuotaV2(const std::string& dir) {
  std::string text;
  if (!ReadFile(dir + "/cpu.max", &text)) return 0;
  std::istringstream in(text);
  std::string quota, period;
  if (!(in >> quota >> period) || quota == "max") return 0;
  double q = atof(quota.c_str()), p = atof(period.c_str());
  return q > 0 && p > 0 ? q / p : 0;
}

// v1: cpu.cfs_quota_us is -1 without a quota.
double QuotaV1(const std::string& dir) {
  std::string q, p;
  if (!ReadFile(dir + "/cpu.cfs_quota_us", &q) || !ReadFile(dir + "/cpu.cfs_period_us", &p)) return 0;
  double quota = atof(q.c_str()), period = atof(p.c_str());
  return quota > 0 && period > 0 ? quota / period : 0;
}

}  // namespace

CpuBudget ReadCpuBudget(const std::string& root, int affinity) {
  CpuBudget b;
  if (affinity >= 0) {
    b.affinity = affinity;
  } else {
    cpu_set_t set;
    CPU_ZERO(&set);
    b.affinity = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  }
  std::string mountinfo, cgroup;
  if (!ReadFile(root + "/proc/self/mountinfo", &mountinfo) || !ReadFile(root + "/proc/self/cgroup", &cgroup))
    return b;
  Hierarchy v2, v1;
  FindMounts(mountinfo, &v2, &v1);
  FindPaths(cgroup, &v2, &v1);
  // A hybrid system may have both: each quota applies.
  if (v2.found()) {
    for (auto& dir : Levels(root, v2)) b.quota = Min(b.quota, QuotaV2(dir));
  }
  if (v1.found()) {
    for (auto& dir : Levels(root, v1)) b.quota = Min(b.quota, QuotaV1(dir));
  }
  return b;
}

}  // namespace nlws
