"""The settings dialog: API key (keyring), Test, notification toggles, login item, base URL.

Every change applies at once (there is no OK/Cancel): a toggle emits
:attr:`SettingsDialog.settings_changed` with a complete new :class:`Settings`,
and a saved key emits :attr:`SettingsDialog.key_changed`; ``ui.app`` hands
both to the monitor and persists the settings.  The dialog itself never
talks to the network or decides policy; "Test" awaits the coroutine it was
given (the monitor's real call to the connections endpoint) and shows what
answered, or the exact error.

Keyring calls can block (D-Bus, an unlock prompt), so they run in a worker
thread while the dialog stays responsive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vendo_tray import APP_NAME
from vendo_tray.client.safety import base_url_problem
from vendo_tray.core.notices import Topic
from vendo_tray.core.secrets import (
    KeyringLocked,
    KeyringUnavailable,
    KeySource,
    KeyStore,
    describe_source,
)
from vendo_tray.core.settings import RUNWAY_DAYS_RANGE, Settings

log = logging.getLogger(__name__)

KeyTester = Callable[[str, str], Awaitable[str]]

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

def validate_base_url(text: str) -> str:
    """Return the cleaned base URL or raise ValueError with a sentence for the user.

    https only, because the key travels in every request; plain http is
    allowed for loopback addresses (a local simulator or proxy), where it
    never leaves the machine.
    """
    url = text.strip().rstrip("/")
    problem = base_url_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return url


class SettingsDialog(QDialog):
    """Edits :class:`Settings` and the key; emits changes as they happen."""

    #: A complete new Settings object, after any toggle/field change.
    settings_changed = Signal(object)
    #: (key or None, source) after Save: source is "keyring" or "session".
    key_changed = Signal(object, object)

    def __init__(self, settings: Settings, *, keystore: KeyStore, tester: KeyTester,
                 key_in_use: str | None, key_source: KeySource | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{APP_NAME} Settings")
        self.setObjectName("vendo-settings")
        self._settings = settings
        self._keystore = keystore
        self._tester = tester
        self._key_source = key_source
        self._tasks: set[asyncio.Task[None]] = set()

        layout = QVBoxLayout(self)
        layout.addWidget(self._key_group(key_in_use))
        layout.addWidget(self._notify_group())
        layout.addWidget(self._general_group())
        layout.addWidget(self._advanced_group())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        # No default button: QDialog would press it on Enter in *any* field, so
        # confirming a base URL would also save whatever key is in the key field
        # (even one that came from VENDO_API_KEY).  Enter in the key field saves.
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
            button.setDefault(False)
        self._show_source()
        self.resize(520, self.sizeHint().height())

    # -- building ------------------------------------------------------------
    def _key_group(self, key_in_use: str | None) -> QGroupBox:
        box = QGroupBox("API key")
        form = QVBoxLayout(box)
        row = QHBoxLayout()
        self.key_edit = QLineEdit(key_in_use or "")
        self.key_edit.setObjectName("key")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("vendo_sk_…")
        self.key_edit.setClearButtonEnabled(True)
        self.key_edit.setCursorPosition(0)  # read from the start, not scrolled to the end
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
        self.base_url = QLineEdit(self._settings.base_url)
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

    def _show_source(self) -> None:
        self.source_label.setText(describe_source(self._key_source))

    def set_key_source(self, source: KeySource | None) -> None:
        self._key_source = source
        self._show_source()

    def show_rejection(self, detail: str | None) -> None:
        """The server refused the key in use: say so where the user will fix it."""
        if detail:
            self._status(f"{detail}. Paste a current key and Save.", error=True)

    def _status(self, text: str, *, error: bool = False) -> None:
        self.key_status.setText(text)
        self.key_status.setStyleSheet("color: #b91c1c;" if error else "")
        self.key_status.setVisible(bool(text))

    def _collect(self) -> Settings | None:
        try:
            base_url = validate_base_url(self.base_url.text())
        except ValueError as exc:
            self.base_url_error.setText(str(exc))
            self.base_url_error.setVisible(True)
            return None
        self.base_url_error.setVisible(False)
        notify = {name: box.isChecked() for name, box in self.notify_boxes.items()}
        return self._settings.with_changes(
            base_url=base_url,
            low_balance_dollars=round(self.low_balance.value(), 2),
            runway_days=round(self.runway_days.value(), 1),
            notify={**self._settings.notify, **notify},
            start_at_login=self.start_at_login.isChecked(),
            keep_key_out_of_links=self.keep_key_out.isChecked(),
            sounds=tuple(u for u, box in self.sound_boxes.items() if box.isChecked()),
        )

    def _emit_settings(self, *_: object) -> None:
        new = self._collect()
        if new is None or new == self._settings:
            return
        self._settings = new
        self.settings_changed.emit(new)

    # -- key: save -------------------------------------------------------------
    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_save(self) -> None:
        key = self.key_edit.text().strip()
        if not key:
            self._status("Enter your API key first (it starts with vendo_sk_).", error=True)
            return
        if self._key_source == KeySource.DEMO:
            # The demo promises nothing is saved; a demo key in the real keyring
            # would be "Key rejected" on the next normal start.
            self._status(f"Demo mode: the key is not saved. Start {APP_NAME} without --demo "
                         "to save your own key.", error=True)
            return
        self._spawn(self.save_key_now(key))

    async def save_key_now(self, key: str) -> None:
        """Store ``key`` in the keyring (off-thread) and report where it went."""
        self.save_key.setEnabled(False)
        self.retry.setVisible(False)
        self._status("Saving…")
        try:
            # A closure, not (save, key): qasync's executor logs its callbacks'
            # arguments at DEBUG, and the key must never be one of them.
            await asyncio.to_thread(lambda: self._keystore.save(key))
        except KeyringLocked as exc:
            self._status(f"{exc}", error=True)
            self.retry.setVisible(True)
            return
        except KeyringUnavailable as exc:
            self._keystore.keep_for_session(key)
            self._status(
                f"{exc} The key is kept in memory for this session only and will be gone when "
                f"{APP_NAME} quits; it was not written to any file. To keep it, install or start "
                "a keyring (GNOME Keyring, KWallet) or set VENDO_API_KEY.", error=True)
            self._apply_key(key, KeySource.SESSION)
            return
        except Exception as exc:  # never let a surprise keyring failure kill the app
            log.exception("saving the key failed")
            self._status(f"Could not save the key: {type(exc).__name__}", error=True)
            return
        finally:
            self.save_key.setEnabled(True)
        if self._key_source == KeySource.ENV:
            self._status("Saved in your keyring. VENDO_API_KEY is set in the environment and still "
                         "takes precedence; the saved key is used once it is unset.")
            return
        self._status("Saved in your keyring.")
        self._apply_key(key, KeySource.KEYRING)

    def _apply_key(self, key: str, source: KeySource) -> None:
        self.set_key_source(source)
        self.key_changed.emit(key, source)

    # -- key: test ---------------------------------------------------------------
    def _on_test(self) -> None:
        self._spawn(self.test_key_now())

    async def test_key_now(self) -> None:
        """Make the real call with the typed key and base URL; show what answered."""
        key = self.key_edit.text().strip()
        if not key:
            self._status("Enter a key to test.", error=True)
            return
        try:
            base_url = validate_base_url(self.base_url.text())
        except ValueError as exc:
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
