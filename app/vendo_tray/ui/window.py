"""The main window: recent events (from the store) and connections (from the snapshot).

It is a view, nothing more.  History comes from ``monitor.store`` through
:class:`EventTableModel`, the header and the Connections tab from the
``AppState`` the app passes to :meth:`MainWindow.on_state`, words and colours
from ``core.display``, buttons and their URLs from ``core.event_actions``.
Links are never opened here: :attr:`MainWindow.open_url_requested` hands the
URL (and the app it belongs to) to the shell, which checks it against that
app's allowlist and opens it.

With several Vendo apps (:meth:`MainWindow.on_fleet`) an app filter and an App
column appear; the header, the Connections and Spend tabs show the chosen app
(with "All apps": every app's connections, and the figures of the app that
needs the user most, named in the header).

Closing hides (it is a tray app); size, place, splitter and column widths are
remembered in a QSettings file in the config directory.

Right-clicking a connection offers to mute its notifications (for 1 hour, 1 day
or until unmuted) or to unmute them: the menu's choices and when each ends are
core's (``MUTE_CHOICES``), the call goes to the row's app's monitor, and the row and the
details pane show the mute the monitor reports in ``AppState.mutes`` (each app's own).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import (
    QAbstractItemModel,
    QByteArray,
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    QSettings,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QCloseEvent, QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vendo_tray.client import Connection
from vendo_tray.core.display import (
    GROUP_LABELS,
    balance_runway_text,
    balance_text,
    cap_severity,
    cap_text,
    mute_text,
    need_action_text,
    phase_severity,
    phase_text,
    relative_time,
    runway_text,
    status_label,
)
from vendo_tray.core.event_actions import (
    LinkAction,
    LinkSource,
    connection_action,
    event_actions,
)
from vendo_tray.core.kinds import Kind, Severity, VendoEvent
from vendo_tray.core.policy import MUTE_CHOICES, local_now
from vendo_tray.core.spend import history_from
from vendo_tray.core.state import AppState, AppStatus, FleetState, Mute, Snapshot
from vendo_tray.core.store import EventFilter, Store
from vendo_tray.ui import connection_model as cm
from vendo_tray.ui import event_model as em
from vendo_tray.ui.connection_model import ConnectionTableModel
from vendo_tray.ui.details_pane import DetailsPane
from vendo_tray.ui.event_model import EventTableModel
from vendo_tray.ui.palette import DOT_SIZE, SEVERITY_COLORS, severity_dot

if TYPE_CHECKING:
    from vendo_tray.ui.spend_view import SpendView

log = logging.getLogger(__name__)

#: Search waits this long after the last keystroke (a LIKE over 100,000 rows is not free).
SEARCH_DEBOUNCE_MS = 250
EVENTS_TAB, CONNECTIONS_TAB, SPEND_TAB = 0, 1, 2
#: The Spend tab redraws this long after a billing event or state change (a burst costs one read).
SPEND_REFRESH_MS = 1_000
DEFAULT_SIZE = (1040, 680)

_SETTINGS_GEOMETRY = "window/geometry"
_SETTINGS_SPLITTER = "window/splitter"
_SETTINGS_EVENTS_HEADER = "window/events_header"
_SETTINGS_CONNECTIONS_HEADER = "window/connections_header"


class WindowSource(Protocol):
    """What the window needs of the engine: the history, and one app's state and links."""

    @property
    def store(self) -> Store: ...

    @property
    def state(self) -> AppState: ...

    @property
    def links(self) -> LinkSource: ...

    def mute_connection(self, slug: str, until: datetime | None, app: str | None = None) -> None: ...

    def unmute_connection(self, slug: str, app: str | None = None) -> None: ...


def default_window_settings() -> QSettings:
    """``<config dir>/window.ini``: window geometry is no user preference worth the JSON."""
    import platformdirs

    path = Path(platformdirs.user_config_dir("vendo-tray", appauthor=False)) / "window.ini"
    return QSettings(str(path), QSettings.Format.IniFormat)


def _fit_section(view: QTableView, column: int, texts: list[str], *, icon: bool, extra: int = 0) -> None:
    """Size a column for its longest expected text (never by scanning 100,000 rows)."""
    metrics = view.fontMetrics()
    widest = max(metrics.horizontalAdvance(text) for text in texts)
    header_text = view.model().headerData(column, Qt.Orientation.Horizontal) or ""
    widest = max(widest, view.horizontalHeader().fontMetrics().horizontalAdvance(str(header_text)))
    padding = 24 + (view.iconSize().width() + 8 if icon else 0) + extra
    view.horizontalHeader().resizeSection(column, widest + padding)


def _plain(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


class MainWindow(QMainWindow):
    """Recent events and connections; see the module docstring."""

    #: A button asked to open this URL; the app checks it (Links.check) and opens it.
    open_url_requested = Signal(str, object)  # the URL, and the id of the app it belongs to (or None)

    def __init__(self, monitor: WindowSource, *, window_settings: QSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._monitor = monitor
        self._settings = window_settings if window_settings is not None else default_window_settings()
        self._state = monitor.state
        self._fleet = FleetState()
        self._shown_app: AppStatus | None = None  # whose figures the header shows (several apps)
        self._links_by_app: dict[str, LinkSource] = {}
        self._known_slugs: set[str] = set()
        #: The connection row's right-click menu last opened (None before the first).
        self.row_menu: QMenu | None = None
        self.setWindowTitle("Vendo Tray")
        self.setObjectName("VendoTrayMainWindow")

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(10, 8, 10, 10)
        layout.setSpacing(8)
        layout.addWidget(self._build_header())
        self.problem_label = _plain()
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet(f"color: {SEVERITY_COLORS[Severity.WARNING]};")
        self.problem_label.hide()
        layout.addWidget(self.problem_label)
        self.banner_label = _plain()
        self.banner_label.setWordWrap(True)
        self.banner_label.hide()
        layout.addWidget(self.banner_label)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_events_tab(), "&Recent events")
        self.tabs.addTab(self._build_connections_tab(), "C&onnections")
        self.spend_page = QWidget()
        QVBoxLayout(self.spend_page).setContentsMargins(0, 0, 0, 0)
        self.spend_view: SpendView | None = None  # built when the tab is first shown
        self.tabs.addTab(self.spend_page, "&Spend")
        self._spend_timer = QTimer(self)
        self._spend_timer.setSingleShot(True)
        self._spend_timer.setInterval(SPEND_REFRESH_MS)
        self._spend_timer.timeout.connect(self._refresh_spend)
        self.tabs.currentChanged.connect(self._tab_changed)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self._install_shortcuts()
        self._restore_layout()
        self.on_state(self._state)
        self._refresh_connection_filter()
        self._update_count_label(self.events_model.total)
        self._show_store_problem()
        app = QApplication.instance()
        if app is not None:  # quitting from the tray with the window open keeps its place too
            app.aboutToQuit.connect(self.save_layout)

    # ================================================================ public API

    def on_fleet(self, fleet: FleetState, links: Mapping[str, LinkSource]) -> None:
        """The apps' states changed: the app filter and columns (several apps), then the chosen app's state."""
        self._fleet = fleet
        self._links_by_app = dict(links)
        names = {s.app.id: s.app.name for s in fleet.apps}
        self._refresh_app_filter(names)
        several = fleet.several
        self.app_combo.setVisible(several)
        self.app_label.setVisible(several)
        self.events_view.setColumnHidden(em.APP, not several)
        self.connections_view.setColumnHidden(cm.APP, not several)
        self.events_model.set_app_names(names)
        self.connections_model.set_app_names(names)
        chosen = self.app_combo.currentData()
        self._shown_app = fleet.of(chosen) if chosen else fleet.worst
        self.on_state(self._shown_app.state if self._shown_app is not None else fleet.state)

    def on_state(self, state: AppState) -> None:
        """The shown app's state changed: header, connections, names in the event list."""
        self._state = state
        self.phase_dot.setPixmap(severity_dot(phase_severity(state)).pixmap(10, 10))
        shown = self._shown_app if self._fleet.several else None
        self.phase_label.setText(f"{shown.app.name}: {phase_text(state)}" if shown else phase_text(state))
        snapshot = state.snapshot
        self.balance_value.setText(balance_text(snapshot.balance))
        balance = snapshot.balance
        self.balance_value.setToolTip("Credits remaining" if balance is None or not balance.top_up_url
                                      else "Credits remaining — top up from an event's details")
        runway = state.runway if balance is not None else None
        self.runway_label.setText(f"· {runway_text(runway)}" if runway is not None else "")
        caps = snapshot.caps
        if caps is None:
            self.daily_value.setText("—")
            self.monthly_value.setText("—")
        else:
            self._set_cap(self.daily_value, caps.used_today_micros, caps.daily_micros)
            self._set_cap(self.monthly_value, caps.used_month_micros, caps.monthly_micros)
        self.events_model.set_connections(snapshot.connections)
        if self.connections_model.set_connections(*self._connection_rows(snapshot.connections)):
            self._install_connection_buttons()
        attention = len(snapshot.needing_action)
        self.tabs.setTabText(CONNECTIONS_TAB, f"C&onnections ({need_action_text(attention)})"
                             if attention else "C&onnections")
        self.needs_action_button.setIcon(severity_dot(Severity.CRITICAL) if attention else severity_dot(Severity.OK))
        taken = snapshot.taken_at
        self.connections_note.setText(
            f"{len(snapshot.connections)} connections · updated {relative_time(taken, self.events_model.now())}"
            if taken is not None else "Connections have not been loaded yet.")
        self._refresh_connection_filter()
        current = self.details.shown_event
        if current is not None:  # actions depend on the snapshot (still needs re-auth?)
            self._show_details(current)
        self._spend_changed()

    def on_event(self, event: VendoEvent) -> None:
        """A new event was stored: the list syncs with the store after the burst."""
        self.events_model.note_new_event(event)
        if event.slug and event.slug not in self._known_slugs:
            self._refresh_connection_filter()
        if event.kind.group == "billing":
            self._spend_changed()

    def show_banner(self, text: str) -> None:
        """A one-line notice above the tabs (e.g. "no system tray was found")."""
        self.banner_label.setText(text)
        self.banner_label.show()

    def clear_banner(self) -> None:
        self.banner_label.clear()
        self.banner_label.hide()

    def show_event(self, key: str, app: str | None = None) -> None:
        """Bring the window up with event ``key`` (of app ``app``) selected (a notification was clicked)."""
        self.tabs.setCurrentIndex(EVENTS_TAB)
        self.reveal()
        self.events_model.sync()
        row = self.events_model.row_of(key, app=app)
        if row is None and self.events_model.filter != EventFilter():
            self.clear_filters()
            row = self.events_model.row_of(key, app=app)
        if row is not None:
            self._select_event_row(row)
            return
        event = self._monitor.store.get(key, app)
        if event is None:
            log.info("event %r is not in the history (pruned?)", key)
        self.events_view.clearSelection()
        self._show_details(event)

    def reveal(self) -> None:
        """Show, un-minimize and raise (a tray click should never leave it behind others)."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def clear_filters(self) -> None:
        """Back to every event (used when a revealed event is hidden by a filter)."""
        for widget in (self.kind_combo, self.connection_combo, self.search_edit, self.needs_action_button,
                       self.app_combo):
            widget.blockSignals(True)
        self.app_combo.setCurrentIndex(0)
        self.kind_combo.setCurrentIndex(0)
        self.connection_combo.setCurrentIndex(0)
        self.search_edit.clear()
        self.needs_action_button.setChecked(False)
        for widget in (self.kind_combo, self.connection_combo, self.search_edit, self.needs_action_button,
                       self.app_combo):
            widget.blockSignals(False)
        self._search_timer.stop()
        if self._fleet.several:  # "All apps" again: the header and Connections follow
            self.on_fleet(self._fleet, self._links_by_app)
        self._apply_filter()

    def save_layout(self) -> None:
        """Remember size, place, splitter and column widths (called on hide and quit)."""
        self._settings.setValue(_SETTINGS_GEOMETRY, self.saveGeometry())
        self._settings.setValue(_SETTINGS_SPLITTER, self.splitter.saveState())
        self._settings.setValue(_SETTINGS_EVENTS_HEADER, self.events_view.horizontalHeader().saveState())
        self._settings.setValue(_SETTINGS_CONNECTIONS_HEADER,
                                self.connections_view.horizontalHeader().saveState())
        self._settings.sync()

    # ================================================================ building

    def _build_header(self) -> QWidget:
        header = QFrame()
        header.setObjectName("header")
        header.setFrameShape(QFrame.Shape.StyledPanel)
        row = QHBoxLayout(header)
        row.setContentsMargins(10, 6, 10, 6)
        row.setSpacing(6)
        self.app_label = QLabel("A&pp:")
        self.app_combo = QComboBox()
        self.app_combo.addItem("All apps", None)
        self.app_combo.setAccessibleName("App filter")
        self.app_label.setBuddy(self.app_combo)
        self.app_combo.currentIndexChanged.connect(self._app_chosen)
        for widget in (self.app_label, self.app_combo):
            widget.hide()  # shown while more than one app is watched
            row.addWidget(widget)
        self.phase_dot = QLabel()
        self.phase_dot.setFixedWidth(12)
        self.phase_label = _plain()
        self.phase_label.setToolTip("The live events stream")
        row.addWidget(self.phase_dot)
        row.addWidget(self.phase_label, 1)

        def figure(caption: str) -> QLabel:
            title = _plain(caption)
            title.setEnabled(False)  # the theme's muted text colour
            value = _plain("—")
            font = value.font()
            font.setBold(True)
            value.setFont(font)
            row.addSpacing(14)
            row.addWidget(title)
            row.addWidget(value)
            return value

        self.balance_value = figure("Balance")
        self.runway_label = _plain()
        self.runway_label.setEnabled(False)  # muted, like the captions
        self.runway_label.setToolTip("How long the balance lasts at the recent spend rate "
                                     "(the last 24 hours and the last 7 days, whichever is faster)")
        row.addWidget(self.runway_label)
        self.daily_value = figure("Today")
        self.monthly_value = figure("This month")
        self.daily_value.setToolTip("Spent today, and the daily spend cap")
        self.monthly_value.setToolTip("Spent this month, and the monthly spend cap")
        return header

    def _build_events_tab(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(8, 8, 8, 8)
        column.setSpacing(6)

        bar = QHBoxLayout()
        bar.setSpacing(6)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search events (Ctrl+F)")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setAccessibleName("Search events")
        self.search_edit.setMinimumWidth(120)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self._apply_filter)
        self.search_edit.textChanged.connect(lambda _text: self._search_timer.start())
        self.search_edit.returnPressed.connect(self._apply_filter_now)
        bar.addWidget(self.search_edit, 2)

        kind_label = QLabel("&Kind:")
        self.kind_combo = QComboBox()
        self.kind_combo.addItem("All kinds", None)
        for group, label in GROUP_LABELS.items():
            self.kind_combo.addItem(label, group)
        self.kind_combo.setAccessibleName("Kind filter")
        kind_label.setBuddy(self.kind_combo)
        self.kind_combo.currentIndexChanged.connect(self._apply_filter_now)
        bar.addWidget(kind_label)
        bar.addWidget(self.kind_combo)

        connection_label = QLabel("Co&nnection:")
        self.connection_combo = QComboBox()
        self.connection_combo.addItem("All connections", None)
        self.connection_combo.setAccessibleName("Connection filter")
        self.connection_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.connection_combo.setMinimumContentsLength(9)
        connection_label.setBuddy(self.connection_combo)
        self.connection_combo.currentIndexChanged.connect(self._apply_filter_now)
        bar.addWidget(connection_label)
        bar.addWidget(self.connection_combo)

        self.needs_action_button = QToolButton()
        self.needs_action_button.setText("Needs &action")
        self.needs_action_button.setCheckable(True)
        self.needs_action_button.setIconSize(QSize(DOT_SIZE, DOT_SIZE))
        self.needs_action_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.needs_action_button.setToolTip("Only events that ask you to do something "
                                            "(re-authorize, errors, low balance, caps reached)")
        self.needs_action_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.needs_action_button.toggled.connect(self._apply_filter_now)
        bar.addWidget(self.needs_action_button)
        self.count_label = _plain()
        self.count_label.setEnabled(False)
        # Takes the leftover width (and gives it up first when the window is narrow).
        self.count_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bar.addWidget(self.count_label, 1)
        column.addLayout(bar)

        self.events_model = EventTableModel(self._monitor.store, self)
        self.events_model.count_changed.connect(self._update_count_label)
        self.events_model.rowsInserted.connect(self._keep_scroll_on_prepend)
        self.events_view = view = _row_table(self.events_model, "Recent events")
        view.setWordWrap(False)
        view.setShowGrid(False)
        view.setAlternatingRowColors(True)
        view.setTextElideMode(Qt.TextElideMode.ElideRight)
        view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)
        vertical = view.verticalHeader()
        vertical.hide()
        # Fixed heights: a 100,000-row view must never measure rows.
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vertical.setDefaultSectionSize(view.fontMetrics().height() + 10)
        header = view.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        view.setIconSize(QSize(DOT_SIZE, DOT_SIZE))
        em_width = view.fontMetrics().horizontalAdvance("M")
        _fit_section(view, em.TIME, ["59 min ago", "22 Sept 2026"], icon=False)
        _fit_section(view, em.KIND, [kind.label for kind in Kind], icon=True)
        _fit_section(view, em.CONNECTION, ["Google Calendar"], icon=True)
        header.setMinimumSectionSize(em_width * 4)
        view.selectionModel().currentRowChanged.connect(self._current_event_changed)
        self.events_model.modelReset.connect(self._after_events_reset)

        self.details = DetailsPane()
        self.details.action_triggered.connect(
            lambda url: self._request_url(url, self.details.shown_event.app if self.details.shown_event else None))
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(view)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        column.addWidget(self.splitter, 1)
        return page

    def _build_connections_tab(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(8, 8, 8, 8)
        self.connections_model = ConnectionTableModel(self)
        self.connections_view = view = _row_table(self.connections_model, "Connections")
        view.setShowGrid(False)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.verticalHeader().hide()
        view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 16)
        header = view.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        view.setIconSize(QSize(DOT_SIZE, DOT_SIZE))
        _fit_section(view, cm.NAME, ["Google Calendar"], icon=True)
        _fit_section(view, cm.STATUS, [status_label(s) for s in cm.KNOWN_STATUSES], icon=True)
        header.setSectionResizeMode(cm.MESSAGE, QHeaderView.ResizeMode.Stretch)
        _fit_section(view, cm.ACTION, ["Re-authorize"], icon=False, extra=36)
        view.activated.connect(self._connection_activated)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._connection_menu_requested)
        column.addWidget(view, 1)
        self.connections_note = _plain()
        self.connections_note.setEnabled(False)
        column.addWidget(self.connections_note)
        return page

    def _install_shortcuts(self) -> None:
        def shortcut(keys: QKeySequence | QKeySequence.StandardKey | str, slot: Callable[[], object]) -> QShortcut:
            sc = QShortcut(QKeySequence(keys), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(slot)
            return sc

        shortcut(QKeySequence.StandardKey.Find, self._focus_search)
        shortcut("Ctrl+1", lambda: self._switch_tab(EVENTS_TAB))
        shortcut("Ctrl+2", lambda: self._switch_tab(CONNECTIONS_TAB))
        shortcut("Ctrl+3", lambda: self._switch_tab(SPEND_TAB))
        shortcut("Escape", self._escape)
        shortcut(QKeySequence.StandardKey.Close, self.close)
        QWidget.setTabOrder(self.search_edit, self.kind_combo)
        QWidget.setTabOrder(self.kind_combo, self.connection_combo)
        QWidget.setTabOrder(self.connection_combo, self.needs_action_button)
        QWidget.setTabOrder(self.needs_action_button, self.events_view)
        QWidget.setTabOrder(self.events_view, self.details.copy_button)
        QWidget.setTabOrder(self.details.copy_button, self.details.json_view)

    # ================================================================ behaviour

    def _focus_search(self) -> None:
        self.tabs.setCurrentIndex(EVENTS_TAB)
        self.search_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_edit.selectAll()

    def _switch_tab(self, index: int) -> None:
        self.tabs.setCurrentIndex(index)
        if index == SPEND_TAB and self.spend_view is not None:
            self.spend_view.chart.setFocus()
        else:
            (self.events_view if index == EVENTS_TAB else self.connections_view).setFocus()

    def _tab_changed(self, index: int) -> None:
        if index == SPEND_TAB:
            self._refresh_spend()

    def _spend_changed(self) -> None:
        """Redraw the Spend tab (when shown) within SPEND_REFRESH_MS of the first change.

        Not a debounce: the timer is not restarted by later changes, which arrive
        more often than once a second while the stream is busy and would
        otherwise postpone the redraw for as long as the stream stays busy.
        """
        if self.tabs.currentIndex() == SPEND_TAB and not self._spend_timer.isActive():
            self._spend_timer.start()

    def _refresh_spend(self) -> None:
        """Read the last 30 days of billing events and hand them to the Spend tab (built on first use).

        WHY lazily: the charts are of no use to a session that never opens the tab,
        and neither their module nor a month of billing rows is loaded until then.
        """
        self._spend_timer.stop()
        if self.spend_view is None:
            from vendo_tray.ui.spend_view import SpendView

            self.spend_view = SpendView()
            layout = self.spend_page.layout()
            assert layout is not None, "the Spend page is built with a layout"
            layout.addWidget(self.spend_view)
        balance = self._state.snapshot.balance
        history = history_from(self._monitor.store, now=datetime.now(timezone.utc), app=self._spend_app(),
                               current_balance=balance.credits_remaining_micros if balance else None)
        runway = balance_runway_text(balance, self._state.runway) if balance is not None else ""
        self.spend_view.set_history(history, runway)

    def _escape(self) -> None:
        """Esc clears a search being typed; otherwise it hides the window."""
        if self.search_edit.hasFocus() and self.search_edit.text():
            self.search_edit.clear()
            self._apply_filter_now()
            return
        self.close()

    def _apply_filter_now(self) -> None:
        self._search_timer.stop()
        self._apply_filter()

    def _apply_filter(self) -> None:
        group = self.kind_combo.currentData()
        new = EventFilter(
            groups=(group,) if group else None,
            slug=self.connection_combo.currentData() or None,
            text=self.search_edit.text().strip() or None,
            needs_action=self.needs_action_button.isChecked(),
            app=self.app_combo.currentData() or None,
        )
        self.events_model.set_filter(new)

    def _app_chosen(self) -> None:
        """Another app (or all) was chosen: its events, its connections, its figures."""
        self.on_fleet(self._fleet, self._links_by_app)
        self._apply_filter_now()
        self._refresh_connection_filter()
        self._spend_changed()

    def _refresh_app_filter(self, names: dict[str, str]) -> None:
        """One entry per app, in the list's order; the choice is kept while that app is watched."""
        listed = {self.app_combo.itemData(i): self.app_combo.itemText(i) for i in range(1, self.app_combo.count())}
        if listed == names and list(listed) == list(names):
            return
        chosen = self.app_combo.currentData()
        self.app_combo.blockSignals(True)
        self.app_combo.clear()
        self.app_combo.addItem("All apps", None)
        for app_id, name in names.items():
            self.app_combo.addItem(name, app_id)
        index = self.app_combo.findData(chosen) if chosen else 0
        self.app_combo.setCurrentIndex(max(index, 0))
        self.app_combo.blockSignals(False)
        if chosen and index < 0:  # that app was removed: back to all of them
            self._apply_filter_now()

    def _connection_rows(self, shown: tuple[Connection, ...]) -> tuple[
            list[Connection], list[str | None], dict[tuple[str | None, str], Mute]]:
        """The Connections tab's rows, their apps and their mutes: every app's with "All apps", else the shown app's."""
        if not self._fleet.several:
            return list(shown), [None] * len(shown), {(None, m.slug): m for m in self._state.mutes}
        chosen = self.app_combo.currentData()
        statuses = [s for s in self._fleet.apps if chosen is None or s.app.id == chosen]
        pairs = [(c, s.app.id) for s in statuses for c in s.state.snapshot.connections]
        mutes: dict[tuple[str | None, str], Mute] = {(s.app.id, m.slug): m for s in statuses for m in s.state.mutes}
        return [c for c, _ in pairs], [a for _, a in pairs], mutes

    def _spend_app(self) -> str | None:
        """Whose billing events the Spend tab and the header read (None: the only app's, every row)."""
        return self._shown_app.app.id if self._fleet.several and self._shown_app is not None else None

    def _links(self, app_id: str | None) -> LinkSource:
        """App ``app_id``'s links (its host, its key); the first app's when unknown."""
        return self._links_by_app.get(app_id or "") or self._monitor.links

    def _after_events_reset(self) -> None:
        """Keep the event the user was reading selected when it is still listed near the top."""
        current = self.details.shown_event
        if current is None or current.key is None:
            return
        row = self.events_model.row_of(current.key, limit=em.PAGE_SIZE * 5)
        if row is not None:
            self._select_event_row(row)

    def _select_event_row(self, row: int) -> None:
        index = self.events_model.index(row, em.SUMMARY)
        self.events_view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.events_view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)

    def _current_event_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        event = self.events_model.event_at(current.row())
        if event is not None:
            self._show_details(event)

    def _show_details(self, event: VendoEvent | None) -> None:
        actions: list[LinkAction] = []
        if event is not None:
            try:
                snapshot = self._snapshot_of(event.app)
                actions = event_actions(event, snapshot, self._links(event.app))
            except Exception:  # a broken link must not take the details pane with it
                log.exception("could not build the actions for event %s", event.key)
        name = self.events_model.connection_name(event.slug) if event is not None else None
        note = mute_text(self._mute_of(event.app, event.slug)) if event is not None and event.slug else ""
        self.details.show_event(event, actions, connection_name=name, connection_note=note)

    def _keep_scroll_on_prepend(self, _parent: QModelIndex, first: int, last: int) -> None:
        """Rows arriving on top must not push what the user is reading down."""
        bar = self.events_view.verticalScrollBar()
        if first == 0 and bar.value() > 0:
            bar.setValue(bar.value() + (last - first + 1))

    def _update_count_label(self, count: int) -> None:
        noun = "event" if count == 1 else "events"
        filtered = self.events_model.filter != EventFilter()
        self.count_label.setText(f"{count:,} {noun}{' shown' if filtered else ''}")

    def _refresh_connection_filter(self) -> None:
        """Every slug from the snapshot and from history, by display name; selection kept."""
        names = {c.slug: c.display_name or c.slug for c in self._state.snapshot.connections}
        for slug in self._monitor.store.slugs(self.app_combo.currentData() or None):
            names.setdefault(slug, slug)
        if set(names) == self._known_slugs and all(
                self.connection_combo.itemText(i) == names.get(self.connection_combo.itemData(i), "")
                for i in range(1, self.connection_combo.count())):
            return
        self._known_slugs = set(names)
        chosen = self.connection_combo.currentData()
        self.connection_combo.blockSignals(True)
        self.connection_combo.clear()
        self.connection_combo.addItem("All connections", None)
        for slug, name in sorted(names.items(), key=lambda item: item[1].lower()):
            self.connection_combo.addItem(name, slug)
        index = self.connection_combo.findData(chosen) if chosen else 0
        self.connection_combo.setCurrentIndex(max(index, 0))
        self.connection_combo.blockSignals(False)
        if chosen and index < 0:
            self._apply_filter_now()

    def _install_connection_buttons(self) -> None:
        """One real (focusable) button per connection row, in the Action column."""
        for row in range(self.connections_model.rowCount()):
            conn = self.connections_model.connection_at(row)
            if conn is None:
                continue
            cell = QWidget()
            box = QHBoxLayout(cell)
            box.setContentsMargins(4, 2, 4, 2)
            button = QPushButton(self.connections_model.data(self.connections_model.index(row, cm.ACTION)))
            button.setAccessibleName(f"{button.text()} {conn.display_name}")
            app = self.connections_model.app_at(row)
            button.clicked.connect(lambda _=False, c=conn, a=app: self._connection_action(c, a))
            box.addWidget(button)
            self.connections_view.setIndexWidget(self.connections_model.index(row, cm.ACTION), cell)

    def _connection_activated(self, index: QModelIndex) -> None:
        conn = self.connections_model.connection_at(index.row())
        if conn is not None:
            self._connection_action(conn, self.connections_model.app_at(index.row()))

    def connection_menu(self, conn: Connection, app_id: str | None = None) -> QMenu:
        """The right-click menu of connection ``conn`` (of app ``app_id``): Unmute when muted, then each way to mute."""
        menu = QMenu(self)
        slug = conn.slug
        if self._mute_of(app_id, slug) is not None:
            menu.addAction("&Unmute notifications", lambda: self._monitor.unmute_connection(slug, app_id))
            menu.addSeparator()
        for label, ends in MUTE_CHOICES:
            menu.addAction(f"Mute notifications {label.lower()}", self._muter(slug, app_id, ends))
        return menu

    def _muter(self, slug: str, app_id: str | None,
               ends: Callable[[datetime], datetime | None]) -> Callable[[], None]:
        """What one mute choice does: ask the engine, with the end core's rule gives from now."""
        return lambda: self._monitor.mute_connection(slug, ends(local_now()), app_id)

    def _mute_of(self, app_id: str | None, slug: str | None) -> Mute | None:
        """Connection ``slug``'s mute in app ``app_id`` (the shown app's when None or one app)."""
        status = self._fleet.of(app_id) if self._fleet.several and app_id else None
        return (status.state if status is not None else self._state).mute_of(slug)

    def _connection_menu_requested(self, pos: QPoint) -> None:
        view = self.connections_view
        index = view.indexAt(pos)
        if not index.isValid():  # the keyboard's menu key, or below the last row: the current row
            index = view.currentIndex()
            pos = view.visualRect(index).center()
        conn = self.connections_model.connection_at(index.row()) if index.isValid() else None
        if conn is None:
            return
        if self.row_menu is not None:
            self.row_menu.deleteLater()
        self.row_menu = self.connection_menu(conn, self.connections_model.app_at(index.row()))
        self.row_menu.popup(view.viewport().mapToGlobal(pos))

    def _connection_action(self, conn: Connection, app_id: str | None = None) -> None:
        try:
            action = connection_action(conn, self._links(app_id))
        except Exception:
            log.exception("could not build the link for connection %s", conn.slug)
            return
        if action is not None:
            self._request_url(action.url, app_id)

    def _request_url(self, url: str, app_id: str | None = None) -> None:
        """Hand a URL to the shell (which checks it against that app's allowlist again and opens it).

        Links builds only allowlisted URLs; checking here too means a URL this
        window emits has always passed the gate, whoever handles the signal.
        """
        checked = self._links(app_id).check(url)
        if checked:
            self.open_url_requested.emit(checked, app_id)

    def _snapshot_of(self, app_id: str) -> Snapshot:
        """App ``app_id``'s last snapshot (an event's actions depend on its connection's status)."""
        status = self._fleet.of(app_id) if self._fleet.several else None
        return status.state.snapshot if status is not None else self._state.snapshot

    def _set_cap(self, label: QLabel, used: int, cap: int | None) -> None:
        label.setText(cap_text(used, cap))
        severity = cap_severity(used, cap)
        color = SEVERITY_COLORS[severity] if severity in (Severity.WARNING, Severity.CRITICAL) else None
        label.setStyleSheet(f"color: {color};" if color else "")

    def _show_store_problem(self) -> None:
        problem = getattr(self._monitor.store, "problem", None)
        if problem:
            self.problem_label.setText(f"Event history: {problem}")
            self.problem_label.show()

    # ================================================================ window state

    def _restore_layout(self) -> None:
        geometry = self._settings.value(_SETTINGS_GEOMETRY)
        if isinstance(geometry, QByteArray) and not geometry.isEmpty() and self.restoreGeometry(geometry):
            pass
        else:
            self.resize(*DEFAULT_SIZE)
        for key, target in ((_SETTINGS_SPLITTER, self.splitter),
                            (_SETTINGS_EVENTS_HEADER, self.events_view.horizontalHeader()),
                            (_SETTINGS_CONNECTIONS_HEADER, self.connections_view.horizontalHeader())):
            value = self._settings.value(key)
            if isinstance(value, QByteArray) and not value.isEmpty():
                target.restoreState(value)
        if not isinstance(self._settings.value(_SETTINGS_SPLITTER), QByteArray):
            self.splitter.setSizes([DEFAULT_SIZE[1] * 3 // 5, DEFAULT_SIZE[1] * 2 // 5])

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.events_model.set_shown(True)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt override
        if not event.spontaneous():
            self.save_layout()
        self.events_model.set_shown(False)  # hidden or minimized: nobody reads the times
        super().hideEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Closing hides: the app lives in the tray; quitting is the tray menu's job."""
        self.save_layout()
        event.ignore()
        self.hide()


def _row_table(model: QAbstractItemModel, name: str) -> QTableView:
    """A read-only table that selects one whole row; Tab leaves it, arrows move inside it."""
    view = QTableView()
    view.setModel(model)
    view.setAccessibleName(name)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setTabKeyNavigation(False)
    return view
