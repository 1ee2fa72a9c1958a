#!/usr/bin/env bash
# tools/test.sh — the README's test command. Installs what is missing (Debian, as root), builds
# every preset CI runs and runs all their tests: windows-mingw (MinGW-w64 cross build, tests under
# Wine 8), linux, linux-asan (ASan + UBSan) and linux-tsan. Also checks formatting. Idempotent: a
# second run only rebuilds what changed. Exits non-zero when anything failed.
#
#   MODREF_PRESETS="linux windows-mingw" tools/test.sh   # a subset
set -uo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"
say() { printf '\n==> %s\n' "$*"; }

bash tools/setup-debian.sh || exit 1
# shellcheck source=tools/wine-session.sh
. tools/wine-session.sh

presets=${MODREF_PRESETS:-windows-mingw linux linux-asan linux-tsan}
failed=()
total_passed=0
total_failed=0

say "format check (clang-format, .clang-format at the root)"
mapfile -t sources < <(git ls-files '*.h' '*.cc' '*.cpp' 2>/dev/null)
if [ ${#sources[@]} -gt 0 ] && ! clang-format --dry-run --Werror "${sources[@]}" 2>/tmp/modref-format.log; then
  head -n 40 /tmp/modref-format.log
  echo "formatting differs from .clang-format: run  clang-format -i \$(git ls-files '*.h' '*.cc')"
  failed+=("format")
fi

for preset in $presets; do
  say "configure + build: $preset"
  if ! cmake --preset "$preset" >"build-$preset.configure.log" 2>&1; then
    tail -n 30 "build-$preset.configure.log"; failed+=("$preset:configure"); continue
  fi
  rm -f "build-$preset.configure.log"
  if ! cmake --build --preset "$preset"; then failed+=("$preset:build"); continue; fi
done

case " $presets " in *" windows-mingw "*) say "booting Wine (detached from pipes)"; modref_wine_start ;; esac

for preset in $presets; do
  [ -d "build/$preset" ] || continue
  case " ${failed[*]-} " in *" $preset:"*) continue ;; esac
  say "test: $preset"
  log="build/$preset/ctest-summary.log"
  ctest --preset "$preset" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    out_of=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
    nfail=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
    total_passed=$((total_passed + out_of - nfail))
    total_failed=$((total_failed + nfail))
  fi
  [ "$status" = 0 ] || failed+=("$preset:test")
  # The race lab's table is the evidence of what modref is for: show it even when it passed (ctest
  # prints a test's output only when it fails).
  lastlog="build/$preset/Testing/Temporary/LastTest.log"
  if [ "$status" = 0 ] && [ -f "$lastlog" ] && grep -q '^race lab:' "$lastlog"; then
    say "race lab table ($preset)"
    sed -n '/^#   scenario/,/^race lab:/p' "$lastlog"
  fi
done

# The modref-* clang-tidy plugin: a native build of its own (not a preset), its tests and its
# race-lab table. Self-contained; MODREF_TIDY_PLUGIN=0 skips it.
if [ "${MODREF_TIDY_PLUGIN:-1}" != 0 ]; then
  if bash tools/test-tidy-plugin.sh; then :; else failed+=("tidy-plugin"); fi
fi

say "summary over presets: $presets"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
fi
echo "total: $total_passed passed, $total_failed failed"
[ ${#failed[@]} -eq 0 ]
