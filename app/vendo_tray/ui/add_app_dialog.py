"""Settings → Add app…: a name, a base URL and a key that passed a live test before it is kept.

The rules (a name that is free, a base URL the one base-URL rule takes, the new
app's id and keyring entry) are ``core.apps.add_app``'s; the test is the
settings dialog's own (the monitor's real call to the connections endpoint).
Add stays disabled until the key passed the test against exactly the base URL
shown, so a key that does not work is never saved.  The key goes to the
keyring off the UI thread; a keyring that cannot store it keeps it for this
session (``KeyStore.keep_for_session``), a locked one says so and Add can be
pressed again after unlocking.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from vendo_tray.client.safety import DEFAULT_BASE_URL
from vendo_tray.core.aio import TaskSet
from vendo_tray.core.apps import AppError, AppProfile, add_app, clean_base_url
from vendo_tray.core.secrets import KeyringLocked, KeyringUnavailable, KeySource, KeyStore
from vendo_tray.core.settings import Settings

log = logging.getLogger(__name__)

#: The live key test (``Monitor.test_key``): (key, base URL) -> what answered, or raises.
KeyTester = Callable[[str, str], Awaitable[str]]


class AddAppDialog(QDialog):
    """Collects one app; emits :attr:`app_added` once its key passed the test and was kept."""

    #: (new Settings with the app at the end, the AppProfile, the key, KeySource KEYRING or SESSION)
    app_added = Signal(object, object, object, object)

    def __init__(self, settings: Settings, *, keep_default: bool, keystore: KeyStore,
                 tester: KeyTester, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a Vendo app")
        self.setObjectName("vendo-add-app")
        self._settings = settings
        self._keep_default = keep_default
        self._keystore = keystore
        self._tester = tester
        self._tasks = TaskSet()
        self._passed: tuple[str, str] | None = None  # (key, base URL) that passed the test

        form = QFormLayout(self)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("appName")
        self.name_edit.setPlaceholderText("prod, staging, a client's name…")
        form.addRow("Name", self.name_edit)
        self.base_url_edit = QLineEdit(DEFAULT_BASE_URL)
        self.base_url_edit.setObjectName("appBaseUrl")
        form.addRow("Base URL", self.base_url_edit)
        self.key_edit = QLineEdit()
        self.key_edit.setObjectName("appKey")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("vendo_sk_…")
        self.key_edit.setMinimumWidth(280)
        form.addRow("API key", self.key_edit)
        self.status = QLabel("Test the key, then Add.")
        self.status.setObjectName("addStatus")
        self.status.setWordWrap(True)
        form.addRow(self.status)
        buttons = QDialogButtonBox()
        self.test_button = QPushButton("Test")
        self.add_button = QPushButton("Add")
        self.add_button.setEnabled(False)
        buttons.addButton(self.test_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.add_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        for button in buttons.findChildren(QPushButton):
            button.setAutoDefault(False)  # Enter in a field must not add an untested key
            button.setDefault(False)
        buttons.rejected.connect(self.reject)
        self.test_button.clicked.connect(lambda: self._tasks.spawn(self.test_now()))
        self.add_button.clicked.connect(lambda: self._tasks.spawn(self.add_now()))
        for edit in (self.key_edit, self.base_url_edit):
            edit.textChanged.connect(self._changed)
        form.addRow(buttons)

    def _changed(self) -> None:
        """A new key or base URL has not passed the test yet."""
        self._passed = None
        self.add_button.setEnabled(False)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #b91c1c;" if error else "")

    def _checked(self) -> tuple[Settings, AppProfile, str] | None:
        """The list with this app added (core.apps's rules) and the key; None after saying why not."""
        key = self.key_edit.text().strip()
        try:
            settings, app = add_app(self._settings, self.name_edit.text(), self.base_url_edit.text(),
                                    keep_default=self._keep_default)
        except AppError as exc:
            self._say(str(exc), error=True)
            return None
        if not key:
            self._say("Enter the app's API key (it starts with vendo_sk_).", error=True)
            return None
        return settings, app, key

    async def test_now(self) -> None:
        """The live test; Add is enabled only when it passed for the key and URL shown."""
        checked = self._checked()
        if checked is None:
            return
        _, app, key = checked
        self.test_button.setEnabled(False)
        self._say(f"Testing against {app.base_url}…")
        try:
            answer = await self._tester(key, app.base_url)
        except Exception as exc:  # VendoError's text is the server's exact words, never the key
            self._say(f"Test against {app.base_url} failed: {type(exc).__name__}: {exc}", error=True)
            return
        finally:
            self.test_button.setEnabled(True)
        if (self.key_edit.text().strip(), clean_base_url(self.base_url_edit.text())) != (key, app.base_url):
            return  # edited while the test ran: that is not what passed
        self._passed = (key, app.base_url)
        self.add_button.setEnabled(True)
        self._say(answer)

    async def add_now(self) -> None:
        """Keep the key (keyring, else this session) and hand the new list over."""
        checked = self._checked()
        if checked is None or self._passed != (checked[2], checked[1].base_url):
            self._changed()
            return
        settings, app, key = checked
        self.add_button.setEnabled(False)
        self._say("Saving…")
        source = KeySource.KEYRING
        try:
            # A closure, not (save, key): qasync's executor logs its callbacks' arguments.
            await asyncio.to_thread(lambda: self._keystore.save(key, app.account))
        except KeyringLocked as exc:
            self._say(str(exc), error=True)
            self.add_button.setEnabled(True)
            return
        except KeyringUnavailable:
            self._keystore.keep_for_session(key, app.account)
            source = KeySource.SESSION
        except Exception as exc:  # never let a surprise keyring failure kill the app
            log.exception("saving the new app's key failed")
            self._say(f"Could not save the key: {type(exc).__name__}", error=True)
            self.add_button.setEnabled(True)
            return
        self.app_added.emit(settings, app, key, source)
        self.accept()
