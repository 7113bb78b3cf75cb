#!/usr/bin/env bash
# The whole vitest suite against the AddressSanitizer + UndefinedBehaviorSanitizer
# build of the addon (CMake option NLWS_SANITIZE, built into build-sanitize/).
# Fails when a test fails or when any process of the run (the test workers
# and every child they spawn, which inherit this environment) wrote a
# sanitizer report. Arguments go to vitest (e.g. a test file while iterating).
#
# Node is not instrumented, so the ASan runtime is preloaded into it;
# our native/ code is instrumented, lws/OpenSSL/zlib are not (their memory
# goes through the intercepted malloc, so LeakSanitizer still sees it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$root/build-sanitize
started=$(date +%s)

flock /tmp/nlws-build.lock node scripts/build-native.js --sanitize
flock /tmp/nlws-build.lock node scripts/build-ts.js

# UBSan's runtime is linked into the addon (CMakeLists.txt says why).
asan=$(g++ -print-file-name=libasan.so)
[[ -f $asan ]] || { echo "test-sanitize: $asan not found (gcc's ASan runtime)" >&2; exit 2; }
# One directory per run: runs at the same time (several people, one tree)
# do not count or delete each other's reports.
reports=$(mktemp -d "$out/reports.XXXXXX")
results=$reports/test-results.json

export NLWS_ADDON_PATH=$out/Release/node_libwebsockets.node
export LD_PRELOAD=$asan
# verify_asan_link_order=0: the runtime is preloaded, not linked into node.
# Reports go to files (<dir>/asan.<exe>.<pid>), so those of child processes
# whose stderr a test swallows are counted too. exitcode=0: a leak report
# leaves the exit status alone (the reports are counted below), since every
# program the tests run (ip, tc, openssl, sh, python) gets the runtime too
# and some leak at exit; abort_on_error=1: a memory error still kills its
# process. allow_user_segv_handler=0: node replaces the SIGSEGV handler (for
# WebAssembly traps, which the suite does not rely on) and a segfault would
# kill the process without a report. quarantine_size_mb=16: freed memory
# waits in a quarantine before reuse, to catch use after free; at the default
# 256 MiB its filling up would dominate the RSS growth that the soak and fuzz
# tests bound, while 16 MiB still holds many thousands of freed blocks.
# NLWS_ASAN_OPTIONS, if set, is appended (by-hand experiments).
export ASAN_OPTIONS=detect_leaks=1:exitcode=0:halt_on_error=1:abort_on_error=1:allow_user_segv_handler=0:quarantine_size_mb=16:verify_asan_link_order=0:log_exe_name=1:log_path=$reports/asan${NLWS_ASAN_OPTIONS:+:$NLWS_ASAN_OPTIONS}
export LSAN_OPTIONS=suppressions=$root/test/sanitizers/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_exe_name=1:log_path=$reports/ubsan

set +e
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@"
status=$?
set -e
unset LD_PRELOAD ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS NLWS_ADDON_PATH

# Only node runs our addon: reports from the other programs are listed, not counted.
found=$(find "$reports" -type f -name '*.node.*' | sort)
others=$(find "$reports" -type f ! -name '*.node.*' ! -name test-results.json | sort)
for f in $others; do
  echo "test-sanitize: not counted (not a node process): $f: $(grep -m1 SUMMARY "$f" || true)" >&2
done
if [[ -n $found ]]; then
  echo "test-sanitize: sanitizer reports:" >&2
  for f in $found; do
    echo "--- $f" >&2
    cat "$f" >&2
  done
  status=1
fi
node -e '
const r = require(process.argv[1]);
console.log(`test-sanitize: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped, in ${process.argv[2]} s; ${process.argv[3]} sanitizer report(s)`);
if (r.numFailedTests > 0 || r.numPassedTests === 0) process.exitCode = 1;
' "$results" "$(( $(date +%s) - started ))" "$(printf '%s' "$found" | grep -c . || true)" || status=1
if [[ $status -eq 0 ]]; then
  rm -rf "$reports"
else
  echo "test-sanitize: reports and results kept in $reports"
fi
exit "$status"
