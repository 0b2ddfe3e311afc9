#!/usr/bin/env python3
"""One entry point for developers and CI: ``python3 build.py run | test | bundle | bench | system-deps``.

Every command first makes sure ``.venv`` exists and holds the project (re-installing
only when pyproject.toml changed), so each works on a fresh machine with nothing
but Python 3.11+.  Runs with the system Python: standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")

#: Debian packages the app itself needs to show its tray and windows (Qt's xcb plugin).
RUNTIME_PACKAGES = [
    "libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0", "libxcb-xinerama0", "libxcb-render-util0",
    "libxcb-image0", "libxcb-shape0", "libxcb-randr0", "libxcb-xfixes0", "libxcb-sync1", "libxcb-xkb1",
    "libxkbcommon-x11-0", "libegl1", "libgl1", "libfontconfig1", "libdbus-1-3", "fonts-dejavu-core",
]
#: What `bundle` needs on Linux beyond PyInstaller: ICU's own tools and a C compiler rebuild
#: the smaller ICU data library (packaging/icu.py).
BUNDLE_PACKAGES = ["icu-devtools", "gcc", "binutils"]
#: ... and what the real-parts tests add: Xvfb, a tray host, a session bus, a notification
#: daemon, a Secret Service, screenshot and click tools, and what packaging checks use.
TEST_PACKAGES = RUNTIME_PACKAGES + [
    "xvfb", "xauth", "dbus", "dbus-x11", "trayer", "dunst", "libnotify-bin", "gnome-keyring",
    "libsecret-tools", "imagemagick", "xdotool", "xdg-utils", "procps", "desktop-file-utils",
    # tests/test_package.py checks the built .deb as a distribution would.
    "lintian", "appstream",
    # tests/test_icu_data.py builds the bundle's ICU data library.
    *BUNDLE_PACKAGES,
]


def log(message: str) -> None:
    print(f"build.py: {message}", flush=True)


def run(cmd: list[str | Path], **kw: object) -> int:
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kw)  # type: ignore[arg-type]


def ensure_venv(extras: str = "") -> None:
    """Create .venv and install the project (editable) when missing or out of date."""
    if not PYTHON.exists():
        log("creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    spec = f".[{extras}]" if extras else "."
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".installed-{extras or 'app'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    log(f"installing {spec} into .venv")
    pip = [PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if run([*pip, "--upgrade", "pip"]) != 0 or run([*pip, "-e", spec]) != 0:
        sys.exit("build.py: pip install failed")
    stamp.write_text(digest)


def missing_packages(packages: list[str]) -> list[str]:
    """Which of ``packages`` dpkg does not have installed ([] where there is no dpkg to ask)."""
    if shutil.which("dpkg-query") is None:
        return []
    listed = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *packages],
                            capture_output=True, text=True).stdout
    installed = {line.split()[0] for line in listed.splitlines() if line.endswith(" installed")}
    return [p for p in packages if p not in installed]


def system_deps(packages: list[str], *, required: bool) -> None:
    """Install missing Debian packages (as root with apt-get), else say exactly how to."""
    missing = missing_packages(packages)
    if not missing:
        return
    apt = shutil.which("apt-get")
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if apt and is_root:
        log(f"installing system packages: {' '.join(missing)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if run([apt, "-q", "update"], env=env) != 0 or \
           run([apt, "install", "-y", "-q", "--no-install-recommends", *missing], env=env) != 0:
            sys.exit("build.py: apt-get install failed")
        return
    message = f"missing system packages; install them with: sudo apt-get install -y {' '.join(missing)}"
    if required:
        sys.exit(f"build.py: {message}")
    log(message)


def has_configured_key() -> bool:
    """True when VENDO_API_KEY is set or the OS keyring holds a key (asked through the venv)."""
    if os.environ.get("VENDO_API_KEY"):
        return True
    probe = ("import sys; from vendo_tray.core.secrets import KeyStore; "
             "sys.exit(0 if KeyStore().lookup().key else 1)")
    return run([PYTHON, "-c", probe], stderr=subprocess.DEVNULL) == 0


def cmd_run(extra: list[str]) -> int:
    ensure_venv()
    if sys.platform.startswith("linux"):
        system_deps(RUNTIME_PACKAGES, required=False)
    args = list(extra)
    if "--demo" not in args and not has_configured_key():
        log("no API key configured: starting in demo mode against the built-in simulator")
        args.insert(0, "--demo")
    return run([BIN / "vendo-tray", *args])


def cmd_test(extra: list[str]) -> int:
    ensure_venv("test")
    if sys.platform.startswith("linux"):
        system_deps(TEST_PACKAGES, required=True)
    # pytest exits 5 when it collected nothing: that is a failure here, like any non-zero.
    return run([PYTHON, "-m", "pytest", *extra])


def cmd_bundle(extra: list[str]) -> int:
    ensure_venv("bundle")
    if sys.platform.startswith("linux"):
        system_deps(BUNDLE_PACKAGES, required=True)
    return run([PYTHON, ROOT / "packaging" / "bundle.py", *extra])


def cmd_bench(extra: list[str]) -> int:
    ensure_venv("test,bench")
    names = extra or sorted(p.name for p in (ROOT / "bench").glob("bench_*.py"))
    status = 0
    for name in names:
        log(f"benchmark {name}")
        status |= run([PYTHON, ROOT / "bench" / name])
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "test", "bundle", "bench", "system-deps"])
    parser.add_argument("args", nargs=argparse.REMAINDER, help="passed on (to vendo-tray, pytest, …)")
    ns = parser.parse_args()
    if ns.command == "system-deps":
        system_deps(TEST_PACKAGES, required=True)
        return 0
    return {"run": cmd_run, "test": cmd_test, "bundle": cmd_bundle, "bench": cmd_bench}[ns.command](ns.args)


if __name__ == "__main__":
    sys.exit(main())
