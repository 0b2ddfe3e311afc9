"""The "Connections" table model: the reconciler's snapshot, one row per connection.

Connections needing the user (needs_reauth, error, revoked) sort first, so
the rows that matter are the ones visible without scrolling; the rest follow
by name.  The list is small (tens), so it is held whole and replaced on every
snapshot.  A muted connection (``AppState.mutes``) says so in its Message cell,
with the tray's "paused" icon: "Muted until 14:30".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QBrush

from vendo_tray.client import Connection
from vendo_tray.core.display import (
    connection_action_label,
    mute_text,
    needs_action,
    status_label,
    status_severity,
)
from vendo_tray.core.kinds import ConnectionStatus
from vendo_tray.core.state import Mute
from vendo_tray.ui.icons import TrayIconName, tray_icon
from vendo_tray.ui.palette import SEVERITY_COLORS, brand_color, dot_icon, severity_color
from vendo_tray.ui.table_model import HeaderedTableModel, Index

CONNECTION_ROLE = Qt.ItemDataRole.UserRole + 1

NAME, STATUS, MESSAGE, ACTION, APP = range(5)
#: The App column is last: the window hides it while one app is watched.
HEADERS = ("Connection", "Status", "Message", "Action", "App")

_NEUTRAL = "#a0a7b3"

#: Statuses the live wire documents (for column sizing; unknown ones still show).
KNOWN_STATUSES = tuple(ConnectionStatus)


def _order(connection: Connection) -> tuple[int, str]:
    return (0 if needs_action(connection) else 1, (connection.display_name or connection.slug).lower())


class ConnectionTableModel(HeaderedTableModel):
    """Rows = the snapshot's connections (of one app, or of several), those needing action first."""

    HEADERS = HEADERS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Connection] = []
        self._apps: list[str | None] = []  # each row's app id
        self._app_names: dict[str, str] = {}
        self._mutes: dict[tuple[str | None, str], Mute] = {}

    def set_connections(self, connections: Iterable[Connection], apps: Iterable[str | None] | None = None,
                        mutes: Mapping[tuple[str | None, str], Mute] | None = None) -> bool:
        """Replace the rows (``apps``: each connection's app id, in the same order) and the mutes
        (by the row's app id and slug); False when nothing changed."""
        listed = list(connections)
        pairs = sorted(zip(listed, apps if apps is not None else [None] * len(listed), strict=True),
                       key=lambda pair: _order(pair[0]))
        rows, row_apps = [c for c, _ in pairs], [a for _, a in pairs]
        by_row = dict(mutes or {})
        if (rows, row_apps, by_row) == (self._rows, self._apps, self._mutes):
            return False
        self.beginResetModel()
        self._rows, self._apps, self._mutes = rows, row_apps, by_row
        self.endResetModel()
        return True

    def set_app_names(self, names: Mapping[str, str]) -> None:
        """Each app's name by id, for the App column."""
        self._app_names = dict(names)
        if self._rows:
            self.dataChanged.emit(self.index(0, APP), self.index(len(self._rows) - 1, APP))

    def mute_at(self, row: int) -> Mute | None:
        """The mute of the connection in ``row``, or None when its notifications are on."""
        conn = self.connection_at(row)
        return self._mutes.get((self.app_at(row), conn.slug)) if conn is not None else None

    def connection_at(self, row: int) -> Connection | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def app_at(self, row: int) -> str | None:
        """The id of the app row ``row``'s connection belongs to (None: the only app)."""
        return self._apps[row] if 0 <= row < len(self._apps) else None

    def row_of(self, slug: str) -> int | None:
        return next((i for i, c in enumerate(self._rows) if c.slug == slug), None)

    def row_total(self) -> int:
        return len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        conn = self.connection_at(index.row()) if index.isValid() else None
        if conn is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == NAME:
                return conn.display_name or conn.slug
            if column == STATUS:
                return status_label(conn.status)
            if column == MESSAGE:
                muted = mute_text(self.mute_at(index.row()))
                return " · ".join(filter(None, (muted[:1].upper() + muted[1:], conn.error_message)))
            if column == ACTION:
                return connection_action_label(conn)
            if column == APP:
                app = self.app_at(index.row())
                return self._app_names.get(app, app) if app else ""
        elif role == Qt.ItemDataRole.DecorationRole:
            if column == NAME:
                color = brand_color(conn.brand_color)
                return dot_icon(color.name() if color is not None else _NEUTRAL)
            if column == STATUS:
                return dot_icon(SEVERITY_COLORS[status_severity(conn.status)])
            if column == MESSAGE and self.mute_at(index.row()) is not None:
                return tray_icon(TrayIconName.PAUSED)
        elif role == Qt.ItemDataRole.ForegroundRole and column == STATUS:
            return QBrush(severity_color(status_severity(conn.status)))
        elif role == Qt.ItemDataRole.ToolTipRole:
            if column == NAME:
                category = f" · {conn.category}" if conn.category else ""
                return f"{conn.display_name} ({conn.slug}){category}"
            if column == MESSAGE and (muted := mute_text(self.mute_at(index.row()))):
                return f"Notifications {muted} (right-click to change)" + (
                    f"\n{conn.error_message}" if conn.error_message else "")
            if column == MESSAGE and conn.error_message:
                return conn.error_message
            if column == STATUS:
                return conn.status
        elif role == CONNECTION_ROLE:
            return conn
        return None
