#!/usr/bin/env bash
# Build the pinned lws as a static, PIC, client-only library into
# deps/lws/<version>/install. A second run with the same pin and flags is a
# no-op (stamp file), so `npm install` does not rebuild lws.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lws.env"
root="$here/lws/$LWS_VERSION"
prefix="$root/install"
# Sanitizer builds of the addon want lws built with the same flags.
extra_cflags="${LWS_EXTRA_CFLAGS:-}"
flags=(
  -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_INSTALL_PREFIX="$prefix"
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DCMAKE_C_FLAGS="-fvisibility=hidden $extra_cflags"
  -DLWS_WITH_SHARED=OFF -DLWS_WITH_STATIC=ON -DLWS_STATIC_PIC=ON
  -DLWS_WITHOUT_SERVER=ON -DLWS_WITHOUT_TESTAPPS=ON -DLWS_WITH_MINIMAL_EXAMPLES=OFF
  -DLWS_WITH_HTTP2=OFF -DLWS_WITH_LIBCAP=OFF -DLWS_WITH_SECURE_STREAMS=OFF
  -DLWS_WITHOUT_EXTENSIONS=OFF -DLWS_WITH_ZLIB=ON -DLWS_WITH_BUNDLED_ZLIB=OFF
  -DLWS_IPV6=ON -DLWS_CLIENT_HTTP_PROXYING=ON
  -DLWS_WITH_SYS_SMD=OFF -DLWS_WITH_SYS_STATE=ON -DLWS_WITH_NETLINK=OFF
  -DLWS_WITH_CACHE_NSCOOKIEJAR=OFF -DLWS_WITH_CONMON=OFF
  -DLWS_WITH_OPENSSL=ON -DOPENSSL_USE_STATIC_LIBS=ON -DZLIB_USE_STATIC_LIBS=ON
  # Resumes TLS sessions (tickets, session IDs) per vhost, host and port:
  # a reconnect over wss costs an abbreviated handshake.
  -DLWS_WITH_TLS_SESSIONS=ON -DDISABLE_WERROR=ON
  # Not for the thread pool (unused): without it lws formats every log line
  # in one static buffer ("incompatible with multithreaded logging", says
  # lws), and each environment (main thread, workers) has a service thread
  # of its own that logs. ThreadSanitizer found it (scripts/test-tsan.sh).
  -DLWS_WITH_THREADPOOL=ON
)
stamp="$prefix/.stamp"
# Our change to lws's source (see patch-lws.py) is part of what was built.
patch_sum=$(sha256sum "$here/patch-lws.py" | cut -d' ' -f1)
want="$LWS_SHA256 $patch_sum ${flags[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$prefix/lib/libwebsockets.a" ]; then
  echo "lws $LWS_VERSION already built in $prefix"
  exit 0
fi
for f in /usr/lib/x86_64-linux-gnu/libssl.a /usr/include/zlib.h; do
  [ -e "$f" ] || [ "$(uname -m)" != x86_64 ] || { echo "missing $f: install libssl-dev and zlib1g-dev" >&2; exit 1; }
done
bash "$here/fetch-lws.sh"
rm -rf "$root/src" "$root/build" "$prefix"
mkdir -p "$root/src" "$root/build"
tar xzf "$here/download/libwebsockets-$LWS_VERSION.tar.gz" -C "$root/src" --strip-components=1
python3 "$here/patch-lws.py" "$root/src"
cmake -S "$root/src" -B "$root/build" "${flags[@]}" > "$root/configure.log" 2>&1 || { tail -50 "$root/configure.log"; exit 1; }
cmake --build "$root/build" -j"$(nproc)" > "$root/build.log" 2>&1 || { tail -50 "$root/build.log"; exit 1; }
cmake --install "$root/build" > /dev/null
echo "$want" > "$stamp"
echo "lws $LWS_VERSION built in $prefix"
