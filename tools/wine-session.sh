# shellcheck shell=bash
# tools/wine-session.sh — sourced by the test and demo scripts. Boots one persistent wineserver per
# Wine prefix, detached from every pipe (Wine's service processes inherit and keep file
# descriptors: booted inside a pipe, they keep it open and the reader waits for ever), and stops
# only the servers it started, when the shell that sourced it exits (or on modref_wine_stop).
#
#   modref_wine_start                 the default 64-bit prefix: $WINEPREFIX, else .deps/wineprefix;
#                                     exports WINEPREFIX, WINEARCH, WINEDEBUG and WINEDLLOVERRIDES
#   modref_wine_start build/<preset>  the prefix, architecture and loader that build's tests use
#                                     (<build>/modref-wine.env, written by cmake/modrefTesting.cmake);
#                                     exports only WINEDEBUG and WINEDLLOVERRIDES, so several builds'
#                                     servers can run side by side
#
# Each Windows preset names its own prefix (CMakePresets.json, MODREF_WINEPREFIX), so each leg
# gets its own wineserver. A 32-bit build (windows-mingw-x86) needs a win32 prefix: a prefix is
# made for one architecture when it is first booted and cannot change, so the function refuses a
# prefix of the other architecture with a clear message.
modref_wine_started=()

modref_wine_start() {
  local build=${1:-} prefix arch loader
  if [ -n "$build" ]; then
    local env_file="$build/modref-wine.env"
    if [ ! -r "$env_file" ]; then
      echo "modref_wine_start: no $env_file (configure that Windows build first)" >&2
      return 1
    fi
    prefix=$(sed -n 's/^prefix=//p' "$env_file")
    arch=$(sed -n 's/^arch=//p' "$env_file")
    loader=$(sed -n 's/^loader=//p' "$env_file")
  else
    export WINEPREFIX=${WINEPREFIX:-$repo_root/.deps/wineprefix}
    export WINEARCH=win64
    prefix=$WINEPREFIX arch=win64 loader=/usr/lib/wine/wine64
  fi
  export WINEDEBUG=-all
  export WINEDLLOVERRIDES=winedbg.exe=d
  if [ ! -x "$loader" ]; then
    echo "modref_wine_start: Wine loader $loader not found (tools/setup-debian.sh installs it)" >&2
    return 1
  fi
  # system.reg records the architecture the prefix was made for ("#arch=win32" or "#arch=win64").
  if [ -f "$prefix/system.reg" ] && ! grep -q "^#arch=$arch\$" "$prefix/system.reg"; then
    echo "modref_wine_start: $prefix was made for $(sed -n 's/^#arch=//p' "$prefix/system.reg")," \
      "this build needs $arch: remove that folder (it is only a test prefix) and run again" >&2
    return 1
  fi
  mkdir -p "$prefix"
  local wineserver
  wineserver=$(command -v wineserver || echo /usr/lib/wine/wineserver64)
  [ -x "$wineserver" ] || wineserver=/usr/lib/wine/wineserver
  MODREF_WINESERVER=$wineserver
  WINEPREFIX=$prefix WINEARCH=$arch "$wineserver" -p </dev/null >/dev/null 2>&1 || true
  WINEPREFIX=$prefix WINEARCH=$arch "$loader" wineboot -i </dev/null >/dev/null 2>&1 || true
  modref_wine_started+=("$prefix")
  trap modref_wine_stop EXIT
}

# Stops the servers this shell started (and only those), each in its own prefix.
modref_wine_stop() {
  local prefix
  for prefix in "${modref_wine_started[@]}"; do
    WINEPREFIX=$prefix "$MODREF_WINESERVER" -k </dev/null >/dev/null 2>&1 || true
  done
  modref_wine_started=()
}
