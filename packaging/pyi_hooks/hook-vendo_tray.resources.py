"""Ship every file of resources/ where importlib.resources looks in the bundle.

The package's module comes in through the import scan (see
pre_find_module_path/hook-vendo_tray.resources.py); its files are data.
"""

from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "resources"

datas = [(str(path), str(Path("vendo_tray", "resources", path.relative_to(SOURCE).parent)))
         for path in sorted(SOURCE.rglob("*"))
         if path.is_file() and path.suffix not in (".py", ".pyc")]
