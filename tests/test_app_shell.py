"""ui.app.TrayApp's own plumbing, without the monitor: what settings do in demo mode, the About box."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from vendo_tray.core.settings import Settings
from vendo_tray.ui.app import TrayApp


class _Monitor:
    """Only what apply_settings touches."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.applied: list[Settings] = []

    def apply_settings(self, settings: Settings) -> None:
        self.applied.append(settings)
        self.settings = settings


def _shell(qapp, tmp_path: Path, *, demo: bool) -> TrayApp:
    shell = TrayApp(qapp, demo=demo, log_path=tmp_path / "log" / "vendo-tray.log",
                    config_dir=tmp_path / "config")
    shell.monitor = _Monitor()
    return shell


def test_demo_settings_apply_but_touch_no_login_item_or_file(qapp, tmp_path: Path) -> None:
    """The dialog says demo changes are for this run only: no autostart entry, no settings file."""
    shell = _shell(qapp, tmp_path, demo=True)
    shell.apply_settings(Settings(start_at_login=True))
    assert shell.monitor.applied[-1].start_at_login is True
    assert not shell.autostart.is_enabled()
    assert not (tmp_path / "config").exists()
    shell.tray.dispose()


def test_start_at_login_is_written_outside_the_demo(qapp, tmp_path: Path) -> None:
    shell = _shell(qapp, tmp_path, demo=False)
    shell.apply_settings(Settings(start_at_login=True))
    assert shell.autostart.is_enabled()
    shell.apply_settings(Settings(start_at_login=False))
    assert not shell.autostart.is_enabled()
    shell.tray.dispose()


def test_about_twice_shows_one_box(qapp, qtbot, tmp_path: Path) -> None:
    shell = _shell(qapp, tmp_path, demo=False)
    shell.window = QWidget()  # a parent keeps every box alive: they used to pile up
    qtbot.addWidget(shell.window)
    shell.show_about()
    shell.show_about()
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
    assert len(boxes) == 1
    boxes[0].close()
    shell.window = None
    shell.tray.dispose()


def test_closing_settings_while_a_key_test_runs_does_not_break_it(qapp, qtbot, tmp_path: Path) -> None:
    """Test and Save finish after the user may have closed the dialog: the widgets they
    report to must still exist (a deleted dialog raised RuntimeError in the task)."""
    import asyncio

    import qasync
    from PySide6.QtCore import QCoreApplication, QEvent

    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    try:
        answer: asyncio.Future[str] = loop.create_future()

        async def test_key(key: str, base_url: str) -> str:
            return await answer

        shell = _shell(qapp, tmp_path, demo=False)
        shell.monitor.test_key = test_key
        shell.monitor.state = type("S", (), {"key_source": "keyring"})()
        shell._key = "vendo_sk_test_shell"
        shell.open_settings()
        dialog = shell.settings_dialog
        dialog.test_key.click()
        (task,) = dialog._tasks
        dialog.close()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        answer.set_result("OK: 8 connections")
        loop.run_until_complete(asyncio.wait_for(task, 5))
        assert task.exception() is None
        shell.open_settings()  # opening it again is the same dialog, with the answer
        assert shell.settings_dialog is dialog and dialog.key_status.text() == "OK: 8 connections"
        dialog.close()
        shell.tray.dispose()
    finally:
        loop.close()
        asyncio.set_event_loop(None)
