#!/usr/bin/env bash
# Obtain the pinned lws tarball into deps/download/ and verify it.
# LWS_TARBALL=/path/to/libwebsockets_4.3.5.orig.tar.gz skips the network.
# Otherwise apt's source-package machinery finds it, with a private sources
# list and lists directory so the system's apt configuration is never touched.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lws.env"
dl="$here/download"
out="$dl/libwebsockets-$LWS_VERSION.tar.gz"
mkdir -p "$dl"

verify() { echo "$LWS_SHA256  $1" | sha256sum -c --quiet - ; }

if [ -f "$out" ] && verify "$out" 2>/dev/null; then
  exit 0
fi

if [ -n "${LWS_TARBALL:-}" ]; then
  verify "$LWS_TARBALL" || { echo "LWS_TARBALL $LWS_TARBALL does not match the pinned SHA-256" >&2; exit 1; }
  cp "$LWS_TARBALL" "$out.tmp" && mv "$out.tmp" "$out"
  exit 0
fi

apt_dir="$dl/apt"
rm -rf "$apt_dir"; mkdir -p "$apt_dir/lists/partial" "$apt_dir/parts"
# Reuse the mirror the machine already uses, so no host is written here.
uri=$(grep -m1 -E '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | awk '{print $2}')
if [ -z "$uri" ]; then
  uri=$(grep -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}')
fi
[ -n "$uri" ] || { echo "no Debian mirror found in the apt configuration; set LWS_TARBALL" >&2; exit 1; }
cat > "$apt_dir/parts/lws-src.sources" <<SRC
Types: deb-src
URIs: $uri
Suites: $LWS_DEBIAN_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/parts"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
apt-get -qq "${apt_opts[@]}" update
line=$(apt-get -qq "${apt_opts[@]}" source --print-uris "$LWS_DEBIAN_PACKAGE=$LWS_DEBIAN_VERSION" | grep -F '.orig.tar' | head -1)
[ -n "$line" ] || { echo "apt did not list the lws orig tarball" >&2; exit 1; }
tar_uri=$(echo "$line" | awk '{print $1}' | tr -d "'")
/usr/lib/apt/apt-helper download-file "$tar_uri" "$out.tmp" "SHA256:$LWS_SHA256"
verify "$out.tmp"
mv "$out.tmp" "$out"
rm -rf "$apt_dir"
