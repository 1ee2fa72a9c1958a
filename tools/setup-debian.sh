#!/usr/bin/env bash
# tools/setup-debian.sh — installs what modref's builds need on Debian 12 and fetches the two
# dependency sources that Debian ships only for Linux (Abseil, Google Benchmark) so that the
# MinGW-w64 build can compile them. Idempotent: a second run only checks.
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

packages=(cmake ninja-build g++ clang-format git
          g++-mingw-w64-x86-64-posix mingw-w64-tools wine64
          libmsgsl-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev googletest
          clang-16 clang-tidy-16 libclang-16-dev llvm-16-dev python3)  # last line: clang-tidy plugin
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
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
    apt-get update -qq
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
