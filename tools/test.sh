#!/usr/bin/env bash
# tools/test.sh — the README's test command (and all that .ci/run does). Installs what is missing
# (Debian, as root), then builds every CI leg and runs its tests. Idempotent: a second run only
# rebuilds what changed. Exits non-zero when anything failed. Prints each leg's build and test
# time, and the total.
#
#   MODREF_LEGS="format windows-mingw-x86" tools/test.sh   # a subset (MODREF_PRESETS also works)
#
# How it spends a 2-core machine: the legs are built one after the other, each with every core. The
# test suites run in three lanes, side by side: the 64-bit Windows legs one after the other in the
# "wine" lane, the 32-bit one in the "wine32" lane, and the Linux legs one after the other in the
# "native" lane. A Wine suite keeps about half a core busy (windows-mingw alone, quiet: 200 s of CPU
# in 410 s), so two of them fit beside each other; each race lab's stress loop keeps every core busy
# on purpose and takes longer when another runs beside it, which is what it is for. A leg's tests
# start as soon as its own build is done (and the lane's earlier legs are tested), while the next
# legs build: Wine tests spend much of their time waiting (process start-up through wineserver,
# events, pool wake-ups), and the builds fill those gaps. MODREF_OVERLAP=0 waits for every build
# before any test, as before. A Windows leg's tests run in a Wine prefix of its own with its own
# wineserver (tools/wine-session.sh), stopped when its tests end. Each leg's output goes to
# build/<leg>/ctest.log and is printed, in leg order, after the builds, once that leg is done, so
# legs never interleave their output.
set -uo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root" || exit 1
say() { printf '\n==> %s\n' "$*"; }
now() { date +%s; }
script_start=$(now)

# The legs, in build order. One line each: <name> <lane>
#   name  a preset of CMakePresets.json (configured with `cmake --preset`, built with
#         `cmake --build --preset`), or a step of this script: a shell function build_<name>
#         below, run instead of the preset's configure and build (see build_format).
#   lane  the test lane its tests run in (wine, wine32 or native; the legs of one lane run one
#         after the other, in this order): `ctest --preset <name>`, or for a step the function
#         test_<name> if there is one; -: nothing to run after the build.
legs=(
  "format                 -"       # clang-format check of every tracked .h/.cc/.cpp
  "windows-mingw          wine"    # MinGW-w64 GCC 12, x86_64: the whole Windows suite under wine64
  "windows-mingw-x86      wine32"  # MinGW-w64 GCC 12, i686: the whole Windows suite under 32-bit Wine
  "windows-clang          wine"    # clang 16 + lld 16, x86_64 MinGW sysroot: the whole suite under wine64
  "windows-arm64-headers  -"       # clang 16, aarch64-w64-mingw32: every header compiled; nothing links
  "tidy-plugin            native"  # the modref-* clang-tidy plugin: its check tests and race-lab table
  "linux-tsan             native"  # GCC 12 + TSan: the portable parts, Linux .so tests, race lab
  "linux-asan             native"  # GCC 12 + ASan/UBSan: the same
  "linux                  native"  # GCC 12: the same; the Linux race lab's 2000-cycle stress loop
)
# The order is the critical path's: the native lane tests its legs in this order, so the leg with
# the longest native tests (tidy-plugin, about 70 s) is built first among them and tested while
# the Linux legs build; the last leg built (linux) has about 25 s of tests after the last build.

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

# The clang-tidy plugin is a native CMake project of its own (clang-tidy-plugin/, not a preset):
# tools/test-tidy-plugin.sh builds it, then runs its tests and prints its race-lab table.
build_tidy-plugin() { bash tools/test-tidy-plugin.sh build; }
test_tidy-plugin() { bash tools/test-tidy-plugin.sh test; }

selected=${MODREF_LEGS:-${MODREF_PRESETS:-}}

bash tools/setup-debian.sh || exit 1
# shellcheck source=tools/wine-session.sh
. tools/wine-session.sh
mkdir -p build

names=()
declare -A lane_of=() build_seconds=() test_seconds=() result=()
for line in "${legs[@]}"; do
  read -r name lane <<<"$line"
  if [ -n "$selected" ] && [[ " $selected " != *" $name "* ]]; then continue; fi
  names+=("$name")
  lane_of[$name]=$lane
done
if [ -n "$selected" ]; then
  for name in $selected; do
    [[ " ${names[*]} " == *" $name "* ]] || { echo "unknown leg: $name (legs: see tools/test.sh)"; exit 2; }
  done
fi

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
  echo "$status $(($(now) - start)) $((out_of - nfail)) $nfail" >"$dir/ctest.outcome.new"
  mv "$dir/ctest.outcome.new" "$dir/ctest.outcome"
}

report_leg_tests() {
  local name=$1 dir="build/$1" status seconds passed nfail lastlog
  say "test: $name"
  cat "$dir/ctest.log"
  read -r status seconds passed nfail <"$dir/ctest.outcome"
  [ "$status" = skipped ] && return  # its build failed: nothing was tested
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

# The lanes' queues: the legs with tests, in build order. Each lane starts now (or after the build
# phase with MODREF_OVERLAP=0) and tests its legs one after the other, each once its build has
# written build/<leg>.build-outcome ("ok" or why not).
queue=()
lanes=()
for name in "${names[@]}"; do
  rm -f "build/$name.build-outcome" "build/$name/ctest.outcome"  # none left from a last run
  [ "${lane_of[$name]}" = - ] && continue
  queue+=("$name")
  [[ " ${lanes[*]-} " == *" ${lane_of[$name]} "* ]] || lanes+=("${lane_of[$name]}")
done
overlap=${MODREF_OVERLAP:-1}
lane_pids=()
start_lanes() {
  local lane
  for lane in "${lanes[@]}"; do
    (
      for name in "${queue[@]}"; do
        [ "${lane_of[$name]}" = "$lane" ] || continue
        until [ -f "build/$name.build-outcome" ]; do
          kill -0 "$script_pid" 2>/dev/null || exit 1  # the script itself was stopped
          sleep 2
        done
        if [ "$(cat "build/$name.build-outcome")" = ok ]; then
          run_leg_tests "$name"
        else
          mkdir -p "build/$name"
          echo "not tested: $(cat "build/$name.build-outcome")" >"build/$name/ctest.log"
          echo "skipped 0 0 0" >"build/$name/ctest.outcome"
        fi
      done
    ) &
    lane_pids+=($!)
  done
}
script_pid=$$

# Build phase: one leg at a time, each with every core.
[ "$overlap" = 0 ] || start_lanes
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
  echo "${result[$name]}" >"build/$name.build-outcome"
  echo "$name: build phase ${build_seconds[$name]} s"
done

# Test phase: the lanes (started above, or now) run side by side, each its legs one after the other.
[ "$overlap" != 0 ] || start_lanes
total_passed=0
total_failed=0
for lane in "${lanes[@]}"; do
  say "lane $lane: tests of $(for n in "${queue[@]}"; do [ "${lane_of[$n]}" = "$lane" ] && printf '%s ' "$n"; done)"
done
for name in "${queue[@]}"; do  # reported in leg order, each once it is done
  until [ -f "build/$name/ctest.outcome" ]; do
    sleep 2
    alive=no
    for pid in "${lane_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=yes; done
    if [ "$alive" = no ] && [ ! -f "build/$name/ctest.outcome" ]; then
      echo "1 0 0 0" >"build/$name/ctest.outcome"  # its lane ended without an outcome
    fi
  done
  report_leg_tests "$name"
done
wait

say "summary"
printf '%-24s %9s %9s  %s\n' leg "build s" "tests s" result
failed=0
for name in "${names[@]}"; do
  printf '%-24s %9s %9s  %s\n' "$name" "${build_seconds[$name]}" "${test_seconds[$name]:--}" "${result[$name]}"
  [ "${result[$name]}" = ok ] || failed=1
done
echo "tests: $total_passed passed, $total_failed failed; total $(($(now) - script_start)) s"
[ "$failed" = 0 ]
