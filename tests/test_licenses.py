"""Third-party notices: generated as the bundle build does, read by core, shown by About."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QWidget

from conftest import packaging_module
from vendo_tray import APP_NAME, __version__
from vendo_tray.core import licenses
from vendo_tray.ui.app import TrayApp
from vendo_tray.ui.licenses_dialog import FROM_SOURCE_TEXT, LicensesDialog

ROOT = Path(__file__).resolve().parent.parent


notices = packaging_module("notices")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Notices for a small real bundle: Qt through PySide6, httpx, keyring (as PyInstaller lists them)."""
    pure = [("httpx", "", "PYMODULE"), ("keyring.backends", "", "PYMODULE"), ("shiboken6", "", "PYMODULE")]
    binaries = [("PySide6/QtCore.abi3.so", "", "EXTENSION")]
    data, _text = notices.generate(pure, binaries, [], tmp_path_factory.mktemp("notices"), linux=False)
    return data


def test_generated_notices_name_every_part_with_its_full_text(generated: Path) -> None:
    read = licenses.load(generated, app_name=APP_NAME, version=__version__)
    assert read.ours is not None and read.ours.license == "MIT" and "Permission is hereby granted" in read.ours.text
    by_name = {part.name: part for part in read.third_party}
    assert {"Qt", "Python", "PySide6_Essentials", "shiboken6", "httpx", "keyring"} <= set(by_name)
    assert by_name["Qt"].license == "LGPL-3.0-only" and "GNU LESSER GENERAL PUBLIC LICENSE" in by_name["Qt"].text
    assert "PYTHON SOFTWARE FOUNDATION LICENSE" in by_name["Python"].text
    assert all(part.text.strip() and "UNKNOWN" not in part.license for part in read.third_party)
    assert "vendo-tray" not in {part.name.lower() for part in read.third_party}  # ours is not third-party


def test_the_text_notices_list_the_same_parts(generated: Path) -> None:
    text = (generated.parent / notices.TEXT_NAME).read_text(encoding="utf-8")
    assert "Qt " in text and "httpx " in text and "GNU LESSER GENERAL PUBLIC LICENSE" in text


def test_a_missing_or_broken_file_gives_no_notices_and_a_log_line(tmp_path: Path, caplog) -> None:
    assert licenses.load(tmp_path / "absent.json") == licenses.Notices(None, ())
    broken = tmp_path / "broken.json"
    broken.write_text('{"components": [')
    with caplog.at_level(logging.ERROR):
        assert licenses.load(broken) == licenses.Notices(None, ())
    assert "unreadable" in caplog.text


def test_about_opens_open_source_licenses_listing_qt(qapp, qtbot, tmp_path: Path, generated: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(licenses, "bundled_path", lambda: generated)
    shell = TrayApp(qapp, demo=True, log_path=tmp_path / "log" / "vendo-tray.log", config_dir=tmp_path / "config")
    shell.window = QWidget()
    qtbot.addWidget(shell.window)
    shell.show_about()
    [box] = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    [button] = [b for b in box.buttons() if b.text() == "Open-source licenses"]
    button.click()
    [dialog] = [w for w in QApplication.topLevelWidgets() if isinstance(w, LicensesDialog) and w.isVisible()]
    titles = dialog.titles()
    assert titles[0] == f"{APP_NAME} {__version__} — MIT"
    assert any(t.startswith("Qt ") and t.endswith("LGPL-3.0-only") for t in titles)
    dialog.list.setCurrentRow(next(i for i, t in enumerate(titles) if t.startswith("Qt ")))
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in dialog.text.toPlainText()
    dialog.close()
    shell.window = None
    shell.tray.dispose()
    # The shell's Qt parts go now, while Qt can drop them cleanly, not in a later test's
    # processEvents (conftest's loop fixture says why).
    del shell, box, button, dialog
    gc.collect()
    qapp.processEvents()


def test_from_source_the_viewer_says_where_licenses_are(qapp, qtbot) -> None:
    dialog = LicensesDialog(licenses.Notices(None, ()))
    qtbot.addWidget(dialog)
    assert dialog.titles() == []
    assert FROM_SOURCE_TEXT in [label.text() for label in dialog.findChildren(QLabel)]
