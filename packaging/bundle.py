"""Build the Vendo Tray bundle for this OS: ``python3 build.py bundle`` runs this.

Run it with the project venv's Python (PyInstaller is installed there)::

    .venv/bin/python packaging/bundle.py [--skip-build] [--no-measure] [--no-deb]

Steps:

1. Render the icons from their SVG sources (packaging/icons.py -> build/icons).
2. Build the PyInstaller onedir app from packaging/vendo-tray.spec
   (-> build/pyinstaller/dist/vendo-tray, or "Vendo Tray.app" on macOS).
3. Wrap it for this OS, into dist/, named with version and architecture:
   - Linux:   vendo-tray-<ver>-linux-<arch>.tar.gz and vendo-tray_<ver>-<rev>_<debarch>.deb
              (packaging/deb.py: /opt/vendo-tray, /usr/bin link, desktop entry, metainfo,
              icons, man page, copyright, changelog, lintian overrides)
   - macOS:   the .app ad-hoc signed (notifications need a signed app), a .zip and a .dmg
   - Windows: vendo-tray-<ver>-windows-<arch>.zip, and the Inno Setup installer when
              ISCC.exe is on PATH (else the command to run is printed)
4. Print the onedir size, the archive size and start times against the targets
   (issue 11: onedir <= 120 MB, archive <= 45 MB; tray icon < 1.5 s). Printed, not asserted.

PyInstaller, PySide6 and the bundle extra's tools (pyproject.toml) come from the
interpreter running this script.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import plistlib
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "app"))

import deb  # noqa: E402  (packaging/deb.py)
import host_libraries  # noqa: E402  (packaging/host_libraries.py)
import icons  # noqa: E402  (packaging/icons.py)
import measure  # noqa: E402  (packaging/measure.py)
from vendo_tray import APP_ID, APP_NAME, __version__, resources  # noqa: E402

BUILD = ROOT / "build"
DIST = ROOT / "dist"
PYI_WORK = BUILD / "pyinstaller" / "work"
PYI_DIST = BUILD / "pyinstaller" / "dist"
SPEC = HERE / "vendo-tray.spec"
ONEDIR_NAME = "vendo-tray"
ICONS_OUT = BUILD / "icons"
DESKTOP_FILE = resources.path(resources.DESKTOP_FILE)
#: Sizes installed into the freedesktop hicolor theme.
HICOLOR_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

TARGET_ONEDIR = 120e6
TARGET_ARCHIVE = 45e6
TARGET_TRAY = 1.5

MACOS_SIGNING = """\
macOS: the app must be signed for Notification Center to accept its notifications;
an ad-hoc signature is enough for a local build:
  codesign --force --deep --sign - "{app}"
  codesign --verify --deep --strict "{app}"
For distribution sign with a Developer ID and notarize:
  codesign --force --deep --options runtime --timestamp --sign "Developer ID Application: NAME (TEAMID)" "{app}"
  ditto -c -k --keepParent "{app}" vendo-tray.zip && xcrun notarytool submit vendo-tray.zip --wait --keychain-profile PROFILE
  xcrun stapler staple "{app}"
Disk image:
  hdiutil create -volname "Vendo Tray" -srcfolder "{app}" -ov -format UDZO "{dmg}"
"""


class BundleError(RuntimeError):
    """A packaging step failed; the message says which and why."""


@dataclass
class Artifacts:
    onedir: Path
    binary: Path
    archives: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def os_name() -> str:
    return {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(
        "linux" if sys.platform.startswith("linux") else sys.platform, sys.platform)


def machine() -> str:
    """x86_64 / arm64 / aarch64 ... as the OS names it (Windows: x64 / arm64, Inno Setup's words)."""
    arch = platform.machine().lower()
    if os_name() == "windows":
        return {"amd64": "x64", "x86_64": "x64", "arm64": "arm64"}.get(arch, arch)
    return arch


def run(argv: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a build tool; on failure raise BundleError with its output's tail."""
    printable = " ".join(str(a) for a in argv)
    print(f"$ {printable}", flush=True)
    result = subprocess.run([str(a) for a in argv], text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise BundleError(f"{Path(str(argv[0])).name} failed (exit {result.returncode}):\n{tail}")
    return result


# -- 1. icons, 2. PyInstaller -----------------------------------------------------------

def write_version_resource(path: Path) -> Path:
    """The Windows version resource, from its template with this version filled in."""
    parts = [int(p) for p in __version__.split(".")[:3] if p.isdigit()]
    filevers = tuple((parts + [0, 0, 0, 0])[:4])
    text = (HERE / "windows" / "version_info.txt.in").read_text(encoding="utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace("{filevers}", repr(filevers)).replace("{version}", __version__), encoding="utf-8")
    return path


def build_onedir() -> None:
    """PyInstaller from the spec (its log goes to build/pyinstaller.log; errors are shown).

    PYTHONNODEBUGRANGES: PyInstaller compiles the bundled modules in this interpreter,
    and without it every code object carries a table of column positions, there only to
    underline the failing expression in a traceback (PEP 657); line numbers stay. The
    PYZ goes from 4.2 to 3.1 MB. (PyInstaller caches compiled modules in the work folder:
    a build from a clean checkout, as CI's, always compiles with it.)
    """
    env = dict(os.environ, PYTHONNODEBUGRANGES="1", VENDO_ICONS_DIR=str(ICONS_OUT),
               VENDO_VERSION_FILE=str(write_version_resource(BUILD / "version_info.txt")))
    started = time.monotonic()
    log_path = BUILD / "pyinstaller.log"
    result = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--workpath", str(PYI_WORK), "--distpath", str(PYI_DIST), str(SPEC)],
        env=env, text=True, capture_output=True, cwd=ROOT)
    log_path.write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise BundleError(f"PyInstaller failed (full log: {log_path}):\n{tail}")
    print(f"PyInstaller: built in {time.monotonic() - started:.0f} s (log: {log_path})", flush=True)


def built_app() -> Artifacts:
    if os_name() == "macos":
        app = PYI_DIST / f"{APP_NAME}.app"
        return Artifacts(onedir=app, binary=app / "Contents" / "MacOS" / ONEDIR_NAME)
    onedir = PYI_DIST / ONEDIR_NAME
    exe = "vendo-tray-cli.exe" if os_name() == "windows" else ONEDIR_NAME
    return Artifacts(onedir=onedir, binary=onedir / exe)


# -- 3. wrap --------------------------------------------------------------------------

def _tar_filter(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def make_tarball(art: Artifacts, icon_set: icons.IconSet) -> Path:
    """The onedir plus share/ (desktop entry, app icon) under vendo-tray-<ver>/, as .tar.gz.

    The onedir is copied first and the libraries every desktop has and that break when
    bundled (packaging/host_libraries.py: the AppImage excludelist) are left to the host.
    """
    top = f"vendo-tray-{__version__}"
    out = DIST / f"vendo-tray-{__version__}-linux-{machine()}.tar.gz"
    staged = BUILD / "tarball" / top
    if staged.parent.exists():
        shutil.rmtree(staged.parent)
    shutil.copytree(art.onedir, staged, symlinks=True)
    left = deb.drop_system_libraries(staged, leave=host_libraries.left_to_the_host)
    print(f"tarball: {len(left)} libraries left to the host (AppImage excludelist): {', '.join(sorted(left))}")
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        tar.add(staged, arcname=top, filter=_tar_filter)
        tar.add(DESKTOP_FILE, arcname=f"{top}/share/applications/{DESKTOP_FILE.name}", filter=_tar_filter)
        # Only the app icon: the tray-state icons have generic names ("live", "key") that
        # must not land in a user's icon theme.
        for size in HICOLOR_SIZES:
            tar.add(icon_set.pngs[icons.APP_ICON][size], filter=_tar_filter,
                    arcname=f"{top}/share/icons/hicolor/{size}x{size}/apps/vendo-tray.png")
        tar.add(icon_set.svgs[icons.APP_ICON], filter=_tar_filter,
                arcname=f"{top}/share/icons/hicolor/scalable/apps/vendo-tray.svg")
    out.write_bytes(gzip_best(tar_bytes.getbuffer()))
    return out


def gzip_best(data: bytes | memoryview) -> bytes:
    """Plain gzip (any ``tar -xzf`` reads it), from libdeflate's strongest level.

    libdeflate's level 12 searches matches exhaustively, as zlib's level 9 does not: on
    the 114 MB tarball it is 1.6 MB smaller than ``gzip -9`` (43.9 vs 45.6 MB, issue 11's
    target is 45) in about 12 s here, where Zopfli saved 1.9 MB in 201 s. The header has
    no name and a zero time stamp, as ``gzip -n`` writes.
    """
    import deflate  # the bundle extra; only this step needs it

    return bytes(deflate.gzip_compress(data, 12))


def deb_arch() -> str:
    if shutil.which("dpkg"):
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine(), machine())


def make_deb(art: Artifacts, icon_set: icons.IconSet) -> Path:
    """The .deb (packaging/deb.py says what goes in and why)."""
    if not shutil.which("dpkg-deb"):
        raise BundleError("dpkg-deb is not installed (apt-get install dpkg); use --no-deb to skip")
    pngs = {size: icon_set.pngs[icons.APP_ICON][size] for size in HICOLOR_SIZES}
    return deb.make_deb(art.onedir, pngs, icon_set.svgs[icons.APP_ICON], BUILD, DIST, deb_arch(), measure.tree_size)


def wrap_macos(art: Artifacts) -> None:
    """Ad-hoc sign the .app (Notification Center ignores unsigned apps), then zip and dmg it."""
    base = f"vendo-tray-{__version__}-macos-{machine()}"
    dmg = DIST / f"{base}.dmg"
    if shutil.which("codesign"):
        run(["codesign", "--force", "--deep", "--sign", "-", art.onedir])
        run(["codesign", "--verify", "--deep", "--strict", art.onedir])
    else:
        art.notes.append("codesign not found: the .app is NOT signed")
    zipped = DIST / f"{base}.zip"
    if shutil.which("ditto"):  # keeps the signature's extended attributes intact
        run(["ditto", "-c", "-k", "--keepParent", art.onedir, zipped])
        art.archives.append(zipped)
    if shutil.which("hdiutil"):
        run(["hdiutil", "create", "-volname", APP_NAME, "-srcfolder", art.onedir, "-ov", "-format", "UDZO", dmg])
        art.archives.append(dmg)
    with (art.onedir / "Contents" / "Info.plist").open("rb") as fh:
        info = plistlib.load(fh)
    if info.get("CFBundleIdentifier") != APP_ID or not info.get("LSUIElement"):
        raise BundleError("Info.plist lost its bundle id or LSUIElement")
    art.notes.append(MACOS_SIGNING.format(app=art.onedir, dmg=dmg))


def wrap_windows(art: Artifacts, icon_set: icons.IconSet) -> None:
    """A zip of the onedir, and the Inno Setup installer when ISCC is available."""
    out = DIST / f"vendo-tray-{__version__}-windows-{machine()}.zip"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(art.onedir.rglob("*")):
            zf.write(path, Path("vendo-tray") / path.relative_to(art.onedir))
    art.archives.append(out)
    iscc = shutil.which("iscc") or shutil.which("ISCC")
    command = [iscc or "iscc", f"/DAppVersion={__version__}", f"/DAppUserModelId={APP_ID}", f"/DArch={machine()}",
               f"/DSourceDir={art.onedir}", f"/DIconFile={icon_set.ico}", f"/DOutputDir={DIST}",
               HERE / "windows" / "vendo-tray.iss"]
    if iscc:
        run(command)
        art.archives.append(DIST / f"vendo-tray-{__version__}-windows-{machine()}-setup.exe")
    else:
        art.notes.append("Inno Setup (ISCC.exe) not on PATH; build the installer with:\n  "
                         + " ".join(f'"{c}"' if " " in str(c) else str(c) for c in command))


# -- 4. measure -------------------------------------------------------------------------

def _verdict(value: float, target: float) -> str:
    return "meets" if value <= target else "OVER"


def report(art: Artifacts, measure_start: bool) -> None:
    size = measure.tree_size(art.onedir)
    print(f"\nbundle: {art.onedir}")
    print(f"  onedir size     {measure.mb(size):>10}   target <= {measure.mb(int(TARGET_ONEDIR))}: "
          f"{_verdict(size, TARGET_ONEDIR)}")
    for archive in art.archives:
        asize = archive.stat().st_size
        print(f"  {archive.name:<40} {measure.mb(asize):>10}   target <= {measure.mb(int(TARGET_ARCHIVE))}: "
              f"{_verdict(asize, TARGET_ARCHIVE)}")
    if not measure_start:
        return
    version, _ = measure.time_command([art.binary, "--version"])
    print(f"  start to --version exit      {version}")
    selftest, result = measure.time_command([art.binary, "--self-test"])
    print(f"  start to --self-test exit    {selftest}")
    print(f"    {result.stdout.strip() or result.stderr.strip()}")
    if result.returncode != 0:
        raise BundleError("the built app's self-test failed (see the line above)")
    if os_name() == "linux" and measure.have_desktop_tools():
        with measure.headless_desktop() as desktop:
            runs = [measure.time_to_tray(art.binary, desktop) for _ in range(3)]
        tray = measure.Timing(runs)
        print(f"  start to tray icon (--demo)  {tray}   target < {TARGET_TRAY} s: "
              f"{_verdict(tray.median, TARGET_TRAY)}")
    else:
        print("  start to tray icon: not measured here (needs Linux with Xvfb, dbus-daemon, trayer, xdotool)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Vendo Tray bundle for this OS into dist/.")
    parser.add_argument("--skip-build", action="store_true", help="reuse the existing PyInstaller output")
    parser.add_argument("--no-measure", action="store_true", help="skip the start-time measurements")
    parser.add_argument("--no-deb", action="store_true", help="Linux: build the tarball only")
    args = parser.parse_args(argv)
    try:
        icon_set = icons.render_all(icons.DEFAULT_SRC, ICONS_OUT)
        print(f"icons: {len(icon_set.pngs)} source(s) rendered into {ICONS_OUT}")
        if not args.skip_build:
            build_onedir()
        art = built_app()
        if not art.binary.exists():
            raise BundleError(f"no built app at {art.onedir} (run without --skip-build)")
        DIST.mkdir(exist_ok=True)
        if os_name() == "linux":
            art.archives.append(make_tarball(art, icon_set))
            if not args.no_deb:
                art.archives.append(make_deb(art, icon_set))
        elif os_name() == "macos":
            wrap_macos(art)
        elif os_name() == "windows":
            wrap_windows(art, icon_set)
        report(art, measure_start=not args.no_measure)
        for note in art.notes:
            print(f"\n{note}")
        print("\nartifacts:\n" + "\n".join(f"  {p}" for p in art.archives))
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # BundleError, IconError, timeouts
        print(f"bundle: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
