#!/usr/bin/env bash
# Build the Linux bundle and .deb, install the .deb for real, run the INSTALLED
# binary (self-test headless and under Xvfb with a tray host, then a 20-second
# demo with a notification server), and remove the package again. Before installing,
# the .deb is checked as a distribution would: lintian (no errors), appstreamcli
# validate, desktop-file-validate, and tests/test_package.py on its contents.
#
# WHY: a PyInstaller bundle that misses a hidden import, a Qt plugin or package
# metadata works in the venv and fails only where users run it. Nothing here
# uses the venv once the bundle is built.
#
# Usage: .ci/package-check.sh            (from anywhere; needs root or sudo -n for dpkg)
# Env:   PYTHON   interpreter with PyInstaller (default: .venv/bin/python)
#        SKIP_BUILD=1  reuse build/pyinstaller/dist (re-wraps and re-installs only)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'package-check: FAIL: %s\n' "$*" >&2; exit 1; }

for tool in dpkg-deb dpkg Xvfb dbus-daemon trayer xdotool; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
done

WORK=$(mktemp -d /tmp/vendo-package-check.XXXXXX)
PIDS=()
BUS_PID=""
INSTALLED=0
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -n "$BUS_PID" ] && kill "$BUS_PID" 2>/dev/null || true
    if [ "$INSTALLED" = 1 ]; then
        $SUDO dpkg -r vendo-tray >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

say "build the bundle (packaging/bundle.py)"
build_args=()
[ "${SKIP_BUILD:-0}" = 1 ] && build_args+=(--skip-build)
"$PY" packaging/bundle.py "${build_args[@]}"

VERSION=$("$PY" -c 'import sys; sys.path.insert(0, "app"); import vendo_tray; print(vendo_tray.__version__)')
ARCH=$(dpkg --print-architecture)
DEB=$(ls dist/vendo-tray_"${VERSION}"-*_"${ARCH}".deb 2>/dev/null | tail -n 1)
TARBALL=dist/vendo-tray-${VERSION}-linux-$(uname -m).tar.gz
[ -n "$DEB" ] && [ -f "$DEB" ] || fail "no dist/vendo-tray_${VERSION}-*_${ARCH}.deb"
[ -f "$TARBALL" ] || fail "no $TARBALL"

say "package contents"
dpkg-deb --info "$DEB" | sed -n '/Package:/,$p'
contents=$(dpkg-deb --contents "$DEB")
for path in ./opt/vendo-tray/vendo-tray ./usr/bin/vendo-tray ./usr/share/applications/run.vendo.VendoTray.desktop \
            ./usr/share/icons/hicolor/48x48/apps/vendo-tray.png ./usr/share/icons/hicolor/scalable/apps/vendo-tray.svg; do
    grep -q " $path" <<<"$contents" || fail "$DEB lacks $path"
done
tar -tzf "$TARBALL" >"$WORK/tarball.txt"  # (not piped into grep -q: SIGPIPE + pipefail)
grep -qx "vendo-tray-$VERSION/vendo-tray" "$WORK/tarball.txt" || fail "$TARBALL lacks vendo-tray-$VERSION/vendo-tray"

say "lintian, appstreamcli validate, desktop-file-validate"
for tool in lintian appstreamcli desktop-file-validate; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (python3 build.py system-deps)"
done
lintian --fail-on error "$DEB" || fail "lintian reports errors on $DEB"
UNPACKED=$WORK/deb
dpkg-deb -x "$DEB" "$UNPACKED"
appstreamcli validate --no-net "$UNPACKED"/usr/share/metainfo/*.metainfo.xml || fail "invalid AppStream metainfo"
desktop-file-validate "$UNPACKED"/usr/share/applications/*.desktop || fail "invalid .desktop entry"
VENDO_REQUIRE_DEB=1 "$PY" -m pytest -q -p no:cacheprovider tests/test_package.py || fail "tests/test_package.py"

say "dpkg -i $DEB"
if $SUDO dpkg -s vendo-tray >/dev/null 2>&1; then
    fail "vendo-tray is already installed on this machine; refusing to replace it"
fi
INSTALLED=1
$SUDO dpkg -i "$DEB" || fail "dpkg -i failed (missing Depends?)"
[ "$(readlink /usr/bin/vendo-tray)" = /opt/vendo-tray/vendo-tray ] || fail "/usr/bin/vendo-tray is not the link"
[ -f /usr/share/man/man1/vendo-tray.1.gz ] && man -w vendo-tray >/dev/null 2>&1 || [ ! -x /usr/bin/man ] \
    || fail "man vendo-tray finds nothing"
/usr/bin/vendo-tray --version | grep -qx "vendo-tray $VERSION" || fail "installed --version is not $VERSION"

# A throw-away user: no real config, keyring, logs or single-instance lock are touched.
export HOME=$WORK/home XDG_RUNTIME_DIR=$WORK/home/run
export XDG_CONFIG_HOME=$HOME/.config XDG_DATA_HOME=$HOME/.local/share
export XDG_STATE_HOME=$HOME/.local/state XDG_CACHE_HOME=$HOME/.cache
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
unset VENDO_API_KEY VENDO_BASE_URL WAYLAND_DISPLAY QT_QPA_PLATFORM DBUS_SESSION_BUS_ADDRESS

say "installed self-test, headless (no DISPLAY)"
env -u DISPLAY /usr/bin/vendo-tray --self-test || fail "self-test failed headless"

say "a private desktop: Xvfb, session bus, trayer, dunst"
for n in $(seq 140 240); do
    [ -e /tmp/.X11-unix/X$n ] || [ -e /tmp/.X$n-lock ] || { DISPLAY_NUM=$n; break; }
done
Xvfb ":$DISPLAY_NUM" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$DISPLAY_NUM" ] && break; sleep 0.1; done
export DISPLAY=":$DISPLAY_NUM"
read -r DBUS_SESSION_BUS_ADDRESS BUS_PID < <(dbus-daemon --session --fork --print-address=1 --print-pid=1 | paste -sd' ')
export DBUS_SESSION_BUS_ADDRESS
trayer --edge top --align right --widthtype request --height 32 --SetDockType true --expand true >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do xdotool search --class trayer >/dev/null 2>&1 && break; sleep 0.1; done
sleep 0.3
if command -v dunst >/dev/null; then
    dunst >/dev/null 2>&1 &
    PIDS+=($!)
fi

say "installed self-test under Xvfb with a tray"
line=$(/usr/bin/vendo-tray --self-test) || fail "self-test failed under Xvfb: $line"
echo "$line"
grep -q "(xcb)" <<<"$line" || fail "the self-test did not use the xcb platform"
grep -q "tray available" <<<"$line" || fail "the self-test saw no tray although trayer runs"

say "installed key reader: the tray's child that reads the keyring (core.secrets.serve_read)"
# The login keyring, unlocked with a password as a login does; the key stored by libsecret's
# own CLI and read back through the installed binary, as the tray reads it at start.
if command -v gnome-keyring-daemon >/dev/null && command -v secret-tool >/dev/null; then
    printf 'pkgcheck' | gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null
    printf 'vendo_sk_pkgcheck_key' | secret-tool store --label="Vendo Tray" service vendo-tray username api-key \
        || fail "could not store a key with secret-tool"
    answer=$(printf 'api-key\n' | /usr/bin/vendo-tray --read-key-from-keyring) || fail "the key reader failed"
    [ "$answer" = '{"key": "vendo_sk_pkgcheck_key"}' ] || fail "the key reader answered: $answer"
    echo "read back the stored key through the installed binary"
fi

say "installed demo for 20 s"
LOG=$WORK/demo.log
/usr/bin/vendo-tray --demo >"$LOG" 2>&1 &
APP=$!
PIDS+=($APP)
sleep 20
kill -0 "$APP" 2>/dev/null || { cat "$LOG"; fail "the demo exited early"; }
kill -TERM "$APP"
rc=0
wait "$APP" || rc=$?
tail -n 5 "$LOG"
[ "$rc" = 0 ] || { cat "$LOG"; fail "the demo exited with $rc on SIGTERM"; }
grep -q "tray icon shown" "$LOG" || { cat "$LOG"; fail "the demo never showed its tray icon"; }
if grep -nE "ERROR|CRITICAL|Traceback|ModuleNotFoundError|ImportError" "$LOG"; then
    fail "errors in the demo log (above)"
fi
if command -v dunst >/dev/null; then
    grep -q "notifications: native" "$LOG" || { cat "$LOG"; fail "the demo sent no native notification"; }
fi
echo "demo: $(grep -c . "$LOG") log lines, no errors"

say "dpkg -r vendo-tray"
$SUDO dpkg -r vendo-tray
INSTALLED=0
[ ! -e /usr/bin/vendo-tray ] && [ ! -e /opt/vendo-tray ] || fail "files left after dpkg -r"
echo "package-check: OK"
