"""Where PyInstaller finds ``vendo_tray.resources``: the top-level resources/ folder.

WHY: pyproject maps that folder into the package (package-dir), which pip and
importlib understand but PyInstaller's import scan does not: it looks for
submodules only inside ``app/vendo_tray/``. Pointing the search at the project
root makes it find ``resources/__init__.py`` as ``vendo_tray.resources``.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def pre_find_module_path(api):
    api.search_dirs = [str(ROOT)]
