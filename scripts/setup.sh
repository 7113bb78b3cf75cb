#!/usr/bin/env bash
# Fresh machine setup (Debian/Ubuntu, as root or with sudo): the packages the
# native build needs, and Python's websockets (a second server
# implementation the tests run), then `npm ci` (which builds lws and the addon).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
# faketime: libfaketime, which test/clock.test.ts uses to step a client's wall clock.
for p in libssl-dev zlib1g-dev openssl iproute2 ca-certificates cmake g++ make python3 python3-websockets faketime; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ "${CI:-}" = "true" ]; then
  npm ci --no-audit --no-fund
fi
