#!/usr/bin/env bash
# ThreadSanitizer run of the native layer's threaded paths (command queue,
# event batch, mailbox, service thread with its lws context, shutdown):
# builds test/native/threads.cc with the native sources (all but the
# Node-API boundary) and -fsanitize=thread into build-tsan/, and runs it.
# TSan cannot be loaded into an uninstrumented node, hence a program of its
# own; it runs a second time built with ASan, UBSan and LeakSanitizer. lws, OpenSSL and zlib are linked as built (not instrumented); their
# locks are still seen, through TSan's pthread interceptors.
# Arguments: environments at once and rounds each (default 4 6).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$root/build-tsan
mkdir -p "$out"
flock /tmp/nlws-build.lock bash deps/build-lws.sh >/dev/null
lws=$(node scripts/lws-prefix.js)

# The addon's sources, from the one list, less the Node-API boundary.
mapfile -t sources < <(grep -o "'native/[^']*\.cc'" native/sources.gypi | tr -d "'" |
  grep -v '^native/js/')

build() {  # <output> <sanitizer flags...>
  local started output=$1
  shift
  started=$(date +%s)
  g++ -std=c++17 "$@" -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter \
    -I native -I "$lws/include" "${sources[@]}" test/native/threads.cc \
    "$lws/lib/libwebsockets.a" -l:libssl.a -l:libcrypto.a -l:libz.a -lpthread -ldl \
    -o "$output"
  echo "test-tsan: $(basename "$output") built in $(( $(date +%s) - started )) s"
}

build "$out/threads" -fsanitize=thread
# halt_on_error: the first race fails the run (exit code 66).
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4 ${TSAN_OPTIONS:-}" \
  "$out/threads" "$@"

# The same program under ASan, UBSan and LeakSanitizer: without Node in the
# process, a leak of the native layer or of lws at exit needs no suppression.
build "$out/threads-asan" -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}" UBSAN_OPTIONS="print_stacktrace=1 ${UBSAN_OPTIONS:-}" \
  "$out/threads-asan" "$@"
