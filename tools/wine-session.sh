# tools/wine-session.sh — sourced by the test and demo scripts. Boots one persistent wineserver for
# the project's Wine prefix, detached from every pipe (Wine's service processes inherit and keep
# file descriptors: booted inside a pipe, they keep it open and the reader waits for ever), and
# stops only that server on exit.
modref_wine_start() {
  export WINEPREFIX=${WINEPREFIX:-$repo_root/.deps/wineprefix}
  export WINEDEBUG=-all
  export WINEDLLOVERRIDES=winedbg.exe=d
  export WINEARCH=win64
  mkdir -p "$WINEPREFIX"
  local wineserver
  wineserver=$(command -v wineserver || echo /usr/lib/wine/wineserver64)
  [ -x "$wineserver" ] || wineserver=/usr/lib/wine/wineserver
  MODREF_WINESERVER=$wineserver
  "$wineserver" -p </dev/null >/dev/null 2>&1 || true
  /usr/lib/wine/wine64 wineboot -i </dev/null >/dev/null 2>&1 || true
  trap modref_wine_stop EXIT
}
modref_wine_stop() {
  [ -n "${MODREF_WINESERVER:-}" ] && WINEPREFIX=$WINEPREFIX "$MODREF_WINESERVER" -k </dev/null >/dev/null 2>&1 || true
}
