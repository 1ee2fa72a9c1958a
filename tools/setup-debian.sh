#!/usr/bin/env bash
# tools/setup-debian.sh — installs what modref's builds need on Debian 12 (MinGW-w64 GCC for x86_64 and
# i686, clang 16 + lld 16, 64- and 32-bit Wine, the Linux compilers and libraries) and fetches the
# two dependency sources that Debian ships only for Linux (Abseil, Google Benchmark) so that the
# Windows builds can compile them. Idempotent: a second run only checks.
#
# Everything comes from Debian's own package archive, found through the machine's apt
# configuration (no host names are written here).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps_dir=${MODREF_DEPS_DIR:-$repo_root/.deps}

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

command -v apt-get >/dev/null 2>&1 || die "this script needs a Debian/apt machine (apt-get not found)"
[ "$(id -u)" = 0 ] || die "run as root: packages are installed with apt-get"
if [ -r /etc/os-release ]; then
  . /etc/os-release
  [ "${ID:-}" = debian ] || say "warning: tested on Debian 12, this is ${PRETTY_NAME:-unknown}"
fi

# The x86_64 MinGW GCC, Wine 64-bit, the Linux toolchain and the dependencies' Linux packages.
packages=(cmake ninja-build g++ clang-format git
          g++-mingw-w64-x86-64-posix mingw-w64-tools wine64
          libmsgsl-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev googletest
          clang-tidy-16 libclang-16-dev llvm-16-dev python3)  # last line: the clang-tidy plugin
# windows-clang and windows-arm64-headers: clang 16 and lld 16 (/usr/bin/ld.lld is lld 14, which
# cannot link what clang 16 writes). windows-mingw-x86: the i686 MinGW GCC and 32-bit Wine. Installed
# without recommended packages: wine32:i386 recommends a desktop's worth of i386 libraries.
packages_no_recommends=(clang-16 lld-16 g++-mingw-w64-i686-posix wine32:i386)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
export DEBIAN_FRONTEND=noninteractive
apt_get() { apt-get -o DPkg::Lock::Timeout=900 "$@"; }

# wine32 is an i386 package: dpkg must accept that architecture. On Debian 12 the apt-get update
# that follows can make the install below upgrade several dozen amd64 packages (systemd, libssl3,
# zlib, glib, curl, ...) to the versions of their i386 copies, which must match.
updated=no
if ! dpkg --print-foreign-architectures | grep -qx i386; then
  say "enabling the i386 architecture (for wine32:i386, the 32-bit Wine)"
  dpkg --add-architecture i386
  apt_get update -qq
  updated=yes
fi

missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
missing_no_recommends=()
for p in "${packages_no_recommends[@]}"; do installed "$p" || missing_no_recommends+=("$p"); done
if [ ${#missing[@]} -gt 0 ] || [ ${#missing_no_recommends[@]} -gt 0 ]; then
  [ "$updated" = yes ] || apt_get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing: ${missing[*]}"
    apt_get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ${#missing_no_recommends[@]} -gt 0 ]; then
    say "installing (without recommends): ${missing_no_recommends[*]}"
    apt_get install -y -qq --no-install-recommends "${missing_no_recommends[@]}" >/dev/null
  fi
else
  say "all Debian packages present"
fi

# Source packages for the MinGW build: enable deb-src entries derived from the machine's own list.
fetch_source() {  # name, extracted-dir-glob
  local name=$1
  mkdir -p "$deps_dir/src"
  if ls -d "$deps_dir/src/$name"-*/ >/dev/null 2>&1; then
    say "$name source present"
    return
  fi
  if ! grep -qs '^Types: deb-src' /etc/apt/sources.list.d/*.sources; then
    local main=/etc/apt/sources.list.d/debian.sources
    [ -r "$main" ] || die "no $main to derive source entries from; fetch $name's source by hand into $deps_dir/src"
    sed 's/^Types: deb$/Types: deb-src/' "$main" > /etc/apt/sources.list.d/modref-deb-src.sources
    apt_get update -qq
  fi
  say "fetching $name source package"
  (cd "$deps_dir/src" && apt-get source --download-only "$name" >/dev/null 2>&1) ||
    die "apt-get source $name failed"
  local tarball
  tarball=$(ls "$deps_dir/src/${name}"_*.orig.tar.* | head -n 1)
  tar -C "$deps_dir/src" -xf "$tarball"
}
fetch_source abseil
fetch_source benchmark
say "dependencies ready in $deps_dir"
