"""The details pane under the events table: what happened, the raw JSON, what to do.

Everything shown comes from the server, so every label is forced to plain
text (QLabel would otherwise render a hostile ``<img src=…>`` as rich text).
The action buttons only *emit* the URL; the window passes it on to the app,
which checks it against the allowlist before anything is opened.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from vendo_tray.core.display import event_severity, exact_time
from vendo_tray.core.event_actions import LinkAction
from vendo_tray.core.kinds import VendoEvent
from vendo_tray.ui.palette import severity_dot

log = logging.getLogger(__name__)

#: The JSON view shows at most this much (the store already caps raw data at 64 kB).
MAX_JSON_CHARS = 200_000


def pretty_json(data: Any) -> str:
    """The event's data as indented JSON; a non-JSON value (truncated raw text) as is."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError) as exc:
            # json.loads accepts nesting deeper than json.dumps can write back.
            log.warning("event data cannot be shown as JSON: %s", type(exc).__name__)
            text = "(this event's data cannot be shown: it is nested too deeply)"
    if len(text) > MAX_JSON_CHARS:
        text = text[:MAX_JSON_CHARS] + "\n… (truncated)"
    return text


def _plain_label(text: str = "", *, wrap: bool = False, selectable: bool = True) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class DetailsPane(QWidget):
    """Shows one event: a summary column with actions, and its JSON with a Copy button."""

    #: An action button was pressed; the URL still has to pass the app's allowlist.
    action_triggered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._event: VendoEvent | None = None
        self._actions: list[LinkAction] = []

        self._stack = QStackedLayout(self)
        self._placeholder = _plain_label("Select an event to see its details.", selectable=False)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setEnabled(False)
        self._stack.addWidget(self._placeholder)

        page = QWidget()
        self._stack.addWidget(page)
        row = QHBoxLayout(page)
        row.setContentsMargins(0, 4, 0, 0)

        info = QWidget()
        info.setMinimumWidth(260)
        info.setMaximumWidth(420)
        info.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        column = QVBoxLayout(info)
        column.setContentsMargins(0, 0, 8, 0)
        title_row = QHBoxLayout()
        self._dot = QLabel()
        self._dot.setFixedWidth(14)
        self.title = _plain_label()
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.title.setFont(font)
        title_row.addWidget(self._dot)
        title_row.addWidget(self.title, 1)
        column.addLayout(title_row)
        self.summary = _plain_label(wrap=True)
        column.addWidget(self.summary)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self.when = _plain_label(wrap=True)
        self.connection = _plain_label(wrap=True)
        self.connection_id = _plain_label(wrap=True)
        self.wire_kind = _plain_label(wrap=True)
        self.event_id = _plain_label(wrap=True)
        form.addRow("When:", self.when)
        form.addRow("Connection:", self.connection)
        form.addRow("Connection id:", self.connection_id)
        form.addRow("Wire kind:", self.wire_kind)
        form.addRow("Event id:", self.event_id)
        column.addLayout(form)
        column.addStretch(1)
        self._buttons_row = QHBoxLayout()
        self._buttons_row.setSpacing(6)
        column.addLayout(self._buttons_row)
        self.action_buttons: list[QPushButton] = []
        row.addWidget(info)

        raw = QWidget()
        raw_column = QVBoxLayout(raw)
        raw_column.setContentsMargins(0, 0, 0, 0)
        raw_header = QHBoxLayout()
        raw_header.addWidget(_plain_label("Event data (JSON)", selectable=False))
        raw_header.addStretch(1)
        self.copy_button = QPushButton("&Copy JSON")
        self.copy_button.setToolTip("Copy the event's JSON to the clipboard")
        self.copy_button.clicked.connect(self.copy_json)
        raw_header.addWidget(self.copy_button)
        raw_column.addLayout(raw_header)
        self.json_view = QPlainTextEdit()
        self.json_view.setReadOnly(True)
        self.json_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.json_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.json_view.setTabChangesFocus(True)
        self.json_view.setAccessibleName("Event data as JSON")
        raw_column.addWidget(self.json_view, 1)
        row.addWidget(raw, 1)

        self._copied_timer = QTimer(self)
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(1500)
        self._copied_timer.timeout.connect(lambda: self.copy_button.setText("&Copy JSON"))

    # Not "event"/"actions": those names are QWidget's own event() and actions().
    @property
    def shown_event(self) -> VendoEvent | None:
        return self._event

    @property
    def link_actions(self) -> list[LinkAction]:
        return list(self._actions)

    def show_event(self, event: VendoEvent | None, actions: Sequence[LinkAction] = (),
                   connection_name: str | None = None, connection_note: str = "") -> None:
        """Show ``event`` (None: the placeholder) with the buttons for ``actions``.

        ``connection_note`` follows the connection's name (its mute: "muted until 14:30").
        """
        self._event = event
        self._actions = list(actions)
        self._set_buttons()
        if event is None:
            self._stack.setCurrentIndex(0)
            self.json_view.clear()
            return
        self._stack.setCurrentIndex(1)
        self._dot.setPixmap(severity_dot(event_severity(event)).pixmap(10, 10))
        self.title.setText(event.kind.label)
        self.summary.setText(event.describe(connection_name))
        when = exact_time(event.when)
        if event.at is not None and abs((event.received_at - event.at).total_seconds()) >= 60:
            when += f" (received {exact_time(event.received_at)})"
        self.when.setText(when)
        name = connection_name or event.slug
        if name and event.slug and name != event.slug:
            name = f"{name} ({event.slug})"
        self.connection.setText((name or "—") + (f" · notifications {connection_note}" if connection_note else ""))
        self.connection_id.setText(event.connection_id or "—")
        self.wire_kind.setText(event.wire_kind)
        self.event_id.setText(event.key or "— (the server sent none)")
        self.json_view.setPlainText(pretty_json(event.data))

    def copy_json(self) -> None:
        if self._event is None:
            return
        QGuiApplication.clipboard().setText(self.json_view.toPlainText())
        self.copy_button.setText("Copied ✓")
        self._copied_timer.start()

    def _set_buttons(self) -> None:
        while self._buttons_row.count():
            item = self._buttons_row.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.action_buttons = []
        for action in self._actions:
            # No URL tooltip: a re-authorize link may carry the API key.
            button = QPushButton(action.label)
            button.clicked.connect(lambda _=False, url=action.url: self.action_triggered.emit(url))
            self._buttons_row.addWidget(button)
            self.action_buttons.append(button)
        self._buttons_row.addStretch(1)
