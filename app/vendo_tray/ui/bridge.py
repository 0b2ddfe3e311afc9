"""The fleet's listener, turned into Qt signals.

WHY: core stays Qt-free and calls plain methods (``FleetListener``); the
widgets want signals so several of them (tray, window, notifier, settings)
can follow the same state without the monitor knowing any of them.  The
monitor runs on the qasync loop, which is the GUI thread, so the signals are
delivered directly.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from vendo_tray.core.kinds import VendoEvent
from vendo_tray.core.notices import Notice, Withdraw
from vendo_tray.core.state import FleetState


class MonitorBridge(QObject):
    """Implements ``core.fleet.FleetListener``; re-emits each call as a signal."""

    state_changed_signal = Signal(object)   # FleetState
    event_recorded_signal = Signal(object)  # VendoEvent
    notice_signal = Signal(object)          # Notice | Withdraw

    def state_changed(self, state: FleetState) -> None:
        self.state_changed_signal.emit(state)

    def event_recorded(self, event: VendoEvent) -> None:
        self.event_recorded_signal.emit(event)

    def notice(self, item: Notice | Withdraw) -> None:
        self.notice_signal.emit(item)
