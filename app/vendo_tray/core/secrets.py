"""The API key, kept in the OS keyring (never a file we write).

Shaped after Maestral's keyring handling: one small class in front of
``keyring`` that turns the many ways a keyring can fail into two typed errors
the UI can explain in one sentence:

* :class:`KeyringUnavailable` – there is no usable backend (no Secret Service
  on this session, or only a plain-text one).  The app then keeps the key in
  memory for this session only and says so; it never silently falls back to
  a plain-text file.
* :class:`KeyringLocked` – the keyring exists but is locked (or the unlock
  prompt was dismissed).  The UI asks the user to unlock it and offers Retry.

``VENDO_API_KEY`` in the environment wins over the keyring, as in the SDKs.

These calls may block (D-Bus round trips, an unlock prompt); the UI runs them
off the event-loop thread.

keyring is imported on first use, not with this module: a session whose key
comes from the environment never loads it, and its back end is this platform's
own (:data:`PLATFORM_BACKEND`) picked directly. ``keyring.get_keyring()`` would
read every installed distribution's entry points and import and probe every
back end to find that same one; we let it search only when the user configured
keyring (``PYTHON_KEYRING_BACKEND``, keyringrc.cfg) or the platform's back end is
not usable in this session (it may still find KWallet, or report none).

On Linux the tray reads keys in a short-lived child process (``read_in_child``,
:func:`serve_read`): the Secret Service back end brings secretstorage, jeepney
and cryptography, about 11 MB that a live tray would otherwise keep for the
rest of the day to read one string at start (issue 11). The child runs this
module's own read, so its errors are these, with the same words; the key comes
back over a pipe, never an argument, the environment or a log line. Storing,
forgetting and the settings dialog load the back end in the tray itself, as
before: the user asked for it, and once loaded, reads stay in-process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Any, TypeVar

from vendo_tray import KEY_READER_ARG

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

log = logging.getLogger(__name__)

_T = TypeVar("_T")

SERVICE = "vendo-tray"
ACCOUNT = "api-key"
ENV_VAR = "VENDO_API_KEY"
#: Where a key read in a child pays off: Linux's Secret Service back end is the heavy one
#: (macOS's and Windows' are thin ctypes wrappers, cheaper than a second process).
READ_IN_CHILD = sys.platform.startswith("linux")


class KeySource(StrEnum):
    """Where the key in use came from (``AppState.key_source``; the settings dialog says it)."""

    ENV = "env"
    KEYRING = "keyring"
    #: Held in memory for this session only: no keyring could store it.
    SESSION = "session"
    DEMO = "demo"


#: Each platform's own keyring back end (what keyring's search picks there anyway).
PLATFORM_BACKEND = {
    "linux": "keyring.backends.SecretService.Keyring",
    "darwin": "keyring.backends.macOS.Keyring",
    "win32": "keyring.backends.Windows.WinVaultKeyring",
}


class SecretsError(Exception):
    """Any failure to read or store the key.  Messages never contain the key."""


class KeyringUnavailable(SecretsError):
    """No usable keyring backend on this system/session."""


class KeyringLocked(SecretsError):
    """The keyring is locked, or the user dismissed the unlock prompt."""


class KeyringTimeout(KeyringLocked):
    """The keyring did not answer in time (:func:`bounded`): most likely an unlock prompt waits."""


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """The key to use at start-up, where it came from, and why not if missing."""

    key: str | None = field(repr=False)  # a repr lands in logs and tracebacks
    source: KeySource | None
    problem: SecretsError | None = None


def _is_plaintext(backend: KeyringBackend) -> bool:
    """keyrings.alt's file backends store secrets readable on disk: refuse them."""
    module = type(backend).__module__
    return module.startswith("keyrings.alt") or "Plaintext" in type(backend).__name__


def _is_fail(backend: KeyringBackend) -> bool:
    return type(backend).__module__ == "keyring.backends.fail"


def default_backend() -> KeyringBackend:
    """The keyring back end for this session: the user's configured one, else the
    platform's own when it is usable, else whatever keyring's full search finds."""
    import keyring.core

    configured = keyring.core.load_env() or keyring.core.load_config()
    if configured is not None:
        return configured
    name = PLATFORM_BACKEND.get("linux" if sys.platform.startswith("linux") else sys.platform)
    if name is not None:
        try:
            return keyring.core.load_keyring(name)  # raises when not viable in this session
        except Exception as exc:  # no Secret Service on the bus, a missing module, ...
            log.debug("keyring: %s is not usable here (%s); searching all back ends", name, exc)
    return keyring.core.get_keyring()


def describe_backend(backend: KeyringBackend) -> str:
    """A short human name ("SecretService Keyring") for the dialog."""
    name = getattr(backend, "name", None)
    return str(name) if name else type(backend).__name__


class KeyStore:
    """Reads, stores and forgets the API key.

    ``backend`` defaults to whatever ``keyring`` chose for this session;
    tests pass a specific one.  ``env`` defaults to ``os.environ``.
    """

    def __init__(self, backend: KeyringBackend | None = None,
                 env: Mapping[str, str] | None = None, *, read_in_child: bool = False) -> None:
        self._backend = backend
        self._env = os.environ if env is None else env
        #: Reads go to a child process until this process loads a back end itself (module doc).
        self._reader = reader_command() if read_in_child and READ_IN_CHILD and backend is None else None
        self._session_keys: dict[str, str] = {}  # by keyring account
        self._lock = threading.Lock()

    # -- backend ---------------------------------------------------------
    @property
    def backend(self) -> KeyringBackend:
        if self._backend is None:
            self._backend = default_backend()
        return self._backend

    def backend_name(self) -> str:
        return describe_backend(self.backend)

    def _usable_backend(self) -> KeyringBackend:
        backend = self.backend
        if _is_fail(backend):
            raise KeyringUnavailable(
                "No system keyring was found (no Secret Service, KWallet, macOS Keychain "
                "or Windows Credential Locker is reachable from this session).")
        if _is_plaintext(backend):
            raise KeyringUnavailable(
                f"The only keyring available ({describe_backend(backend)}) stores secrets "
                "in a plain-text file, which Vendo Tray refuses to use.")
        return backend

    def _call(self, what: str, fn: Callable[..., _T], *args: Any) -> _T:
        """Run a backend call, translating its failures into our two errors."""
        import keyring.errors

        backend = self._usable_backend()
        try:
            with self._lock:
                return fn(backend, *args)
        except keyring.errors.KeyringLocked as exc:
            raise KeyringLocked(
                "Your keyring is locked. Unlock it (for example by logging in again "
                "or opening your keyring manager) and retry.") from exc
        except keyring.errors.NoKeyringError as exc:
            raise KeyringUnavailable(f"No system keyring is available ({exc}).") from exc
        except keyring.errors.InitError as exc:
            raise KeyringUnavailable(f"The keyring could not be opened: {exc}") from exc
        except keyring.errors.PasswordDeleteError:
            raise
        except Exception as exc:  # D-Bus errors, dismissed prompts, …
            if "lock" in type(exc).__name__.lower() or "dismiss" in str(exc).lower():
                raise KeyringLocked(
                    "Your keyring is locked (or the unlock prompt was dismissed). "
                    "Unlock it and retry.") from exc
            log.warning("keyring %s failed: %s", what, type(exc).__name__)
            raise KeyringUnavailable(
                f"The keyring failed to {what} the key ({type(exc).__name__}).") from exc

    # -- public API --------------------------------------------------------
    def env_key(self) -> str | None:
        value = (self._env.get(ENV_VAR) or "").strip()
        return value or None

    def read(self, account: str = ACCOUNT) -> str | None:
        """The key stored in the keyring under ``account`` (one per app, core.apps), or None;
        raises our typed errors."""
        if self._reader is not None and self._backend is None:
            return self._read_in_child(self._reader, account)
        value = self._call("read", lambda b: b.get_password(SERVICE, account))
        return value or None

    def _read_in_child(self, command: list[str], account: str) -> str | None:
        """:meth:`read` in a child process (module doc): its answer, or its typed error.

        Blocks as long as the keyring does (an unlock prompt may wait for the user),
        as the in-process read does; the child ends with this process (serve_read).
        """
        env = {name: value for name, value in os.environ.items() if name != ENV_VAR}
        try:
            done = subprocess.run(command, input=account + "\n", capture_output=True, text=True,
                                  env=env, check=False)
        except OSError as exc:
            log.warning("keyring reader could not start: %s", exc.strerror or type(exc).__name__)
            raise KeyringUnavailable("The keyring could not be read (its reader did not start).") from exc
        if done.stderr.strip():
            log.debug("keyring reader: %s", done.stderr.strip()[-500:])
        try:
            answer = json.loads(done.stdout)
            error, message, key = answer.get("error"), answer.get("message"), answer.get("key")
        except (ValueError, AttributeError):
            log.warning("keyring reader gave no answer (exit status %s)", done.returncode)
            raise KeyringUnavailable("The keyring could not be read (its reader failed).") from None
        if error is not None:
            raise _READER_ERRORS.get(str(error), KeyringUnavailable)(str(message))
        return key if isinstance(key, str) and key else None

    def save(self, key: str, account: str = ACCOUNT) -> None:
        """Store ``key`` in the keyring under ``account``; raises KeyringUnavailable/KeyringLocked.

        On success the session-only copy (if any) is dropped: the keyring is
        now the source of truth.
        """
        key = key.strip()
        if not key:
            raise ValueError("empty key")
        self._call("store", lambda b: b.set_password(SERVICE, account, key))
        self._session_keys.pop(account, None)
        log.info("API key saved in the keyring (%s)", self.backend_name())

    def forget(self, account: str = ACCOUNT) -> None:
        """Remove the key of ``account`` from the keyring and memory (missing is fine)."""
        import keyring.errors

        self._session_keys.pop(account, None)
        try:
            self._call("delete", lambda b: b.delete_password(SERVICE, account))
        except keyring.errors.PasswordDeleteError:
            pass

    def keep_for_session(self, key: str, account: str = ACCOUNT) -> None:
        """Hold ``key`` in memory only, when the keyring cannot take it."""
        if key.strip():
            self._session_keys[account] = key.strip()
        else:
            self._session_keys.pop(account, None)
        log.info("API key kept in memory for this session only (no usable keyring)")

    def stored_lookup(self, account: str = ACCOUNT) -> KeyLookup:
        """The key of ``account``: keyring, then session memory (the environment is its own app)."""
        problem: SecretsError | None = None
        try:
            stored = self.read(account)
            if stored:
                return KeyLookup(stored, KeySource.KEYRING)
        except SecretsError as exc:
            problem = exc
            log.warning("cannot read the key from the keyring: %s", exc)
        session = self._session_keys.get(account)
        if session:
            return KeyLookup(session, KeySource.SESSION, problem)
        return KeyLookup(None, None, problem)

    def lookup(self) -> KeyLookup:
        """The key to use now for a single-app caller: environment, then keyring, then session memory."""
        env = self.env_key()
        if env:
            return KeyLookup(env, KeySource.ENV)
        return self.stored_lookup()


_READER_ERRORS: dict[str, type[SecretsError]] = {
    cls.__name__: cls for cls in (KeyringUnavailable, KeyringLocked, KeyringTimeout)}


def reader_command() -> list[str]:
    """This program as a key reader: the bundled binary itself, or this Python with the package."""
    if getattr(sys, "frozen", False):
        return [sys.executable, KEY_READER_ARG]
    return [sys.executable, "-m", "vendo_tray", KEY_READER_ARG]


def serve_read(stdin: IO[str], stdout: IO[str]) -> int:
    """The child's side of ``read_in_child``: one account in, one JSON answer out.

    ``{"key": "..."}`` (null when none is stored) or ``{"error": "KeyringLocked",
    "message": "..."}``: the store's own typed errors, whose messages never hold the key.
    """
    _end_with_parent()
    account = stdin.readline().strip() or ACCOUNT
    try:
        answer: dict[str, str | None] = {"key": KeyStore(env={}).read(account)}
    except SecretsError as exc:
        answer = {"error": type(exc).__name__, "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 - any other failure is "unavailable", in one line
        answer = {"error": KeyringUnavailable.__name__,
                  "message": f"The keyring failed to read the key ({type(exc).__name__})."}
    stdout.write(json.dumps(answer))
    stdout.flush()
    return 0


def _end_with_parent() -> None:
    """Linux: have the kernel end this child when the tray does (it may sit on an unlock prompt)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not glibc/musl: the child ends after its answer anyway
        pass


#: How long a command-line caller waits for the keyring (it may sit on an unlock prompt).
KEYRING_TIMEOUT = 5.0


def bounded(call: Callable[[], _T], timeout: float = KEYRING_TIMEOUT) -> _T:
    """``call()`` (a keyring call) in a daemon thread, abandoned after ``timeout`` seconds.

    A locked keyring can block on an unlock prompt forever; a terminal command
    must not hang on it.  Returns what ``call`` returned or raises what it raised;
    raises :class:`KeyringLocked` when it did not answer in time.
    """
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the caller's thread, raised there
            outcome.append((False, exc))

    worker = threading.Thread(target=run, name="keyring-call", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise KeyringTimeout(f"The keyring did not answer within {timeout:g} s (it may be waiting "
                            "for you to unlock it). Unlock it and retry.")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def claim_env_key(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Take ``VENDO_API_KEY`` out of the process environment; return it as ``KeyStore(env=…)`` wants.

    Every process the app starts inherits its environment: xdg-open opening
    a link, the browser it starts, and everything that browser starts.
    Taken out before anything is spawned, the key lives in memory only and
    no child can read it (``os.environ.pop`` unsets it in the C environment,
    which is what Qt's process spawning copies).
    """
    value = environ.pop(ENV_VAR, None)
    return {ENV_VAR: value} if value is not None else {}


def key_status(source: KeySource | None, problem: SecretsError | None = None) -> str:
    """A few words for a list of apps on where an app's key is (``apps list``, Settings); never the key."""
    if source is not None:
        return _STATUS[source]
    if problem is not None:
        return "unknown (keyring locked)" if isinstance(problem, KeyringLocked) else "unknown (no keyring)"
    return "none"


_STATUS = {
    KeySource.ENV: f"from {ENV_VAR} (read-only)",
    KeySource.KEYRING: "stored",
    KeySource.SESSION: "this session only",
    KeySource.DEMO: "demo",
}


def describe_source(source: KeySource | None) -> str:
    """One sentence for the settings dialog about where the key in use came from."""
    if source == KeySource.ENV:
        return (f"Using the key from the {ENV_VAR} environment variable; it takes precedence "
                "over the keyring until it is unset.")
    if source == KeySource.KEYRING:
        return "Using the key stored in your system keyring."
    if source == KeySource.SESSION:
        return ("Using a key held in memory for this session only: no system keyring "
                "could store it. It will be gone when Vendo Tray quits.")
    if source == KeySource.DEMO:
        return ("Demo mode: using the built-in simulator's key. Changes here apply to this run "
                "only and are not saved.")
    return "No key configured yet."
