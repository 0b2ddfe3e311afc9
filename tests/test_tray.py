"""The tray under Xvfb with a real tray host (trayer): each state's icon and tooltip, the menu."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter
from PySide6.QtWidgets import QSystemTrayIcon, QWidget

import desktop
from vendo_tray.client import Balance, Connection
from vendo_tray.core.apps import AppProfile
from vendo_tray.core.runway import Basis, Runway
from vendo_tray.core.state import AppState, AppStatus, FleetState, Phase, Snapshot
from vendo_tray.ui.icons import SIZES, TrayIconName, render_pixmap, tray_icon
from vendo_tray.ui.tray import TrayController, status_line, tooltip_text

pytestmark = pytest.mark.desktop

NOW = datetime(2026, 5, 2, 12, 0, tzinfo=timezone.utc)


def _conn(slug: str, status: str) -> Connection:
    return Connection(id=f"conn_{slug}", slug=slug, display_name=slug.title(), status=status)


HEALTHY = Snapshot(connections=tuple(_conn(f"c{i}", "connected") for i in range(12)),
                   balance=Balance(credits_remaining_micros=4_200_000), taken_at=NOW)
TROUBLED = Snapshot(connections=(_conn("slack", "needs_reauth"), _conn("github", "error"),
                                 _conn("notion", "connected")),
                    balance=Balance(credits_remaining_micros=300_000), taken_at=NOW)
PAUSE_END = datetime.now(timezone.utc) + timedelta(hours=1)

#: (state, expected icon, words the tooltip must contain)
CASES = [
    (AppState(phase=Phase.CONNECTING), TrayIconName.CONNECTING, ["Connecting"]),
    (AppState(phase=Phase.LIVE, snapshot=HEALTHY), TrayIconName.LIVE,
     ["Live · 12 connections\n$4.20"]),
    (AppState(phase=Phase.LIVE, snapshot=HEALTHY, runway=Runway(4_200_000, per_day=1_400_000, basis=Basis.TODAY)),
     TrayIconName.LIVE, ["Live · 12 connections\n$4.20 · about 3 days left at today's rate"]),
    (AppState(phase=Phase.LIVE, snapshot=HEALTHY, runway=Runway(4_200_000)), TrayIconName.LIVE,
     ["$4.20 · too little history yet to say how long it lasts"]),
    (AppState(phase=Phase.RECONNECTING, retry_in=4, detail="connection refused", snapshot=HEALTHY),
     TrayIconName.RECONNECTING, ["Reconnecting", "Next attempt in 4 s", "connection refused"]),
    (AppState(phase=Phase.OFFLINE, retry_in=30, detail="gave up after 3 attempts"),
     TrayIconName.OFFLINE, ["Offline", "Next attempt in 30 s", "gave up after 3 attempts"]),
    (AppState(phase=Phase.KEY_MISSING), TrayIconName.KEY, ["No API key", "Click to add your API key"]),
    (AppState(phase=Phase.KEY_REJECTED, detail="Key rejected: unknown app (app_unknown)"),
     TrayIconName.KEY, ["API key rejected", "app_unknown", "Click to fix"]),
    (AppState(phase=Phase.LIVE, snapshot=TROUBLED), TrayIconName.ATTENTION,
     ["Live · 3 connections (2 need action)\n$0.30", "2 connections need action"]),
    (AppState(phase=Phase.LIVE, snapshot=HEALTHY, paused_until=PAUSE_END), TrayIconName.PAUSED,
     ["Notifications paused until"]),
    (AppState(phase=Phase.LIVE, snapshot=HEALTHY, demo=True), TrayIconName.LIVE, ["Vendo Tray — Demo"]),
]


def _same_image(a: QImage, b: QImage) -> bool:
    a = a.convertToFormat(QImage.Format.Format_ARGB32)
    b = b.convertToFormat(QImage.Format.Format_ARGB32)
    return a.size() == b.size() and a == b


@pytest.fixture
def tray(qapp, tray_host: None):
    controller = TrayController()
    controller.show()
    assert QSystemTrayIcon.isSystemTrayAvailable()
    yield controller
    controller.dispose()
    controller.deleteLater()
    qapp.processEvents()


@pytest.mark.parametrize(("state", "icon", "words"), CASES, ids=[c[1].value + str(i) for i, c in enumerate(CASES)])
def test_each_state_has_its_icon_and_tooltip(tray: TrayController, qtbot, state: AppState,
                                             icon: TrayIconName, words: list[str]) -> None:
    tray.render(state)
    assert tray.icon_name == icon.value
    badge = state.attention if icon is TrayIconName.ATTENTION else 0
    for size in (16, 22, 32):
        shown = tray.icon.icon().pixmap(size, size).toImage()
        assert _same_image(shown, render_pixmap(icon.value, size, badge).toImage()), (icon, size)
    tip = tray.icon.toolTip()
    for word in words:
        assert word in tip, (word, tip)
    assert tray.is_visible()


def test_the_icon_is_docked_in_the_tray_host(tray: TrayController, qtbot) -> None:
    qtbot.waitUntil(lambda: tray.icon.geometry().width() > 0, timeout=5000)
    geometry = tray.icon.geometry()
    assert 16 <= geometry.width() <= 64


def test_attention_badge_changes_with_the_count(qapp) -> None:
    two = tray_icon("attention", 2).pixmap(32, 32).toImage()
    three = tray_icon("attention", 3).pixmap(32, 32).toImage()
    plain = tray_icon("attention", 0).pixmap(32, 32).toImage()
    assert not _same_image(two, three) and not _same_image(two, plain)


def test_every_state_icon_is_crisp_at_every_size(qapp) -> None:
    """Each size is drawn from the vectors: opaque centre, transparent corners, no scaling blur."""
    for name in TrayIconName:
        for size in SIZES:
            image = render_pixmap(name.value, size).toImage()
            assert (image.width(), image.height()) == (size, size)
            assert image.pixelColor(0, 0).alpha() == 0
            assert image.pixelColor(size // 2, size // 8).alpha() == 255  # inside the disc


def test_menu_has_every_entry_and_status_line(tray: TrayController) -> None:
    tray.render(CASES[1][0])
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts[0] == "Live · 12 connections · $4.20"
    assert tray.menu.actions()[0].font().bold()
    for wanted in ("Open Vendo Tray", "Pause notifications", "Reconnect now", "Settings…",
                   "Open dashboard", "About Vendo Tray", "Quit"):
        assert wanted in texts, (wanted, texts)
    pause = [a.text() for a in tray.pause_menu.actions() if not a.isSeparator()]
    assert pause == ["For 1 hour", "Until tomorrow", "Resume notifications"]
    assert not tray.resume_action.isEnabled()


def test_menu_choices_become_signals(tray: TrayController, qtbot) -> None:
    with qtbot.waitSignal(tray.pause_requested) as paused:
        tray.pause_hour_action.trigger()
    until = paused.args[0]
    assert timedelta(minutes=59) < until - datetime.now().astimezone() <= timedelta(hours=1)
    with qtbot.waitSignal(tray.reconnect_requested):
        tray.reconnect_action.trigger()
    with qtbot.waitSignal(tray.quit_requested):
        tray.quit_action.trigger()
    with qtbot.waitSignal(tray.open_window_requested):  # the status line opens the window
        tray.status_action.trigger()
    tray.render(AppState(phase=Phase.LIVE, paused_until=PAUSE_END))
    assert tray.resume_action.isEnabled()
    with qtbot.waitSignal(tray.resume_requested):
        tray.resume_action.trigger()


def test_left_click_opens_the_window_or_the_settings_without_a_key(tray: TrayController, qtbot) -> None:
    tray.render(AppState(phase=Phase.LIVE))
    with qtbot.waitSignal(tray.open_window_requested):
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    tray.render(AppState(phase=Phase.KEY_REJECTED))
    with qtbot.waitSignal(tray.open_settings_requested):
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)


def _menu_pause_end(qapp, qtbot, now: datetime, item: str) -> datetime:
    """Choose a Pause menu item with the wall clock at ``now``; when the pause it asks for ends."""
    controller = TrayController(now=lambda: now)
    try:
        action = {"hour": controller.pause_hour_action, "tomorrow": controller.pause_tomorrow_action}[item]
        with qtbot.waitSignal(controller.pause_requested) as blocker:
            action.trigger()
        return blocker.args[0]
    finally:
        controller.dispose()
        controller.deleteLater()
        qapp.processEvents()


def test_menu_until_tomorrow_at_1am_ends_at_the_coming_morning_not_31_hours_later(qapp, qtbot) -> None:
    night = datetime(2026, 5, 2, 1, 0).astimezone()
    assert _menu_pause_end(qapp, qtbot, night, "tomorrow") == night.replace(hour=8)


def test_menu_until_tomorrow_in_the_evening_ends_the_next_morning(qapp, qtbot) -> None:
    evening = datetime(2026, 5, 2, 22, 30).astimezone()
    until = _menu_pause_end(qapp, qtbot, evening, "tomorrow")
    assert until.date() == evening.date() + timedelta(days=1) and (until.hour, until.minute) == (8, 0)


def test_menu_for_one_hour_ends_an_hour_from_now(qapp, qtbot) -> None:
    noon = datetime(2026, 5, 2, 12, 0).astimezone()
    assert _menu_pause_end(qapp, qtbot, noon, "hour") == noon + timedelta(hours=1)


def test_status_line_before_the_first_snapshot_says_only_the_phase() -> None:
    assert status_line(AppState()) == "Connecting…"
    assert "Vendo Tray" in tooltip_text(AppState())


class _Wallpaper(QWidget):
    """A calm desktop behind the menu (Xvfb's root is black)."""

    def paintEvent(self, event) -> None:  # noqa: ANN001, N802
        painter = QPainter(self)
        gradient = QLinearGradient(0, 0, 0, self.height())
        gradient.setColorAt(0, QColor("#5d7290"))
        gradient.setColorAt(1, QColor("#2e3b4e"))
        painter.fillRect(self.rect(), gradient)


def _show_wallpaper(qtbot) -> None:
    wallpaper = _Wallpaper()
    wallpaper.setWindowFlags(Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnBottomHint)
    wallpaper.setGeometry(0, 0, 1280, 800)
    wallpaper.show()
    wallpaper.lower()  # no window manager: stack it under trayer's panel ourselves
    qtbot.addWidget(wallpaper)


def test_screenshot_of_the_tray_menu(tray: TrayController, qtbot, xvfb_display: str,
                                     screenshots_dir: Path, tmp_path: Path) -> None:
    _show_wallpaper(qtbot)
    tray.render(AppState(phase=Phase.LIVE, snapshot=TROUBLED, demo=False))
    qtbot.waitUntil(lambda: tray.icon.geometry().width() > 0, timeout=5000)
    # Where a panel puts a tray menu: under the icon, against the screen's right edge.
    tray.menu.popup(QPoint(1280 - tray.menu.sizeHint().width() - 4, 34))
    qtbot.waitUntil(tray.menu.isVisible, timeout=3000)
    qtbot.wait(300)
    full = desktop.screenshot(tmp_path / "full.png", xvfb_display)
    menu = tray.menu.geometry()
    left = max(0, menu.left() - 160)
    crop = f"{1280 - left}x{menu.bottom() + 60}+{left}+0"
    out = screenshots_dir / "tray-menu.png"
    subprocess.run(["convert", str(full), "-crop", crop, "+repage", str(out)], check=True, timeout=30)
    tray.menu.hide()
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("phase", list(Phase), ids=str)
def test_tray_and_window_name_each_phase_with_the_same_words(phase: Phase) -> None:
    from vendo_tray.core.display import phase_text, phase_word

    state = AppState(phase=phase)
    assert status_line(state).split(" · ")[0] == phase_word(phase) == phase_text(state)


PROD = AppProfile("prod", "prod", "https://api.vendo.run")
STAGING = AppProfile("staging", "staging", "https://staging.vendo.run")


def _two_apps(staging: AppState | None = None) -> FleetState:
    return FleetState((AppStatus(PROD, AppState(phase=Phase.LIVE, snapshot=HEALTHY)),
                       AppStatus(STAGING, staging or AppState(phase=Phase.LIVE, snapshot=TROUBLED))))


def test_one_app_keeps_the_single_app_menu(tray: TrayController) -> None:
    tray.render(FleetState((AppStatus(PROD, CASES[1][0]),)))
    assert tray.app_menus == {}
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts[0] == "Live · 12 connections · $4.20"
    assert "prod" not in tray.icon.toolTip() and tray.dashboard_action.isVisible()


def test_several_apps_show_the_worst_icon_and_a_submenu_each(tray: TrayController, qtbot) -> None:
    tray.render(_two_apps(AppState(phase=Phase.KEY_REJECTED, detail="Key rejected: app_revoked")))
    assert tray.icon_name == TrayIconName.KEY.value                      # the worst app's icon
    assert list(tray.app_menus) == ["prod", "staging"]
    titles = [m.title() for m in tray.app_menus.values()]
    assert titles == ["prod — Live · 12 connections · $4.20", "staging — API key rejected"]
    assert tray.status_action.text() == "staging: API key rejected"
    tip = tray.icon.toolTip().splitlines()
    assert tip[1:] == ["prod: Live · 12 connections · $4.20", "staging: API key rejected",
                       "staging: Key rejected: app_revoked"]
    assert tray.pause_menu.title() == "Pause all notifications" and not tray.dashboard_action.isVisible()
    reconnect, pause_hour, _tomorrow, resume, dashboard = tray.app_menus["staging"].actions()
    with qtbot.waitSignal(tray.app_reconnect_requested) as reconnected:
        reconnect.trigger()
    assert reconnected.args == ["staging"]
    with qtbot.waitSignal(tray.app_pause_requested) as paused:
        pause_hour.trigger()
    assert paused.args[1] == "staging"
    with qtbot.waitSignal(tray.app_dashboard_requested) as opened:
        dashboard.trigger()
    assert opened.args == ["staging"]
    assert not resume.isEnabled()
    tray.render(_two_apps(AppState(phase=Phase.LIVE, paused_until=PAUSE_END)))
    assert tray.app_menus["staging"].actions()[3].isEnabled()
    assert "paused until" in tray.app_menus["staging"].title()
    assert tray.pause_menu.title() == "Pause all notifications"        # prod is not paused


def test_back_to_one_app_the_submenus_go(tray: TrayController) -> None:
    tray.render(_two_apps())
    assert len(tray.app_menus) == 2
    tray.render(FleetState((AppStatus(PROD, CASES[1][0]),)))
    assert tray.app_menus == {} and not any(a.menu() for a in tray.menu.actions() if a.menu() is not tray.pause_menu)


def test_screenshot_of_the_two_app_tray_menu(tray: TrayController, qtbot, xvfb_display: str,
                                             screenshots_dir: Path, tmp_path: Path) -> None:
    _show_wallpaper(qtbot)
    tray.render(_two_apps())
    qtbot.waitUntil(lambda: tray.icon.geometry().width() > 0, timeout=5000)
    tray.menu.popup(QPoint(1280 - tray.menu.sizeHint().width() - 4, 34))
    qtbot.waitUntil(tray.menu.isVisible, timeout=3000)
    staging = tray.app_menus["staging"]
    tray.menu.setActiveAction(staging.menuAction())      # hover staging: its submenu opens
    staging.popup(QPoint(tray.menu.geometry().left() - staging.sizeHint().width(),
                         tray.menu.actionGeometry(staging.menuAction()).top() + tray.menu.geometry().top()))
    qtbot.waitUntil(staging.isVisible, timeout=3000)
    qtbot.wait(300)
    full = desktop.screenshot(tmp_path / "full.png", xvfb_display)
    left = max(0, staging.geometry().left() - 20)
    crop = f"{1280 - left}x{tray.menu.geometry().bottom() + 60}+{left}+0"
    out = screenshots_dir / "tray-menu-two-apps.png"
    subprocess.run(["convert", str(full), "-crop", crop, "+repage", str(out)], check=True, timeout=30)
    staging.hide()
    tray.menu.hide()
    assert out.stat().st_size > 1000
