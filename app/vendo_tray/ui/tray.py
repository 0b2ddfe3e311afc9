"""The tray icon and its menu: a view of the apps' states, plus signals for the user's choices.

The tray decides nothing about the product: the fleet says what each app's
state is and which is worst (``core.state.FleetState``), :func:`render` shows it
(icon, tooltip, status line, pause marks), and menu choices leave as signals
that ``ui.app`` connects to the fleet, the window and the dialogs.  With one app
the menu is the single-app menu it always was; with several, each app gets a
submenu (its state, Reconnect, Pause/Resume, Open dashboard) and the pause and
reconnect items act on all of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from vendo_tray import APP_NAME
from vendo_tray.core.display import balance_runway_text, balance_text, need_action_text, phase_word, until_text
from vendo_tray.core.policy import in_one_hour, local_now, next_morning
from vendo_tray.core.state import AppState, AppStatus, FleetState, Phase
from vendo_tray.ui.icons import icon_for_state, icon_name_for

log = logging.getLogger(__name__)


def status_line(state: AppState, *, balance: bool = True) -> str:
    """The menu's first line: ``"Live · 12 connections · $4.20"``."""
    parts = [phase_word(state.phase)]
    snapshot = state.snapshot
    if snapshot.taken_at is not None or snapshot.connections:
        count = len(snapshot.connections)
        text = f"{count} connection{'s' if count != 1 else ''}"
        if state.attention:
            text += f" ({need_action_text(state.attention)})"
        parts.append(text)
    if balance and snapshot.balance is not None:
        parts.append(balance_text(snapshot.balance))
    return " · ".join(parts)


def tooltip_text(state: AppState) -> str:
    """Several short lines: who we are, the status line, how long the money lasts, what needs the user."""
    lines = [f"{APP_NAME} — Demo" if state.demo else APP_NAME, status_line(state, balance=False)]
    if state.snapshot.balance is not None:
        lines.append(balance_runway_text(state.snapshot.balance, state.runway))
    if state.attention:
        lines.append(need_action_text(state.attention, "connection"))
    if state.phase in (Phase.RECONNECTING, Phase.OFFLINE) and state.retry_in is not None:
        lines.append(f"Next attempt in {max(0, round(state.retry_in))} s")
    if state.phase is Phase.KEY_MISSING:
        lines.append("Click to add your API key")
    elif state.phase is Phase.KEY_REJECTED:
        lines.append("Click to fix your API key")
    if state.detail and state.phase is not Phase.LIVE:
        lines.append(state.detail)
    if state.paused_until is not None:
        lines.append(f"Notifications paused until {until_text(state.paused_until)}")
    return "\n".join(lines)


def fleet_tooltip_text(fleet: FleetState) -> str:
    """With several apps: who we are, then one line per app (its state, balance and runway), then the worst's detail."""
    if not fleet.several:
        return tooltip_text(fleet.state)
    lines = [f"{APP_NAME} — Demo" if fleet.demo else APP_NAME]
    for status in fleet.apps:
        state = status.state
        line = f"{status.app.name}: {status_line(state, balance=False)}"
        if state.snapshot.balance is not None:
            line += f" · {balance_runway_text(state.snapshot.balance, state.runway)}"
        lines.append(line)
    worst = fleet.worst
    if worst is not None and worst.state.detail and worst.state.phase is not Phase.LIVE:
        lines.append(f"{worst.app.name}: {worst.state.detail}")
    return "\n".join(lines)


def fleet_line(fleet: FleetState) -> str:
    """The menu's first line: the one app's status line, or with several the worst app's (or "all live")."""
    worst = fleet.worst
    if not fleet.several or worst is None:
        return status_line(fleet.state)
    if all(s.state.phase is Phase.LIVE and not s.state.attention for s in fleet.apps):
        return f"{phase_word(Phase.LIVE)} · {len(fleet.apps)} apps"
    return f"{worst.app.name}: {status_line(worst.state, balance=False)}"


def _all_paused_until(fleet: FleetState) -> datetime | None:
    """When every app's pause ends (the earliest), None unless every app is paused."""
    ends = [s.state.paused_until for s in fleet.apps] or [fleet.state.paused_until]
    return None if any(end is None for end in ends) else min(e for e in ends if e is not None)


class TrayController(QObject):
    """Owns the QSystemTrayIcon and its menu.

    ``now`` (aware local wall time) is injected so a test can open the menu at 01:00;
    when a pause ends is core's rule (:func:`next_morning`, :func:`in_one_hour`), not the tray's.
    """

    open_window_requested = Signal()
    open_settings_requested = Signal()
    reconnect_requested = Signal()
    pause_requested = Signal(object)  # datetime
    resume_requested = Signal()
    open_dashboard_requested = Signal()
    about_requested = Signal()
    quit_requested = Signal()
    #: One app's own items (several apps): its id, and for a pause the datetime first.
    app_reconnect_requested = Signal(str)
    app_pause_requested = Signal(object, str)
    app_resume_requested = Signal(str)
    app_dashboard_requested = Signal(str)

    def __init__(self, parent: QObject | None = None, now: Callable[[], datetime] = local_now) -> None:
        super().__init__(parent)
        self._now = now
        self.state = AppState()
        self.fleet = FleetState()
        #: Several apps: each app's submenu, by id, in the list's order.
        self.app_menus: dict[str, QMenu] = {}
        self._apps_shown: tuple[tuple[str, str], ...] = ()
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self._build_menu()
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.render(self.state)

    # -- menu ------------------------------------------------------------
    def _build_menu(self) -> None:
        m = self.menu
        # The status line is live text, in bold, and opens the window: greyed-out
        # (disabled) text is the hardest thing in a menu to read.
        self.status_action = m.addAction("", self.open_window_requested.emit)
        font = self.status_action.font()
        font.setBold(True)
        self.status_action.setFont(font)
        m.addSeparator()
        # Several apps: their submenus go between these two (one app: Qt shows one line).
        self.apps_separator = m.addSeparator()
        self.open_action = m.addAction("Open Vendo Tray", self.open_window_requested.emit)
        self.pause_menu = m.addMenu("Pause notifications")
        group = QActionGroup(self.pause_menu)
        group.setExclusive(True)
        self.pause_hour_action = self._pause_item(
            "For 1 hour", group, lambda: self.pause_requested.emit(in_one_hour(self._now())))
        self.pause_tomorrow_action = self._pause_item(
            "Until tomorrow", group, lambda: self.pause_requested.emit(next_morning(self._now())))
        self.pause_menu.addSeparator()
        self.resume_action = self.pause_menu.addAction("Resume notifications", self.resume_requested.emit)
        self.reconnect_action = m.addAction("Reconnect now", self.reconnect_requested.emit)
        m.addSeparator()
        self.settings_action = m.addAction("Settings…", self.open_settings_requested.emit)
        self.dashboard_action = m.addAction("Open dashboard", self.open_dashboard_requested.emit)
        self.about_action = m.addAction(f"About {APP_NAME}", self.about_requested.emit)
        m.addSeparator()
        self.quit_action = m.addAction("Quit", self.quit_requested.emit)

    def _pause_item(self, text: str, group: QActionGroup, slot: Callable[[], None]) -> QAction:
        action = self.pause_menu.addAction(text)
        action.setCheckable(True)
        group.addAction(action)
        action.triggered.connect(slot)
        return action

    # -- rendering -------------------------------------------------------
    def render(self, state: AppState | FleetState) -> None:
        """Show the apps' states: icon (the worst app's, with badge), tooltip, status line, menu marks."""
        fleet = state if isinstance(state, FleetState) else FleetState.of_one(state)
        self.fleet = fleet
        state = fleet.state
        self.state = state
        self.icon.setIcon(icon_for_state(state))
        self.icon.setToolTip(fleet_tooltip_text(fleet))
        line = fleet_line(fleet)
        self.status_action.setText(f"{line} · Demo" if state.demo else line)
        self._render_apps(fleet)
        paused_until = _all_paused_until(fleet)
        self.resume_action.setEnabled(any(s.state.paused for s in fleet.apps) or state.paused)
        if paused_until is None:
            for action in (self.pause_hour_action, self.pause_tomorrow_action):
                action.setChecked(False)
        every = " all" if fleet.several else ""
        self.pause_menu.setTitle(
            f"Notifications paused until {until_text(paused_until)}" if paused_until
            else f"Pause{every} notifications")
        self.resume_action.setText(f"Resume{every} notifications")
        self.reconnect_action.setText("Reconnect all" if fleet.several else "Reconnect now")
        self.reconnect_action.setEnabled(state.phase is not Phase.KEY_MISSING or fleet.several)
        self.dashboard_action.setVisible(not fleet.several)  # each app's submenu has its own

    def _render_apps(self, fleet: FleetState) -> None:
        """Several apps: a submenu per app, rebuilt when the list changes, retitled on every state."""
        shown = tuple((s.app.id, s.app.name) for s in fleet.apps) if fleet.several else ()
        if shown != self._apps_shown:
            for menu in self.app_menus.values():
                self.menu.removeAction(menu.menuAction())
                menu.deleteLater()
            self.app_menus = {app_id: self._app_menu(app_id) for app_id, _ in shown}
            self._apps_shown = shown
        for status in fleet.apps if shown else ():
            self._render_app(self.app_menus[status.app.id], status)

    def _app_menu(self, app_id: str) -> QMenu:
        menu = QMenu()
        self.menu.insertMenu(self.apps_separator, menu)
        menu.addAction("Reconnect now", lambda: self.app_reconnect_requested.emit(app_id))
        menu.addAction("Pause for 1 hour",
                       lambda: self.app_pause_requested.emit(in_one_hour(self._now()), app_id))
        menu.addAction("Pause until tomorrow",
                       lambda: self.app_pause_requested.emit(next_morning(self._now()), app_id))
        menu.addAction("Resume notifications", lambda: self.app_resume_requested.emit(app_id))
        menu.addAction("Open dashboard", lambda: self.app_dashboard_requested.emit(app_id))
        return menu

    def _render_app(self, menu: QMenu, status: AppStatus) -> None:
        state = status.state
        title = f"{status.app.name} — {status_line(state)}"
        if state.paused_until is not None:
            title += f" · paused until {until_text(state.paused_until)}"
        menu.setTitle(title)
        reconnect, pause_hour, pause_tomorrow, resume, _dashboard = menu.actions()
        reconnect.setEnabled(state.phase is not Phase.KEY_MISSING)
        resume.setEnabled(state.paused)

    @property
    def icon_name(self) -> str:
        """The state icon's name (for tests and logs)."""
        return icon_name_for(self.state).value

    # -- visibility ----------------------------------------------------------
    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def is_visible(self) -> bool:
        return self.icon.isVisible()

    # -- clicks ------------------------------------------------------------------
    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason not in (QSystemTrayIcon.ActivationReason.Trigger,
                          QSystemTrayIcon.ActivationReason.DoubleClick):
            return
        # Without a key nothing else is useful: the click goes where it can be fixed.
        if self.state.phase in (Phase.KEY_MISSING, Phase.KEY_REJECTED):
            self.open_settings_requested.emit()
        else:
            self.open_window_requested.emit()

    def dispose(self) -> None:
        self.icon.hide()
        self.icon.setContextMenu(None)  # type: ignore[arg-type]  # Qt takes None (no menu); the stub does not say so
        self.menu.deleteLater()
