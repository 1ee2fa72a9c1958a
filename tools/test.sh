#!/usr/bin/env bash
# tools/test.sh — the README's test command (and all that .ci/run does). Installs what is missing
# (Debian, as root), then builds every CI leg and runs its tests. Idempotent: a second run only
# rebuilds what changed. Exits non-zero when anything failed. Prints each leg's build and test
# time, and the total.
#
#   MODREF_LEGS="format windows-mingw-x86" tools/test.sh   # a subset (MODREF_PRESETS also works)
#   MODREF_TEST_JOBS=1 tools/test.sh                       # one leg's tests at a time
#
# How it spends a 2-core machine: first every leg is built, one after the other, each with every
# core (a build left alone is the fastest use of the cores). Then the legs' test suites run, up to
# MODREF_TEST_JOBS (default 2) at once, the longest first. A Windows leg's tests run in a Wine
# prefix of its own with its own wineserver (tools/wine-session.sh), which only that leg uses and
# which is stopped when its tests end; its output goes to build/<leg>/ctest.log and is printed when
# the leg is done, so legs never interleave their output.
set -uo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root" || exit 1
say() { printf '\n==> %s\n' "$*"; }
now() { date +%s; }
script_start=$(now)

# The legs, in build order. One line each: <name> <tests>
#   name   a preset of CMakePresets.json (configured with `cmake --preset`, built with
#          `cmake --build --preset`), or a step of this script: a shell function build_<name>
#          below, run instead of the preset's configure and build (see build_format).
#   tests  ctest: then `ctest --preset <name>` in the test phase (for a step: the function
#          test_<name>, run in the test phase); -: nothing to run after the build.
legs=(
  "format                 -"      # clang-format check of every tracked .h/.cc/.cpp
  "windows-mingw          ctest"  # MinGW-w64 GCC 12, x86_64: the whole Windows suite under wine64
  "windows-mingw-x86      ctest"  # MinGW-w64 GCC 12, i686: the whole Windows suite under 32-bit Wine
  "windows-clang          ctest"  # clang 16 + lld 16, x86_64 MinGW sysroot: the whole suite under wine64
  "windows-arm64-headers  -"      # clang 16, aarch64-w64-mingw32: every header compiled; nothing links
  "linux                  ctest"  # GCC 12: the portable parts
  "linux-asan             ctest"  # GCC 12 + ASan/UBSan: the portable parts
  "linux-tsan             ctest"  # GCC 12 + TSan: the portable parts
)
# The test phase starts the legs in this order (longest first), whatever their build order.
test_order="windows-mingw windows-mingw-x86 windows-clang linux-tsan linux-asan linux"

build_format() {
  local sources
  mapfile -t sources < <(git ls-files '*.h' '*.cc' '*.cpp' 2>/dev/null)
  [ ${#sources[@]} -gt 0 ] || return 0
  if ! clang-format --dry-run --Werror "${sources[@]}" 2>build/format.log; then
    head -n 40 build/format.log
    echo "formatting differs from .clang-format: run  clang-format -i \$(git ls-files '*.h' '*.cc')"
    return 1
  fi
}

selected=${MODREF_LEGS:-${MODREF_PRESETS:-}}
jobs=${MODREF_TEST_JOBS:-2}

bash tools/setup-debian.sh || exit 1
# shellcheck source=tools/wine-session.sh
. tools/wine-session.sh
mkdir -p build

names=()
declare -A has_tests=() build_seconds=() test_seconds=() result=()
for line in "${legs[@]}"; do
  read -r name tests <<<"$line"
  if [ -n "$selected" ] && [[ " $selected " != *" $name "* ]]; then continue; fi
  names+=("$name")
  has_tests[$name]=$tests
done
if [ -n "$selected" ]; then
  for name in $selected; do
    [[ " ${names[*]} " == *" $name "* ]] || { echo "unknown leg: $name (legs: see tools/test.sh)"; exit 2; }
  done
fi

# Build phase: one leg at a time, each with every core.
for name in "${names[@]}"; do
  start=$(now)
  if declare -F "build_$name" >/dev/null; then
    say "step: $name"
    if "build_$name"; then result[$name]=ok; else result[$name]="FAILED (build)"; fi
  else
    say "configure + build: $name"
    log="build/$name.configure.log"
    if ! cmake --preset "$name" >"$log" 2>&1; then
      tail -n 30 "$log"
      result[$name]="FAILED (configure)"
    elif rm -f "$log" && ! cmake --build --preset "$name"; then
      result[$name]="FAILED (build)"
    else
      result[$name]=ok
    fi
  fi
  build_seconds[$name]=$(($(now) - start))
  echo "$name: build phase ${build_seconds[$name]} s"
done

# One leg's tests, run in the background: output to build/<leg>/ctest.log, outcome to
# build/<leg>/ctest.outcome ("<exit status> <seconds> <passed> <failed>").
run_leg_tests() {
  local name=$1 dir="build/$1" start status line out_of=0 nfail=0
  start=$(now)
  mkdir -p "$dir"
  rm -f "$dir/ctest.outcome"
  {
    if declare -F "test_$name" >/dev/null; then
      "test_$name"
    elif [ -f "$dir/modref-wine.env" ] && ! modref_wine_start "$dir"; then
      false
    else
      ctest --preset "$name"
    fi
  } >"$dir/ctest.log" 2>&1 </dev/null
  status=$?
  modref_wine_stop
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$dir/ctest.log" | tail -n 1)
  if [ -n "$line" ]; then
    out_of=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
    nfail=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  fi
  echo "$status $(($(now) - start)) $((out_of - nfail)) $nfail" >"$dir/ctest.outcome"
}

report_leg_tests() {
  local name=$1 dir="build/$1" status seconds passed nfail lastlog
  say "test: $name"
  cat "$dir/ctest.log"
  read -r status seconds passed nfail <"$dir/ctest.outcome"
  test_seconds[$name]=$seconds
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + nfail))
  [ "$status" = 0 ] || result[$name]="FAILED (tests)"
  # The race lab's table is the evidence of what modref is for: show it even when it passed
  # (ctest prints a test's output only when it fails).
  lastlog="$dir/Testing/Temporary/LastTest.log"
  if [ "$status" = 0 ] && [ -f "$lastlog" ] && grep -q '^race lab:' "$lastlog"; then
    say "race lab table ($name)"
    sed -n '/^#   scenario/,/^race lab:/p' "$lastlog"
  fi
  echo "$name: tests ${seconds} s"
}

# Test phase: up to $jobs legs at once, longest first.
total_passed=0
total_failed=0
queue=()
for name in $test_order "${names[@]}"; do
  [[ " ${names[*]} " == *" $name "* ]] || continue
  [[ " ${queue[*]-} " == *" $name "* ]] && continue
  [ "${has_tests[$name]}" = - ] && continue
  [ "${result[$name]}" = ok ] || continue
  queue+=("$name")
done
[ ${#queue[@]} -gt 0 ] && say "tests of ${queue[*]} ($jobs at a time; each leg's output follows when it is done)"
declare -A running=()
for name in "${queue[@]}"; do
  while [ ${#running[@]} -ge "$jobs" ]; do
    wait -n -p done_pid
    report_leg_tests "${running[$done_pid]}"
    unset "running[$done_pid]"
  done
  run_leg_tests "$name" &
  running[$!]=$name
done
while [ ${#running[@]} -gt 0 ]; do
  wait -n -p done_pid
  report_leg_tests "${running[$done_pid]}"
  unset "running[$done_pid]"
done

say "summary"
printf '%-24s %9s %9s  %s\n' leg "build s" "tests s" result
failed=0
for name in "${names[@]}"; do
  printf '%-24s %9s %9s  %s\n' "$name" "${build_seconds[$name]}" "${test_seconds[$name]:--}" "${result[$name]}"
  [ "${result[$name]}" = ok ] || failed=1
done
echo "tests: $total_passed passed, $total_failed failed; total $(($(now) - script_start)) s" \
  "(test phase: $jobs legs at a time)"
[ "$failed" = 0 ]
