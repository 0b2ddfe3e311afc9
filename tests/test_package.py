"""The built .deb, checked the way a distribution would: lintian, AppStream, the desktop entry, contents.

Runs after ``python3 build.py bundle`` (CI: .ci/run, with VENDO_REQUIRE_DEB=1 so a missing
.deb fails instead of skipping); skipped in a plain test run that built nothing.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vendo_tray import APP_ID, __version__, resources
from vendo_tray.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DEBS = sorted((ROOT / "dist").glob(f"vendo-tray_{__version__}-*.deb"))
TARBALLS = sorted((ROOT / "dist").glob(f"vendo-tray-{__version__}-linux-*.tar.gz"))
pytestmark = pytest.mark.skipif(not DEBS and not os.environ.get("VENDO_REQUIRE_DEB"),
                                reason="no .deb built (python3 build.py bundle)")


@pytest.fixture(scope="module")
def deb() -> Path:
    assert DEBS, f"no dist/vendo-tray_{__version__}-*.deb: run python3 build.py bundle first"
    return DEBS[-1]


@pytest.fixture(scope="module")
def tree(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deb")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(out)], check=True)
    return out


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (python3 build.py system-deps)"
    return path


def test_lintian_reports_no_errors(deb: Path) -> None:
    done = subprocess.run([_tool("lintian"), "--fail-on", "error", str(deb)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not [line for line in done.stdout.splitlines() if line.startswith("E:")]


def test_every_lintian_override_says_why(tree: Path) -> None:
    lines = (tree / "usr/share/lintian/overrides/vendo-tray").read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert i > 0 and lines[i - 1].startswith("#"), f"override without a reason above it: {line}"


def test_members_are_xz_compressed(deb: Path) -> None:
    members = subprocess.run(["ar", "t", str(deb)], capture_output=True, text=True, check=True).stdout.split()
    assert members == ["debian-binary", "control.tar.xz", "data.tar.xz"]


def test_only_the_program_is_executable(tree: Path) -> None:
    executable = [p.relative_to(tree).as_posix() for p in tree.rglob("*")
                  if p.is_file() and not p.is_symlink() and p.stat().st_mode & 0o111]
    assert executable == ["opt/vendo-tray/vendo-tray"]


def test_copyright_is_machine_readable_and_names_every_bundled_part(tree: Path) -> None:
    text = (tree / "usr/share/doc/vendo-tray/copyright").read_text()
    assert text.startswith("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/")
    shipped = json.loads((tree / "opt/vendo-tray/_internal/vendo_tray/resources" / resources.LICENSES_FILE)
                         .read_text())
    names = {part["name"] for part in shipped["components"]}
    assert {"Qt", "Python", "PySide6_Essentials", "httpx", "keyring", "qasync"} <= names
    missing = [name for name in names if f"{name} " not in text]
    assert not missing, f"not in the copyright file: {missing}"
    assert "License: MIT" in text and "/usr/share/common-licenses/LGPL-3" in text
    for paragraph in text.split("\n\n"):  # DEP-5 paragraphs: each field at most once
        fields = [line.split(":", 1)[0] for line in paragraph.splitlines() if line and not line[0].isspace()]
        assert len(fields) == len(set(fields)), paragraph


def test_the_deb_ships_no_copy_of_a_debian_packaged_library(tree: Path) -> None:
    """They are Depends instead: the notices list no system library, and none is in /opt."""
    shipped = json.loads((tree / "opt/vendo-tray/_internal/vendo_tray/resources" / resources.LICENSES_FILE)
                         .read_text())
    assert not [p for p in shipped["components"] if p["kind"] == "system-library"]
    assert not (tree / "opt/vendo-tray/_internal/libX11.so.6").exists()


def test_the_libc6_depends_covers_every_glibc_version_a_bundled_file_needs(deb: Path, tree: Path) -> None:
    """dpkg must refuse a system whose glibc is older than what libpython and the rest
    need (they would fail to load), so Depends names the newest GLIBC_ version in use."""
    import re
    import subprocess

    control = subprocess.run(["dpkg-deb", "--field", str(deb), "Depends"], capture_output=True, text=True,
                             check=True).stdout
    declared = re.search(r"libc6 \(>= (\d+)\.(\d+)\)", control)
    assert declared, control
    needed = (0, 0)
    for path in (tree / "opt/vendo-tray").rglob("*"):
        if path.is_file() and not path.is_symlink() and path.open("rb").read(4) == b"\x7fELF":
            out = subprocess.run(["readelf", "-V", "--wide", str(path)], capture_output=True, text=True).stdout
            needed = max([needed, *((int(a), int(b)) for a, b in re.findall(r"\bGLIBC_(\d+)\.(\d+)\b", out))])
    assert (int(declared[1]), int(declared[2])) >= needed > (2, 0)


def test_man_page_is_made_from_the_cli_parser(tree: Path) -> None:
    page = gzip.decompress((tree / "usr/share/man/man1/vendo-tray.1.gz").read_bytes()).decode()
    assert page.startswith(".TH VENDO\\-TRAY")
    plain = page.replace("\\-", "-")
    parser = build_parser()
    options = [s for action in parser._actions for s in action.option_strings
               if s.startswith("--") and s != "--help"]  # argparse-manpage leaves out --help
    assert "--self-test" in options and all(option in plain for option in options)
    assert parser.description.split(":")[0] in plain


def test_changelog_starts_with_this_version(tree: Path) -> None:
    first = gzip.decompress((tree / "usr/share/doc/vendo-tray/changelog.Debian.gz").read_bytes()).decode()
    assert first.splitlines()[0].startswith(f"vendo-tray ({__version__}-")


def test_metainfo_validates_and_names_the_desktop_file(tree: Path) -> None:
    metainfo = tree / "usr/share/metainfo" / resources.METAINFO_FILE
    done = subprocess.run([_tool("appstreamcli"), "validate", "--no-net", str(metainfo)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    root = ET.parse(metainfo).getroot()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == resources.DESKTOP_FILE
    assert root.find("releases/release").get("version") == __version__
    assert (tree / "usr/share/applications" / resources.DESKTOP_FILE).is_file()


def test_desktop_file_validates(tree: Path) -> None:
    done = subprocess.run([_tool("desktop-file-validate"), str(tree / "usr/share/applications" /
                                                                  resources.DESKTOP_FILE)],
                          capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_the_bundled_resources_are_found_by_importlib(tree: Path) -> None:
    found = tree / "opt/vendo-tray/_internal/vendo_tray/resources"
    assert (found / "icons" / f"{resources.APP_ICON}.svg").is_file() and (found / resources.DESKTOP_FILE).is_file()
    assert sys.platform.startswith("linux")


def _is_system_library(name: str) -> bool:
    """A shared library PyInstaller copied from the build machine (wheels' own sit in subfolders)."""
    return ".so" in name and ".cpython-" not in name and not name.endswith(".abi3.so") \
        and not name.startswith("libpython")


def _tarball_system_libraries() -> tuple[set[str], set[str]]:
    """(system libraries the .tar.gz carries, those its shipped notices name)."""
    assert TARBALLS, f"no dist/vendo-tray-{__version__}-linux-*.tar.gz: run python3 build.py bundle first"
    internal = f"vendo-tray-{__version__}/_internal/"
    with tarfile.open(TARBALLS[-1]) as tar:
        carried = {m.name[len(internal):] for m in tar.getmembers()
                   if m.isfile() and m.name.startswith(internal) and "/" not in m.name[len(internal):]
                   and _is_system_library(m.name[len(internal):])}
        shipped = json.load(tar.extractfile(f"{internal}vendo_tray/resources/{resources.LICENSES_FILE}"))
    noticed = {name for part in shipped["components"] if part["kind"] == "system-library" for name in part["files"]}
    return carried, noticed


def test_the_tarball_notices_name_exactly_the_system_libraries_it_carries() -> None:
    """The .tar.gz keeps its system libraries (for other distributions): each has its notice, and
    a library cut from the bundle takes its notice with it."""
    carried, noticed = _tarball_system_libraries()
    assert carried and noticed == carried


def test_the_tarball_leaves_the_excludelist_to_the_host_and_keeps_what_a_desktop_may_lack() -> None:
    """No library of the AppImage excludelist (libX11, fontconfig, libstdc++, ...) in the .tar.gz;
    what Qt's xcb plugin needs beyond the X core (xcb-util-*, xkbcommon) stays."""
    sys.path.insert(0, str(ROOT / "packaging"))
    from host_libraries import left_to_the_host

    carried, _ = _tarball_system_libraries()
    assert not sorted(name for name in carried if left_to_the_host(name))
    assert {"libxcb-icccm.so.4", "libxcb-cursor.so.0", "libxkbcommon.so.0", "libxkbcommon-x11.so.0"} <= carried
