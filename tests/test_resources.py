"""resources/ is the package vendo_tray.resources, found alike from source and from a wheel.

The bundle's copy is checked by tests/test_package.py on the built .deb.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from vendo_tray import APP_ID, __version__, resources

ROOT = Path(__file__).resolve().parent.parent
PROBE = ("import sys; sys.path.insert(0, sys.argv[1]); import vendo_tray.resources as r; "
         "print(r.path('icons', r.APP_ICON + '.svg')); print(r.path(r.DESKTOP_FILE))")


def _listed_packages() -> set[str]:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"]["vendo_tray.resources"] == "resources"
    return set(setuptools["packages"])


def test_every_package_under_app_is_listed_in_pyproject() -> None:
    on_disk = {".".join(init.parent.relative_to(ROOT / "app").parts)
               for init in (ROOT / "app").rglob("__init__.py")}
    missing = on_disk - _listed_packages()
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"


def test_from_source_the_files_are_the_top_level_folder() -> None:
    assert resources.path("icons", f"{resources.APP_ICON}.svg") == ROOT / "resources" / "icons" / "vendo-tray.svg"
    assert resources.path(resources.DESKTOP_FILE).is_file()


def test_desktop_file_and_metainfo_are_named_by_the_app_id() -> None:
    assert resources.DESKTOP_FILE == f"{APP_ID}.desktop"
    assert resources.METAINFO_FILE == f"{APP_ID}.metainfo.xml"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validates() -> None:
    done = subprocess.run(["desktop-file-validate", str(resources.path(resources.DESKTOP_FILE))],
                          capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


@pytest.mark.slow
def test_the_wheel_carries_resources_where_importlib_finds_them(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    [wheel] = tmp_path.glob("vendo_tray-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # -S: no site-packages, so the editable install of this checkout cannot answer instead.
    found = subprocess.run([sys.executable, "-S", "-c", PROBE, str(site)],
                           capture_output=True, text=True, check=True).stdout.split()
    assert found == [str(site / "vendo_tray" / "resources" / "icons" / "vendo-tray.svg"),
                     str(site / "vendo_tray" / "resources" / resources.DESKTOP_FILE)]
    assert all(Path(p).is_file() for p in found)


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_metainfo_validates_and_carries_the_app_id_and_this_version() -> None:
    metainfo = resources.path(resources.METAINFO_FILE)
    done = subprocess.run(["appstreamcli", "validate", "--no-net", str(metainfo)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    root = ET.parse(metainfo).getroot()
    assert root.findtext("id") == APP_ID and root.findtext("launchable") == resources.DESKTOP_FILE
    assert root.find("releases/release").get("version") == __version__  # the newest release is this one


def test_the_app_id_is_written_once_for_macos_and_windows() -> None:
    """The bundle id and the AppUserModelID come from APP_ID at build time, never a second literal."""
    for path in ("packaging/macos/Info.plist", "packaging/windows/vendo-tray.iss"):
        code = [line for line in (ROOT / path).read_text().splitlines() if not line.startswith(";")]  # not comments
        assert not [line for line in code if APP_ID in line], f"{path} repeats {APP_ID}"
    assert "CFBundleIdentifier=APP_ID" in (ROOT / "packaging" / "vendo-tray.spec").read_text()
    assert 'f"/DAppUserModelId={APP_ID}"' in (ROOT / "packaging" / "bundle.py").read_text()
