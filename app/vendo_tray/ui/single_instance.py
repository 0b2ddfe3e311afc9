"""One Vendo Tray per user: a second launch shows the first one's window and exits.

WHY: Vendo caps events streams at five per app, and two trays would also
notify everything twice.  A QLockFile decides who is first (it survives a
crash: Qt notices the owning PID is gone and takes the stale lock over); the
first instance then listens on a local channel, and a later launch connects to
it, sends ``show``, and exits 0.

The channel is a Unix-domain socket watched by a QSocketNotifier (QtCore) on
Linux and macOS, and QtNetwork's QLocalServer (a named pipe) on Windows, where
Python has no AF_UNIX.  WHY not QLocalServer everywhere: it maps QtNetwork and
its binding, about 3 MB of a live idle tray's memory (issue 11), for one
connection per second launch; QtNetwork now loads only if the network goes
away (reachability) or on Windows.  Both channels speak the same bytes, so a
launch of one version hands over to a running one of another.

Both names are per user and live in the runtime/temp directory, so separate
users on one machine each get their own instance.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QDir, QLockFile, QObject, QSocketNotifier, QStandardPaths, Signal

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
                 parent: QObject | None = None, channel: type[Channel] | None = None) -> None:
        super().__init__(parent)
        self._channel_type = channel or platform_channel()
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
        self._channel: Channel | None = None
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
        self._channel = self._channel_type(self.server_name, self.show_requested.emit, self)
        if not self._channel.listen():
            self._channel = None

    def _notify_primary(self, timeout_ms: int) -> bool:
        return self._channel_type.ask(self.server_name, timeout_ms)

    def release(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self.primary:
            self._lock.unlock()
            self.primary = False


class Channel(Protocol):
    """The first instance's ear: a later launch's connection is a request to show."""

    def __init__(self, address: str, on_request: Callable[[], object], parent: QObject) -> None: ...

    def listen(self) -> bool:
        """Start taking requests; False (after one log line) when the address cannot be used."""

    def close(self) -> None: ...

    @staticmethod
    def ask(address: str, timeout_ms: int) -> bool:
        """From a later launch: tell the first to show; True when it was heard."""


class UnixSocketChannel:
    """A Unix-domain socket, user-only, watched by a QSocketNotifier on the Qt loop."""

    def __init__(self, address: str, on_request: Callable[[], object], parent: QObject) -> None:
        self._address = address
        self._on_request = on_request
        self._parent = parent
        self._socket: socket.socket | None = None
        self._notifier: QSocketNotifier | None = None

    def listen(self) -> bool:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # We hold the lock, so a socket file still there is a crashed owner's leftover.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._address)
            server.bind(self._address)
            os.chmod(self._address, 0o600)  # as QLocalServer's UserAccessOption: this user only
            server.listen(8)
            server.setblocking(False)
        except OSError as exc:
            log.warning("single-instance socket could not listen: %s", exc)
            server.close()
            return False
        self._socket = server
        self._notifier = QSocketNotifier(server.fileno(), QSocketNotifier.Type.Read, self._parent)
        self._notifier.activated.connect(self._accept)
        return True

    def _accept(self) -> None:
        """Every connection is one request: the launch connected, so it wants the window."""
        assert self._socket is not None
        asked = False
        while True:
            try:
                peer, _ = self._socket.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.warning("single-instance socket: %s", exc)
                break
            peer.close()  # what it sent ("show") need not be read: connecting is the request
            asked = True
        if asked:
            log.info("a second launch asked to show the window")
            self._on_request()

    def close(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
            with contextlib.suppress(OSError):
                os.unlink(self._address)

    @staticmethod
    def ask(address: str, timeout_ms: int) -> bool:
        """Connect and send ``show``, retrying while the first instance is still starting.

        The lock's owner is alive (QLockFile checked its PID) but may not listen yet:
        between taking the lock and listening it shows nothing, so a refused or missing
        socket is worth another try until the deadline.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    client.connect(address)
                except (FileNotFoundError, ConnectionRefusedError):
                    if time.monotonic() >= deadline:
                        return False
                except OSError:
                    return False
                else:
                    # Heard: the first accepts and closes without reading, so a send
                    # that meets the closed end changes nothing.  ("show" is for a
                    # running older version, which reads it.)
                    with contextlib.suppress(OSError):
                        client.sendall(SHOW)
                    return True
            time.sleep(0.05)


class QtLocalChannel:
    """QtNetwork's QLocalServer: a named pipe on Windows (imported only where used)."""

    def __init__(self, address: str, on_request: Callable[[], object], parent: QObject) -> None:
        from PySide6.QtNetwork import QLocalServer

        self._address = address
        self._on_request = on_request
        self._server = QLocalServer(parent)

    def listen(self) -> bool:
        from PySide6.QtNetwork import QLocalServer

        QLocalServer.removeServer(self._address)  # a crashed owner's leftover
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self._server.listen(self._address):
            log.warning("single-instance server could not listen: %s", self._server.errorString())
            return False
        self._server.newConnection.connect(self._accept)
        return True

    def _accept(self) -> None:
        asked = False
        while self._server.hasPendingConnections():
            peer = self._server.nextPendingConnection()  # the server's child until it leaves
            peer.disconnected.connect(peer.deleteLater)  # connecting is the request, as on Unix
            asked = True
        if asked:
            log.info("a second launch asked to show the window")
            self._on_request()

    def close(self) -> None:
        self._server.close()

    @staticmethod
    def ask(address: str, timeout_ms: int) -> bool:
        from PySide6.QtNetwork import QLocalSocket

        client = QLocalSocket()
        client.connectToServer(address)
        if not client.waitForConnected(timeout_ms):
            return False
        client.write(SHOW)
        ok = client.waitForBytesWritten(timeout_ms)
        client.disconnectFromServer()
        if client.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            client.waitForDisconnected(timeout_ms)
        return ok


def platform_channel() -> type[Channel]:
    """Unix-domain sockets where Python has them; QtNetwork's named pipes on Windows."""
    return QtLocalChannel if sys.platform == "win32" else UnixSocketChannel
