"""One Vendo Tray per user: a second launch shows the first one's window and exits.

WHY: Vendo caps events streams at five per app, and two trays would also
notify everything twice.  A QLockFile decides who is first (it survives a
crash: Qt notices the owning PID is gone and takes the stale lock over); the
first instance then listens on a QLocalServer, and a later launch connects to
it, sends ``show``, and exits 0.

Both names are per user and live in the runtime/temp directory, so separate
users on one machine each get their own instance.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import sys
from pathlib import Path

from PySide6.QtCore import QDir, QLockFile, QObject, QStandardPaths, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

SHOW = b"show\n"


def instance_name(base: str = "vendo-tray") -> str:
    """A short per-user name (local socket paths have a ~100 byte limit)."""
    try:
        user = getpass.getuser()
    except Exception:  # no user database entry (containers)
        user = "user"
    digest = hashlib.sha256(user.encode("utf-8", "replace")).hexdigest()[:12]
    return f"{base}-{digest}"


def _lock_dir() -> Path:
    runtime = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.RuntimeLocation)
    return Path(runtime or QDir.tempPath())


class SingleInstance(QObject):
    """Claims the per-user instance, or hands over to the one already running.

    Usage::

        guard = SingleInstance()
        if not guard.acquire():       # someone else is first: they were told to show
            return 0
        guard.show_requested.connect(window.show)
    """

    #: Another launch asked this (first) instance to show its window.
    show_requested = Signal()

    def __init__(self, name: str | None = None, lock_dir: Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or instance_name()
        directory = lock_dir or _lock_dir()
        self.lock_path = directory / f"{self.name}.lock"
        # Unix: a socket beside the lock (private runtime dir, not shared /tmp);
        # Windows: a named pipe, which takes a bare name.
        self.server_name = self.name if sys.platform == "win32" else str(directory / f"{self.name}.sock")
        self._lock = QLockFile(str(self.lock_path))
        # 0 = never treat a live owner's lock as stale by age alone (a tray app
        # runs for weeks); a dead owner's lock is still detected by its PID.
        # Unix also holds an flock on it, but Windows relies on this.
        self._lock.setStaleLockTime(0)
        self._server: QLocalServer | None = None
        self.primary = False

    def acquire(self, timeout_ms: int = 3000) -> bool:
        """True when this process is the first; False after telling the first to show."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        if self._lock.tryLock(100):
            self.primary = True
            self._listen()
            return True
        if self._notify_primary(timeout_ms):
            log.info("Vendo Tray is already running; asked it to show its window")
        else:
            # The owner holds the lock but does not answer (still starting up, or
            # hung).  Still exit: a second stream is worse than a missing window.
            log.warning("Vendo Tray is already running but did not answer")
        return False

    def _listen(self) -> None:
        QLocalServer.removeServer(self.server_name)  # a crashed owner's leftover socket
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.server_name):
            log.warning("single-instance server could not listen: %s", server.errorString())
            return
        server.newConnection.connect(self._accept)
        self._server = server

    def _accept(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        data = bytes(socket.readAll().data())
        if SHOW.strip() in data:
            log.info("a second launch asked to show the window")
            self.show_requested.emit()

    def _notify_primary(self, timeout_ms: int) -> bool:
        socket = QLocalSocket()
        socket.connectToServer(self.server_name)
        if not socket.waitForConnected(timeout_ms):
            return False
        socket.write(SHOW)
        ok = socket.waitForBytesWritten(timeout_ms)
        socket.disconnectFromServer()
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(timeout_ms)
        return ok

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.primary:
            self._lock.unlock()
            self.primary = False
