"""Third-party notices for what a bundle really contains, generated at build time.

packaging/vendo-tray.spec calls :func:`generate` after PyInstaller's analysis with the
modules and binaries that go into the bundle, and ships what it writes:

1. Python distributions: the top-level name of every collected module, extension and
   data file is mapped to its installed distribution (importlib.metadata), and
   pip-licenses (a well-kept tool that reads each distribution's own metadata and
   license files) reports its license, home page and license/notice texts.
2. Qt: PySide6's wheels carry the Qt libraries but no license text. We use Qt under
   LGPL-3.0-only; its text and that of the GPL-3.0 it supplements are in
   packaging/licenses/ (verbatim from the FSF).
3. Python itself: the LICENSE.txt of the interpreter that built the bundle.
4. Linux: shared libraries copied from the build machine rather than from a wheel,
   each with its Debian package and that package's copyright file (dpkg -S).

Output (``out`` folder): ``third-party-licenses.json`` (read by the app's About ->
"Open-source licenses" and by the .deb's copyright file) and ``THIRD-PARTY-NOTICES.txt``
(for people). A distribution whose license cannot be found fails the build: a notice
that says "UNKNOWN" is no notice.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "app"))

from vendo_tray import resources  # noqa: E402

ROOT = HERE.parent
JSON_NAME = resources.LICENSES_FILE
TEXT_NAME = "THIRD-PARTY-NOTICES.txt"
LICENSES = HERE / "licenses"
OURS = "vendo-tray"
#: What pip-licenses says when a distribution's metadata has nothing.
UNKNOWN = "UNKNOWN"
#: The Qt distributions: their wheels hold Qt, used under LGPL-3.0-only.
QT_DISTRIBUTIONS = {"pyside6-essentials", "pyside6", "shiboken6"}
QT_LICENSE = "LGPL-3.0-only"
QT_TEXTS = ("LGPL-3.0-only.txt", "GPL-3.0-only.txt")
QT_NOTE = ("Qt and PySide6 are used under the GNU Lesser General Public License v3. Their libraries ship "
           "as separate shared objects in this bundle (libQt6*, PySide6/, shiboken6/): you may replace them "
           "with your own build of the same version. The source is at https://code.qt.io and "
           "https://download.qt.io/official_releases/.")


class NoticeError(RuntimeError):
    """A bundled part's license could not be established."""


def _key(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def distributions_for(top_level_names: Iterable[str]) -> list[str]:
    """The installed distributions providing these top-level import names (ours left out)."""
    providers = metadata.packages_distributions()
    found = {dist for name in top_level_names for dist in providers.get(name, ())}
    return sorted((d for d in found if _key(d) != OURS), key=_key)


def top_level_names(pure: Iterable[tuple[str, str, str]], binaries: Iterable[tuple[str, str, str]],
                    datas: Iterable[tuple[str, str, str]]) -> set[str]:
    """Top-level import names of PyInstaller TOC entries (module names; destination paths)."""
    names = {entry[0].split(".")[0] for entry in pure}
    for dest, *_ in (*binaries, *datas):
        first = dest.replace("\\", "/").split("/")[0]
        names.add(first.split(".")[0] if first.endswith((".so", ".pyd")) or ".cpython-" in first else first)
    return names


def pip_licenses(dists: list[str], python: str = sys.executable) -> list[dict[str, str]]:
    """pip-licenses' JSON for ``dists`` (run as a module of the building interpreter)."""
    if not dists:
        return []
    done = subprocess.run(
        [python, "-m", "piplicenses", "--from=mixed", "--with-urls", "--with-authors", "--with-license-file",
         "--with-notice-file", "--no-license-path", "--format=json", "--packages", *dists],
        capture_output=True, text=True)
    if done.returncode != 0:
        raise NoticeError(f"pip-licenses failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def _text(*names: str) -> str:
    return "\n\n".join((LICENSES / name).read_text(encoding="utf-8") for name in names)


def python_license() -> str:
    """The running interpreter's LICENSE.txt (python.org, pyenv and Windows lay it out differently)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for candidate in (stdlib / "LICENSE.txt", Path(sys.base_prefix) / "LICENSE.txt",
                      Path(sys.base_prefix) / "share" / "doc" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
                      / "copyright"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8", errors="replace")
    raise NoticeError(f"no LICENSE.txt for the Python in {sys.base_prefix}")


def qt_version() -> str:
    from PySide6.QtCore import qVersion

    return qVersion()


def component(name: str, version: str, license_: str, url: str, text: str, *, kind: str,
              notice: str = "", files: list[str] | None = None) -> dict[str, object]:
    return {"name": name, "version": version, "license": license_, "url": url, "kind": kind,
            "text": text.strip(), "notice": notice.strip(), "files": files or []}


def all_license_texts(dist: str, first: str) -> str:
    """pip-licenses' text plus every other License-File the distribution declares.

    pip-licenses picks one file; a dual-licensed package (cryptography: "either of
    LICENSE.APACHE or LICENSE.BSD") names the others from the one it picked.
    """
    texts = [first] if first != UNKNOWN else []
    found = metadata.distribution(dist)
    for name in found.metadata.get_all("License-File") or ():
        for where in (f"licenses/{name}", name):
            text = found.read_text(where)
            if text is not None:
                if text.strip() not in (t.strip() for t in texts):
                    texts.append(text)
                break
    return "\n\n".join(texts) if texts else UNKNOWN


def python_components(dists: list[str]) -> list[dict[str, object]]:
    """One entry per bundled distribution, from pip-licenses (Qt's texts supplied here)."""
    out = []
    for row in pip_licenses(dists):
        qt = _key(row["Name"]) in QT_DISTRIBUTIONS
        text = _text(*QT_TEXTS) if qt else all_license_texts(row["Name"], row["LicenseText"])
        license_ = QT_LICENSE if qt else row["License"]
        if UNKNOWN in (license_, text):
            raise NoticeError(f"{row['Name']} {row['Version']}: pip-licenses found no license "
                              f"{'name' if license_ == UNKNOWN else 'text'} in its metadata")
        notice = QT_NOTE if qt else ("" if row.get("NoticeText", UNKNOWN) == UNKNOWN else row["NoticeText"])
        out.append(component(row["Name"], row["Version"], license_, row.get("URL", ""), text,
                             kind="python", notice=notice))
    return out


def debian_package_of(path: str) -> str | None:
    """The Debian package that installed the file ``path`` (None without dpkg or owner).

    Tried as given and across the merged-/usr link (/lib <-> /usr/lib): the loader and
    dpkg may name the same file by either.
    """
    if not shutil.which("dpkg"):
        return None
    for candidate in dict.fromkeys([path, path.replace("/usr/lib/", "/lib/", 1), path.replace("/lib/", "/usr/lib/", 1)]):
        done = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.split(":", 1)[0].strip()
    return None


def system_components(binaries: Iterable[tuple[str, str, str]]) -> list[dict[str, object]]:
    """Libraries PyInstaller copied from the system (not from a wheel or the Python install)."""
    prefixes = tuple(str(Path(p).resolve()) for p in {sys.prefix, sys.base_prefix, *sys.path} if p)
    by_package: dict[str, list[str]] = {}
    for dest, src, _kind in binaries:
        real = str(Path(src).resolve())
        if any(real.startswith(p) for p in prefixes if p not in ("/", "/usr")):
            continue
        library = dest.replace("\\", "/").rsplit("/", 1)[-1]
        package = debian_package_of(src)
        if package is None:
            raise NoticeError(f"{src}: a system library no Debian package owns; cannot say its license")
        by_package.setdefault(package, []).append(library)
    out = []
    for package, libraries in sorted(by_package.items()):
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                                 text=True).stdout.strip()
        copyright_file = Path("/usr/share/doc") / package / "copyright"
        if not copyright_file.is_file():
            raise NoticeError(f"{package} ({', '.join(libraries)}) has no {copyright_file}")
        out.append(component(package, version, f"see the Debian copyright file of {package}",
                             f"https://packages.debian.org/{package}",
                             copyright_file.read_text(encoding="utf-8", errors="replace"),
                             kind="system-library", files=sorted(libraries)))
    return out


def collect(pure: list, binaries: list, datas: list, *, linux: bool) -> list[dict[str, object]]:
    """Every third-party component of a bundle, Qt and Python first."""
    names = top_level_names(pure, binaries, datas)
    components = [
        component("Qt", qt_version(), QT_LICENSE, "https://www.qt.io", _text(*QT_TEXTS), kind="qt",
                  notice=QT_NOTE),
        component("Python", sys.version.split()[0], "PSF-2.0", "https://www.python.org", python_license(),
                  kind="python-runtime"),
        *python_components(distributions_for(names)),
    ]
    if linux:
        components += system_components(binaries)
    return components


def as_text(components: list[dict[str, object]]) -> str:
    """For people: the list, then each part with its text (a text shared by several printed once)."""
    parts = ["Vendo Tray includes the following third-party software.\n"]
    parts += [f"  {c['name']} {c['version']}: {c['license']}" for c in components]
    first_with: dict[str, str] = {}
    for c in components:
        rule = "=" * 78
        parts.append(f"\n{rule}\n{c['name']} {c['version']} ({c['license']})\n{c['url']}\n{rule}\n")
        if c["files"]:
            parts.append("Files: " + ", ".join(c["files"]) + "\n")
        if c["notice"]:
            parts.append(f"{c['notice']}\n")
        same = first_with.setdefault(str(c["text"]), str(c["name"]))
        parts.append(str(c["text"]) if same == c["name"] else f"(The same license text as {same}, above.)")
    return "\n".join(parts) + "\n"


def our_license() -> dict[str, str]:
    """Vendo Tray's own license: the expression pyproject declares and the LICENSE text."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {"license": project["license"], "text": (ROOT / "LICENSE").read_text(encoding="utf-8"),
            "url": project["urls"]["Source"]}


def write(components: list[dict[str, object]], out: Path) -> tuple[Path, Path]:
    """The JSON (for the app and the .deb) and the text (for people) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    data = out / JSON_NAME
    data.write_text(json.dumps({"app": our_license(), "components": components}, indent=1), encoding="utf-8")
    text = out / TEXT_NAME
    text.write_text(as_text(components), encoding="utf-8")
    return data, text


def generate(pure: list, binaries: list, datas: list, out: Path, *, linux: bool) -> tuple[Path, Path]:
    """Write the JSON and text notices into ``out``; return their paths."""
    components = collect(pure, binaries, datas, linux=linux)
    data, text = write(components, out)
    print(f"notices: {len(components)} third-party components -> {data}")
    return data, text
