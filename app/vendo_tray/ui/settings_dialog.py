"""The settings dialog: the apps, each app's key (keyring) and base URL, Test, notification toggles, login item.

Every change applies at once (there is no OK/Cancel): a toggle or a change to
the list of apps emits :attr:`SettingsDialog.settings_changed` with a complete
new :class:`Settings` (its ``apps`` included), and a key saved, kept for the
session or removed with its app emits :attr:`SettingsDialog.key_changed` with
that app's id; ``ui.app`` hands both to the engine and persists the settings.
The rules of the list (names, base URLs, order, which keyring entry) are
``core.apps``'s; the dialog only calls them and shows what they say.  The key
and base URL fields are the selected app's; with the one implied app of a setup
that never edited the list, the dialog is the single-key dialog it always was
plus the list.  The dialog itself never
talks to the network or decides policy; "Test" awaits the coroutine it was
given (the monitor's real call to the connections endpoint) and shows what
answered, or the exact error.

Keyring calls can block (D-Bus, an unlock prompt), so they run in a worker
thread while the dialog stays responsive.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vendo_tray import APP_NAME
from vendo_tray.core.aio import TaskSet
from vendo_tray.core.apps import (
    DEFAULT_APP_ID,
    ENV_APP_ID,
    AppError,
    AppKey,
    AppProfile,
    change_base_url,
    clean_base_url,
    configured_apps,
    environment_app,
    move_app,
    remove_app,
    rename_app,
)
from vendo_tray.core.notices import Topic
from vendo_tray.core.secrets import (
    KeyringLocked,
    KeyringUnavailable,
    KeySource,
    KeyStore,
    SecretsError,
    describe_source,
    key_status,
)
from vendo_tray.core.settings import RUNWAY_DAYS_RANGE, Settings
from vendo_tray.ui.add_app_dialog import AddAppDialog, KeyTester

log = logging.getLogger(__name__)

#: (settings key, label) for the notification toggles, in display order.
NOTIFY_TOGGLES: tuple[tuple[Topic, str], ...] = (
    (Topic.NEEDS_REAUTH, "A connection needs re-authorization"),
    (Topic.ERROR, "A connection reports an error"),
    (Topic.BALANCE, "The balance runs low or out"),
    (Topic.RUNWAY, "The balance will run out soon at the recent spend rate"),
    (Topic.CAPS, "A spend cap is near or reached"),
    (Topic.STREAM, "The events stream is lost for a while"),
    (Topic.CONNECTED, "A connection is connected"),
    (Topic.DISCONNECTED, "A connection is disconnected"),
)

#: Sounds are off by default; each urgency can have one (critical = balance exhausted, cap reached).
SOUND_TOGGLES: tuple[tuple[str, str], ...] = (
    ("critical", "critical alerts"),
    ("normal", "other alerts"),
    ("low", "informational"),
)

class SettingsDialog(QDialog):
    """Edits :class:`Settings`, the list of apps and each app's key; emits changes as they happen."""

    #: A complete new Settings object (its apps included), after any change.
    settings_changed = Signal(object)
    #: (app id, key or None, source) after Save, Add or Remove: source is "keyring", "session" or None.
    key_changed = Signal(str, object, object)

    def __init__(self, settings: Settings, *, keystore: KeyStore, tester: KeyTester,
                 key_in_use: str | None, key_source: KeySource | None,
                 apps: Sequence[AppKey] | None = None, parent: QWidget | None = None) -> None:
        """``key_in_use``/``key_source``: the key the tray uses now (a single-app shell's);
        ``apps``: every app with its key, when the caller has them (else the dialog reads
        the keyring itself, off the UI thread, for those it was not told about)."""
        super().__init__(parent)
        self.setWindowTitle(f"{APP_NAME} Settings")
        self.setObjectName("vendo-settings")
        self._settings = settings
        self._keystore = keystore
        self._tester = tester
        self._demo = key_source == KeySource.DEMO
        #: The app ``key_in_use``/``key_source`` and set_key_source without an id are about.
        self._in_use = ENV_APP_ID if key_source == KeySource.ENV else DEFAULT_APP_ID
        self._tasks = TaskSet()
        self._rows, pending = self._first_rows(apps, key_in_use, key_source)
        self._pending = {app.id for app in pending}  # keys still being read
        self.add_dialog: AddAppDialog | None = None

        layout = QVBoxLayout(self)
        layout.addWidget(self._apps_group())
        layout.addWidget(self._key_group())
        layout.addWidget(self._notify_group())
        layout.addWidget(self._general_group())
        layout.addWidget(self._advanced_group())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        # No default button: QDialog would press it on Enter in *any* field, so
        # confirming a base URL would also save whatever key is in the key field.
        # Enter in the key field saves.
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
            button.setDefault(False)
        in_use = self._row(self._in_use)
        self._show_list(in_use.app.id if in_use is not None else self._rows[0].app.id)
        if pending:
            self._tasks.spawn(self._read_keys(pending))
        self.resize(560, self.sizeHint().height())

    # -- the apps ------------------------------------------------------------------
    def _first_rows(self, apps: Sequence[AppKey] | None, key_in_use: str | None,
                    key_source: KeySource | None) -> tuple[list[AppKey], list[AppProfile]]:
        """Each configured app with what is known of its key, the environment's app last;
        and the apps whose keys are still to be read."""
        known = {found.app.id: found for found in apps or ()}
        if apps is None:
            known[self._in_use] = AppKey(
                environment_app(os.environ, self._settings.base_url) if self._in_use == ENV_APP_ID
                else AppProfile(DEFAULT_APP_ID, "", ""), key_in_use, key_source)
        rows: list[AppKey] = []
        pending: list[AppProfile] = []
        for app in configured_apps(self._settings):
            if app.id in known:
                rows.append(replace(known[app.id], app=app))
            else:
                rows.append(AppKey(app, None, None))
                pending.append(app)
        if ENV_APP_ID in known:
            rows.append(known[ENV_APP_ID])
        return rows, pending

    async def _read_keys(self, apps: list[AppProfile]) -> None:
        """Whether the apps the caller said nothing about have a key (the keyring may block)."""
        store = self._keystore
        found = await asyncio.to_thread(lambda: {app.id: store.stored_lookup(app.account) for app in apps})
        for app_id, lookup in found.items():
            self._pending.discard(app_id)
            self._set_row(app_id, lookup.key, lookup.source, keep_typed=True, problem=lookup.problem)

    def _apps_group(self) -> QGroupBox:
        box = QGroupBox("Apps")
        row = QHBoxLayout(box)
        self.apps_list = QTreeWidget()
        self.apps_list.setObjectName("apps")
        self.apps_list.setHeaderLabels(["Name", "Base URL", "Key"])
        self.apps_list.setRootIsDecorated(False)
        self.apps_list.setUniformRowHeights(True)
        self.apps_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.apps_list.setMaximumHeight(120)
        self.apps_list.currentItemChanged.connect(lambda *_: self._show_selected())
        column = QVBoxLayout()
        self.apps_list_status = QLabel()
        self.apps_list_status.setObjectName("appsStatus")
        self.apps_list_status.setWordWrap(True)
        self.apps_list_status.setVisible(False)
        left = QVBoxLayout()
        left.addWidget(self.apps_list)
        left.addWidget(self.apps_list_status)
        row.addLayout(left, 1)
        self.add_app = self._list_button(column, "Add…", self._ask_add)
        self.rename_app = self._list_button(column, "Rename…", self._ask_rename)
        self.remove_app = self._list_button(column, "Remove…", self._ask_remove)
        self.move_up = self._list_button(column, "Move up", lambda: self._move(-1))
        self.move_down = self._list_button(column, "Move down", lambda: self._move(1))
        column.addStretch(1)
        row.addLayout(column)
        return box

    @staticmethod
    def _list_button(column: QVBoxLayout, text: str, action: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.clicked.connect(lambda: action())
        column.addWidget(button)
        return button

    def _row(self, app_id: str) -> AppKey | None:
        return next((found for found in self._rows if found.app.id == app_id), None)

    def selected(self) -> AppKey:
        """The app whose key and base URL the fields below the list show."""
        item = self.apps_list.currentItem()
        found = self._row(item.data(0, Qt.ItemDataRole.UserRole)) if item is not None else None
        return found or self._rows[0]

    def _show_list(self, select: str) -> None:
        """The rows again; the fields below change only when the selected app did."""
        before = self.apps_list.currentItem()
        shown = before.data(0, Qt.ItemDataRole.UserRole) if before is not None else None
        self.apps_list.blockSignals(True)
        self.apps_list.clear()
        for found in self._rows:
            item = QTreeWidgetItem([found.app.name, found.app.base_url, key_status(found.source, found.problem)])
            item.setData(0, Qt.ItemDataRole.UserRole, found.app.id)
            if found.app.from_environment:
                item.setToolTip(0, "From the environment: unset VENDO_API_KEY to remove it")
            self.apps_list.addTopLevelItem(item)
            if found.app.id == select:
                self.apps_list.setCurrentItem(item)
        for column in range(3):
            self.apps_list.resizeColumnToContents(column)
        self.apps_list.blockSignals(False)
        if select == shown:
            self._show_controls()
        else:
            self._show_selected()

    def _show_selected(self) -> None:
        """The key and base URL fields become the selected app's."""
        found = self.selected()
        read_only = found.app.from_environment
        self.key_edit.setText(found.key or "")
        self.key_edit.setCursorPosition(0)  # read from the start, not scrolled to the end
        self.key_edit.setReadOnly(read_only)
        self.retry.setVisible(False)
        self._status("")
        self.source_label.setText(describe_source(found.source))
        self.base_url.setText(found.app.base_url)
        self.base_url.setReadOnly(read_only)
        self.base_url_error.setVisible(False)
        self._show_controls()

    def _show_controls(self) -> None:
        """The title and the buttons follow what the selected app allows."""
        app = self.selected().app
        read_only = app.from_environment
        ids = [found.app.id for found in self._rows if not found.app.from_environment]
        index = ids.index(app.id) if app.id in ids else -1
        self.key_box.setTitle("API key" if len(self._rows) == 1 else f"API key of {app.name}")
        self.save_key.setEnabled(not read_only)
        self.rename_app.setEnabled(not read_only)
        self.remove_app.setEnabled(not read_only and not self._demo)
        self.add_app.setEnabled(not self._demo)
        self.move_up.setEnabled(index > 0)
        self.move_down.setEnabled(0 <= index < len(ids) - 1)

    def _set_row(self, app_id: str, key: str | None, source: KeySource | None, *,
                 keep_typed: bool = False, problem: SecretsError | None = None) -> None:
        """What is known of an app's key changed: its row, and its fields when it is selected."""
        for index, found in enumerate(self._rows):
            if found.app.id == app_id:
                self._rows[index] = replace(found, key=key, source=source, problem=problem)
        item = self._item(app_id)
        if item is not None:
            item.setText(2, key_status(source, problem))
        if self.selected().app.id != app_id:
            return
        self.source_label.setText(describe_source(source))
        if not (keep_typed and self.key_edit.isModified()):
            self.key_edit.setText(key or "")
            self.key_edit.setCursorPosition(0)

    def _item(self, app_id: str) -> QTreeWidgetItem | None:
        for index in range(self.apps_list.topLevelItemCount()):
            item = self.apps_list.topLevelItem(index)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == app_id:
                return item
        return None

    def _apply(self, new: Settings, select: str | None = None, *, emit: bool = True) -> None:
        """A new Settings: the rows follow its list (keys kept by app id), then it is emitted."""
        old, self._settings = self._settings, new
        if select is not None or configured_apps(new) != configured_apps(old):
            select = select or self.selected().app.id
            known = {found.app.id: found for found in self._rows}
            rows = [replace(known[app.id], app=app) if app.id in known else AppKey(app, None, None)
                    for app in configured_apps(new)]
            self._rows = rows + [found for found in known.values() if found.app.from_environment]
            self._show_list(select if self._row(select) is not None else self._rows[0].app.id)
        if emit:
            self.settings_changed.emit(new)

    def show_settings(self, settings: Settings) -> None:
        """Settings changed elsewhere (``vendo-tray apps``, an editor): show them, emitting nothing.

        An app that arrived this way gets its key status from the keyring, off the UI thread.
        """
        arrived = [app for app in configured_apps(settings) if self._row(app.id) is None]
        values = [*self.notify_boxes.values(), *self.sound_boxes.values(), self.low_balance,
                  self.runway_days, self.start_at_login, self.keep_key_out]
        for widget in values:
            widget.blockSignals(True)  # setting them is not the user changing them
        try:
            for name, box in self.notify_boxes.items():
                box.setChecked(bool(settings.notify.get(name, False)))
            for urgency, box in self.sound_boxes.items():
                box.setChecked(urgency in settings.sounds)
            self.low_balance.setValue(float(settings.low_balance_dollars))
            self.runway_days.setValue(float(settings.runway_days))
            self.start_at_login.setChecked(settings.start_at_login)
            self.keep_key_out.setChecked(settings.keep_key_out_of_links)
        finally:
            for widget in values:
                widget.blockSignals(False)
        self._apply(settings, emit=False)
        if arrived:
            self._pending.update(app.id for app in arrived)
            self._tasks.spawn(self._read_keys(arrived))

    def _change(self, make: Callable[[], Settings]) -> None:
        """A change to the list by core.apps's rules; a refused one says why under the list."""
        try:
            new = make()
        except AppError as exc:
            self._list_status(str(exc), error=True)
            return
        self._list_status("")
        self._apply(new)

    def _list_status(self, text: str, *, error: bool = False) -> None:
        self.apps_list_status.setText(text)
        self.apps_list_status.setStyleSheet("color: #b91c1c;" if error else "")
        self.apps_list_status.setVisible(bool(text))

    def _move(self, offset: int) -> None:
        app_id = self.selected().app.id
        self._change(lambda: move_app(self._settings, app_id, offset))

    def _ask_rename(self) -> None:
        app = self.selected().app
        box = QInputDialog(self)
        box.setObjectName("renameApp")
        box.setWindowTitle("Rename app")
        box.setLabelText(f"New name for {app.name}:")
        box.setTextValue(app.name)
        box.textValueSelected.connect(lambda name: self.rename(app.id, name))
        box.open()

    def rename(self, app_id: str, name: str) -> None:
        """Rename an app: its id, keyring entry and history stay."""
        self._change(lambda: rename_app(self._settings, app_id, name))

    def _ask_remove(self) -> None:
        app = self.selected().app
        box = QMessageBox(QMessageBox.Icon.Question, "Remove app",
                          f"Stop watching {app.name} and delete its key from your keyring?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("removeApp")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        yes = box.button(QMessageBox.StandardButton.Yes)
        box.buttonClicked.connect(lambda button: button is yes and self._tasks.spawn(self.remove(app.id)))
        box.open()

    async def remove(self, app_id: str) -> None:
        """Delete the app's keyring entry (off-thread), then drop it from the list."""
        found = self._row(app_id)
        if found is None:
            return
        self._list_status("Removing…")
        try:
            await asyncio.to_thread(lambda: self._keystore.forget(found.app.account))
        except KeyringLocked as exc:  # the key would stay behind: keep the app until it can go
            self._list_status(f"{exc}", error=True)
            return
        except KeyringUnavailable:
            pass  # no keyring holds it; the session's copy is gone already
        self._rows.remove(found)
        self._change(lambda: remove_app(self._settings, app_id))
        self.key_changed.emit(app_id, None, None)

    def _ask_add(self) -> None:
        default = self._row(DEFAULT_APP_ID)
        # Still being read counts as a key: better an app too many on the list than one lost.
        keep_default = default is not None and (default.key is not None or DEFAULT_APP_ID in self._pending)
        dialog = AddAppDialog(self._settings, keep_default=keep_default, keystore=self._keystore,
                              tester=self._tester, parent=self)
        dialog.app_added.connect(self._added)
        self.add_dialog = dialog
        dialog.open()

    def _added(self, settings: Settings, app: AppProfile, key: str, source: KeySource) -> None:
        self._rows.append(AppKey(app, key, source))
        self._apply(settings, select=app.id)
        if source == KeySource.SESSION:
            self._status(self._session_only_text("No usable keyring stored it."), error=True)
        self.key_changed.emit(app.id, key, source)

    # -- building ------------------------------------------------------------
    def _key_group(self) -> QGroupBox:
        box = self.key_box = QGroupBox("API key")
        form = QVBoxLayout(box)
        row = QHBoxLayout()
        self.key_edit = QLineEdit()
        self.key_edit.setObjectName("key")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("vendo_sk_…")
        self.key_edit.setClearButtonEnabled(True)
        self.key_edit.setMinimumWidth(280)
        self.show_key = QToolButton()
        self.show_key.setText("Show")
        self.show_key.setCheckable(True)
        self.show_key.toggled.connect(self._toggle_echo)
        self.save_key = QPushButton("Save")
        self.save_key.clicked.connect(self._on_save)
        self.key_edit.returnPressed.connect(self._on_save)
        self.test_key = QPushButton("Test")
        self.test_key.clicked.connect(self._on_test)
        self.retry = QPushButton("Retry")
        self.retry.setVisible(False)
        self.retry.clicked.connect(self._on_save)
        row.addWidget(self.key_edit, 1)
        row.addWidget(self.show_key)
        row.addWidget(self.save_key)
        row.addWidget(self.test_key)
        row.addWidget(self.retry)
        form.addLayout(row)
        self.source_label = QLabel()
        self.source_label.setWordWrap(True)
        self.source_label.setObjectName("source")
        form.addWidget(self.source_label)
        self.key_status = QLabel()
        self.key_status.setWordWrap(True)
        self.key_status.setObjectName("keyStatus")
        self.key_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.key_status.setVisible(False)
        form.addWidget(self.key_status)
        return box

    def _notify_group(self) -> QGroupBox:
        box = QGroupBox("Notify me when")
        form = QVBoxLayout(box)
        self.notify_boxes: dict[str, QCheckBox] = {}
        for name, label in NOTIFY_TOGGLES:
            check = QCheckBox(label)
            check.setObjectName(f"notify_{name}")
            check.setChecked(bool(self._settings.notify.get(name, False)))
            check.toggled.connect(self._emit_settings)
            form.addWidget(check)
            self.notify_boxes[name] = check
        threshold = QHBoxLayout()
        threshold.addWidget(QLabel("Low balance below"))
        self.low_balance = QDoubleSpinBox()
        self.low_balance.setObjectName("lowBalance")
        self.low_balance.setPrefix("$")
        self.low_balance.setDecimals(2)
        self.low_balance.setRange(0.0, 100_000.0)
        self.low_balance.setSingleStep(0.5)
        self.low_balance.setValue(float(self._settings.low_balance_dollars))
        self.low_balance.valueChanged.connect(self._emit_settings)
        threshold.addWidget(self.low_balance)
        threshold.addSpacing(16)
        threshold.addWidget(QLabel("Running out within"))
        self.runway_days = QDoubleSpinBox()
        self.runway_days.setObjectName("runwayDays")
        self.runway_days.setSuffix(" days")
        self.runway_days.setDecimals(1)
        self.runway_days.setRange(*RUNWAY_DAYS_RANGE)
        self.runway_days.setSingleStep(0.5)
        self.runway_days.setValue(float(self._settings.runway_days))
        self.runway_days.setToolTip("Warn once when the balance would last less than this at the recent "
                                    "spend rate, before it runs low")
        self.runway_days.valueChanged.connect(self._emit_settings)
        threshold.addWidget(self.runway_days)
        threshold.addStretch(1)
        form.addLayout(threshold)
        sounds = QHBoxLayout()
        sounds.addWidget(QLabel("Play a sound for"))
        self.sound_boxes: dict[str, QCheckBox] = {}
        for urgency, label in SOUND_TOGGLES:
            check = QCheckBox(label)
            check.setObjectName(f"sound_{urgency}")
            check.setChecked(urgency in self._settings.sounds)
            check.toggled.connect(self._emit_settings)
            sounds.addWidget(check)
            self.sound_boxes[urgency] = check
        sounds.addStretch(1)
        form.addLayout(sounds)
        return box

    def _general_group(self) -> QGroupBox:
        box = QGroupBox("General")
        form = QVBoxLayout(box)
        self.start_at_login = QCheckBox("Start Vendo Tray when I log in")
        self.start_at_login.setObjectName("startAtLogin")
        self.start_at_login.setChecked(self._settings.start_at_login)
        self.start_at_login.toggled.connect(self._emit_settings)
        form.addWidget(self.start_at_login)
        self.keep_key_out = QCheckBox("Keep my key out of links (re-authorize through the dashboard instead)")
        self.keep_key_out.setObjectName("keepKeyOut")
        self.keep_key_out.setChecked(self._settings.keep_key_out_of_links)
        self.keep_key_out.toggled.connect(self._emit_settings)
        form.addWidget(self.keep_key_out)
        return box

    def _advanced_group(self) -> QGroupBox:
        box = QGroupBox("Advanced")
        form = QFormLayout(box)
        self.base_url = QLineEdit()
        self.base_url.setObjectName("baseUrl")
        self.base_url.editingFinished.connect(self._emit_settings)
        form.addRow("Base URL", self.base_url)
        self.base_url_error = QLabel()
        self.base_url_error.setObjectName("baseUrlError")
        self.base_url_error.setStyleSheet("color: #b91c1c;")
        self.base_url_error.setVisible(False)
        form.addRow("", self.base_url_error)
        return box

    # -- state -----------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self._settings

    def _toggle_echo(self, shown: bool) -> None:
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.show_key.setText("Hide" if shown else "Show")

    def set_key_source(self, source: KeySource | None, app_id: str | None = None) -> None:
        """Where the key of ``app_id`` (default: the app the dialog was opened for) now comes from."""
        found = self._row(app_id or self._in_use)
        if found is not None:
            self._set_row(found.app.id, found.key, source, keep_typed=True)

    def show_rejection(self, detail: str | None, app_id: str | None = None) -> None:
        """The server refused an app's key: say so where the user will fix it (when it is shown)."""
        if detail and self.selected().app.id == (app_id or self._in_use):
            self._status(f"{detail}. Paste a current key and Save.", error=True)

    def _status(self, text: str, *, error: bool = False) -> None:
        self.key_status.setText(text)
        self.key_status.setStyleSheet("color: #b91c1c;" if error else "")
        self.key_status.setVisible(bool(text))

    def _collect(self) -> Settings | None:
        """The Settings the fields show; the base URL field is the selected app's."""
        notify = {name: box.isChecked() for name, box in self.notify_boxes.items()}
        new = self._settings.with_changes(
            low_balance_dollars=round(self.low_balance.value(), 2),
            runway_days=round(self.runway_days.value(), 1),
            notify={**self._settings.notify, **notify},
            start_at_login=self.start_at_login.isChecked(),
            keep_key_out_of_links=self.keep_key_out.isChecked(),
            sounds=tuple(u for u, box in self.sound_boxes.items() if box.isChecked()),
        )
        app = self.selected().app
        if app.from_environment:
            return new
        try:
            base_url = clean_base_url(self.base_url.text())
        except AppError as exc:
            self.base_url_error.setText(str(exc))
            self.base_url_error.setVisible(True)
            return None
        self.base_url_error.setVisible(False)
        if base_url == app.base_url:
            return new
        if not new.apps:  # the implied app of a setup that never edited the list: its URL, as always
            return new.with_changes(base_url=base_url)
        return change_base_url(new, app.id, base_url)

    def _emit_settings(self, *_: object) -> None:
        new = self._collect()
        if new is not None and new != self._settings:
            self._apply(new)

    # -- key: save -------------------------------------------------------------
    def _on_save(self) -> None:
        key = self.key_edit.text().strip()
        if not key:
            self._status("Enter your API key first (it starts with vendo_sk_).", error=True)
            return
        if self._demo:
            # The demo promises nothing is saved; a demo key in the real keyring
            # would be "Key rejected" on the next normal start.
            self._status(f"Demo mode: the key is not saved. Start {APP_NAME} without --demo "
                         "to save your own key.", error=True)
            return
        if not self.selected().app.from_environment:
            self._tasks.spawn(self.save_key_now(key))

    async def save_key_now(self, key: str) -> None:
        """Store ``key`` as the selected app's in the keyring (off-thread) and report where it went."""
        app = self.selected().app
        self.save_key.setEnabled(False)
        self.retry.setVisible(False)
        self._status("Saving…")
        try:
            # A closure, not (save, key): qasync's executor logs its callbacks'
            # arguments at DEBUG, and the key must never be one of them.
            await asyncio.to_thread(lambda: self._keystore.save(key, app.account))
        except KeyringLocked as exc:
            self._status(f"{exc}", error=True)
            self.retry.setVisible(True)
            return
        except KeyringUnavailable as exc:
            self._keystore.keep_for_session(key, app.account)
            self._status(self._session_only_text(str(exc)), error=True)
            self._apply_key(app.id, key, KeySource.SESSION)
            return
        except Exception as exc:  # never let a surprise keyring failure kill the app
            log.exception("saving the key failed")
            self._status(f"Could not save the key: {type(exc).__name__}", error=True)
            return
        finally:
            self.save_key.setEnabled(not self.selected().app.from_environment)
        self._status("Saved in your keyring.")
        self._apply_key(app.id, key, KeySource.KEYRING)

    @staticmethod
    def _session_only_text(why: str) -> str:
        return (f"{why} The key is kept in memory for this session only and will be gone when "
                f"{APP_NAME} quits; it was not written to any file. To keep it, install or start "
                "a keyring (GNOME Keyring, KWallet) or set VENDO_API_KEY.")

    def _apply_key(self, app_id: str, key: str, source: KeySource) -> None:
        self._set_row(app_id, key, source)
        self.key_changed.emit(app_id, key, source)

    # -- key: test ---------------------------------------------------------------
    def _on_test(self) -> None:
        self._tasks.spawn(self.test_key_now())

    async def test_key_now(self) -> None:
        """Make the real call with the typed key and base URL; show what answered."""
        key = self.key_edit.text().strip()
        if not key:
            self._status("Enter a key to test.", error=True)
            return
        try:
            base_url = clean_base_url(self.base_url.text())
        except AppError as exc:
            self._status(f"Base URL: {exc}", error=True)
            return
        self.test_key.setEnabled(False)
        self._status(f"Testing against {base_url}…")
        try:
            answer = await self._tester(key, base_url)
        except Exception as exc:  # VendoError's text is the server's exact words, never the key
            self._status(f"Test against {base_url} failed: {type(exc).__name__}: {exc}", error=True)
        else:
            self._status(answer)
        finally:
            self.test_key.setEnabled(True)

    def done(self, result: int) -> None:
        """Close, Escape and the window's close button all end here."""
        self._emit_settings()  # a base URL typed but not yet confirmed still counts
        super().done(result)
