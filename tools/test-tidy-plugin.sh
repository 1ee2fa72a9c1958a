#!/usr/bin/env bash
# tools/test-tidy-plugin.sh — builds the modref-* clang-tidy plugin (clang-tidy-plugin/, a separate
# native CMake project: see docs/design.md) with clang++-16 against Debian 12's LLVM 16, runs its
# tests (one positive and one negative file per check, exact diagnostics and lines) and prints the
# race-lab table (tools/tidy-racelab-table.py). Called by tools/test.sh; runs on its own too.
# Idempotent: a second run only rebuilds what changed. Exits non-zero when anything failed.
#
#   tools/test-tidy-plugin.sh [build|test|all]   # default all; needs tools/setup-debian.sh first
set -uo pipefail
what=${1:-all}

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${MODREF_TIDY_BUILD_DIR:-$repo_root/build/tidy-plugin}
say() { printf '\n==> %s\n' "$*"; }

for tool in clang++-16 clang-tidy-16 python3; do
  command -v "$tool" >/dev/null 2>&1 ||
    { echo "tidy plugin: $tool not found; run tools/setup-debian.sh (as root)"; exit 1; }
done

# Built as Release in unity batches of four sources: the plugin is seven translation units that
# each parse the clang AST headers, and nobody debugs CI's copy. Measured CPU time (user + sys),
# the same machine under load: RelWithDebInfo, one unit per source 136 s; Release 118 s; Release
# in batches of four 59 s (docs/testing.md, "Where the test command's time goes").
if [ "$what" != test ]; then
say "configure + build: clang-tidy plugin ($build_dir)"
mkdir -p "$(dirname "$build_dir")"
if ! cmake -S "$repo_root/clang-tidy-plugin" -B "$build_dir" -G Ninja \
    -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=4 >"$build_dir.configure.log" 2>&1; then
  tail -n 30 "$build_dir.configure.log"
  exit 1
fi
rm -f "$build_dir.configure.log"
cmake --build "$build_dir" || exit 1
fi
[ "$what" = build ] && exit 0

say "test: clang-tidy plugin (check tests and the race-lab table)"
ctest --test-dir "$build_dir" --output-on-failure -j "${MODREF_TIDY_JOBS:-2}"
status=$?
# ctest shows a test's output only when it fails: print the table, the evidence, in any case.
say "clang-tidy race-lab table"
log="$build_dir/Testing/Temporary/LastTest.log"
if [ -f "$log" ] && grep -q '^tidy race lab:' "$log"; then
  sed -n '/^modref-\* checks on /,/^tidy race lab:/p' "$log"
fi
exit $status
