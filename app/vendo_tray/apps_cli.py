"""``vendo-tray apps list | add NAME [--base-url URL] | remove NAME``: the list of Vendo apps from a terminal.

What an app is and the rules of the list (names, ids, base URLs, which apps are
watched) are ``core.apps``'s; this module reads the key, makes the one key test
(``core.monitor.check_key``, the settings dialog's Test) and talks to the keyring
and the settings file.  The tray app reads the list when it starts.

* The key is never an argument: other users can read a process's arguments
  (``ps``, ``/proc/PID/cmdline``).  ``add`` reads it from standard input when that
  is not a terminal (``pass show vendo/prod | vendo-tray apps add prod``), else
  from a hidden prompt; anything that looks like an attempt to pass it on the
  command line is refused before anything is read.
* ``add`` saves nothing unless the key passed the test against the app's base URL.
* Keyring calls can block on an unlock prompt: each is bounded (``core.secrets.bounded``).
* Every failure is one line on stderr (secrets masked) and a non-zero exit:
  1 for a server or keyring that failed, 2 for a request that cannot be done
  (unknown app, a name taken, a bad base URL, a key as an argument), 3 for a
  key that is empty or was rejected, as for ``vendo-tray events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO, TypeVar

from vendo_tray.client import AuthError, VendoError
from vendo_tray.client.safety import DEFAULT_BASE_URL, redact
from vendo_tray.core.apps import (
    ENV_APP_NAME,
    LEGACY_ACCOUNT,
    AppError,
    AppKey,
    AppProfile,
    add_app,
    configured_apps,
    find_app,
    lookup_apps,
    remove_app,
)
from vendo_tray.core.secrets import ENV_VAR, KeyStore, SecretsError, bounded, key_status
from vendo_tray.core.settings import Settings, load_settings, save_settings

_T = TypeVar("_T")

PROG = "vendo-tray apps"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_KEY = 3

KEY_AS_ARGUMENT = ("the key is never taken as an argument, where other users can read it in the "
                   "process list: pipe it on standard input or type it at the prompt")


class Failure(Exception):
    """One line for stderr and the exit code; raised anywhere below, printed once by :func:`run_apps`."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def run_apps(action: str, *, name: str | None = None, base_url: str | None = None,
             json_out: bool = False, extra: Sequence[str] = (), log_level: str = "INFO",
             config_dir: Path | None = None, stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """Entry point for ``vendo-tray apps ACTION`` (see the module docstring for the contract).

    Log lines only with ``--log-level DEBUG``: otherwise the one line this
    command prints says it all (a keyring warning logged on the way would be a second).
    """
    with _logging(log_level):
        return _run(action, name, base_url, json_out, extra, config_dir, stdin, out or sys.stdout)


@contextlib.contextmanager
def _logging(level: str) -> Iterator[None]:
    from vendo_tray.headless import stderr_logging

    if level.upper() == "DEBUG":
        with stderr_logging(level):
            yield
        return
    quiet = logging.NullHandler()  # else Python's last-resort handler prints warnings
    logging.getLogger().addHandler(quiet)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(quiet)


def _run(action: str, name: str | None, base_url: str | None, json_out: bool, extra: Sequence[str],
         config_dir: Path | None, stdin: TextIO | None, out: TextIO) -> int:
    from vendo_tray.core.paths import config_dir as default_config_dir

    config = config_dir or default_config_dir()
    try:
        if extra:  # never echoed: the stray argument may be the key itself
            raise Failure(KEY_AS_ARGUMENT if action == "add" else f"unexpected arguments to '{action}' "
                          "(see --help)", EXIT_USAGE)
        if action == "list":
            return list_apps(config, out, json_out=json_out)
        if action == "add":
            assert name is not None
            return add(config, name, base_url or DEFAULT_BASE_URL, stdin if stdin is not None else sys.stdin, out)
        if action == "remove":
            assert name is not None
            return remove(config, name, out)
        raise Failure("choose list, add or remove (see --help)", EXIT_USAGE)
    except Failure as exc:
        return fail(str(exc), exc.code)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return fail("stopped; nothing was saved", 130)


def fail(message: str, code: int) -> int:
    print(f"{PROG}: {redact(message)}", file=sys.stderr, flush=True)
    return code


# ----------------------------------------------------------------------- list

def list_apps(config: Path, out: TextIO, *, json_out: bool) -> int:
    """Every watched app in order with where its key is; exit 1 when the keyring could not say."""
    settings = load_settings(config)
    store = KeyStore()
    watched = _keyring(lambda: lookup_apps(settings, store, os.environ))
    if json_out:
        records = [{"id": w.app.id, "name": w.app.name, "base_url": w.app.base_url,
                    "key": w.source.value if w.source else None, "from_environment": w.app.from_environment,
                    "problem": str(w.problem) if w.problem else None} for w in watched]
        out.write(json.dumps(records, indent=2) + "\n")
    else:
        rows = [("NAME", "BASE URL", "KEY")] + [(w.app.name, w.app.base_url, key_status(w.source, w.problem)) for w in watched]
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        for row in rows:
            out.write(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}\n")
    out.flush()
    problem = next((w.problem for w in watched if w.problem is not None and w.key is None), None)
    return fail(str(problem), EXIT_FAILED) if problem is not None else EXIT_OK


# ------------------------------------------------------------------------ add

def add(config: Path, name: str, base_url: str, stdin: TextIO | None, out: TextIO) -> int:
    """Test the key from stdin or a hidden prompt; only if it passed, store it and the list."""
    if redact(name) != name:
        raise Failure(KEY_AS_ARGUMENT, EXIT_USAGE)  # the "name" is shaped like a key
    settings = load_settings(config)
    store = KeyStore()
    keep_default = not settings.apps and _keyring(lambda: store.read(LEGACY_ACCOUNT)) is not None
    new_settings, app = _rule(lambda: add_app(settings, name, base_url, keep_default=keep_default))
    if settings.apps:  # a usable, unlocked keyring before the user types a key that cannot be kept
        _keyring(lambda: store.read(app.account))
    key = read_key(stdin, app.name)
    answer = _test(key, app.base_url)
    _keyring(lambda: store.save(key, app.account))
    _save(config, new_settings, undo=lambda: store.forget(app.account))
    out.write(f"added {app.name} ({app.base_url}); its key is in the keyring. {answer}\n")
    out.flush()
    return EXIT_OK


def read_key(stdin: TextIO | None, name: str) -> str:
    """The key from standard input (not a terminal) or a hidden prompt; one token, or Failure."""
    if stdin is None or not stdin.isatty():
        text = stdin.read() if stdin is not None else ""
    else:
        try:
            text = getpass.getpass(f"API key for {name} (input hidden): ")
        except EOFError:
            text = ""
    key = text.strip()
    if not key:
        raise Failure("no key given: pipe it on standard input or type it at the prompt", EXIT_KEY)
    if not key.isprintable() or any(c.isspace() for c in key):
        raise Failure("the key must be one word on one line (standard input held more)", EXIT_KEY)
    return key


def _test(key: str, base_url: str) -> str:
    from vendo_tray.core.monitor import check_key

    try:
        return asyncio.run(check_key(key, base_url))
    except AuthError as exc:
        raise Failure(f"{base_url} rejected the key ({exc}); nothing was saved", EXIT_KEY) from None
    except VendoError as exc:
        raise Failure(f"could not test the key against {base_url} ({exc}); nothing was saved",
                      EXIT_FAILED) from None


# --------------------------------------------------------------------- remove

def remove(config: Path, name: str, out: TextIO) -> int:
    """Delete the app's keyring entry, then drop it from the list."""
    settings = load_settings(config)
    app = find_app(configured_apps(settings), name)
    if app is None:
        if name.strip().casefold() == ENV_APP_NAME and KeyStore().env_key():
            raise Failure(f"the app {ENV_APP_NAME!r} is the key in {ENV_VAR}: unset {ENV_VAR} to stop "
                          "watching it", EXIT_USAGE)
        raise Failure(_unknown(name), EXIT_USAGE)
    store = KeyStore()
    _keyring(lambda: store.forget(app.account))
    _save(config, _rule(lambda: remove_app(settings, app.id)))
    out.write(f"removed {app.name}; its key was deleted from the keyring\n")
    out.flush()
    return EXIT_OK


# ----------------------------------------------------------------- events --app

def app_for_events(name: str, config: Path | None = None) -> tuple[AppProfile, str]:
    """``vendo-tray events --app NAME``: the app and its key, or Failure with one line."""
    from vendo_tray.core.paths import config_dir as default_config_dir

    settings = load_settings(config or default_config_dir())
    watched = _keyring(lambda: lookup_apps(settings, KeyStore(), os.environ))
    app = find_app([w.app for w in watched], name) or find_app(configured_apps(settings), name)
    if app is None:
        raise Failure(_unknown(name), EXIT_USAGE)
    found = next((w for w in watched if w.app.id == app.id), AppKey(app, None, None))
    if found.key is None:
        why = f": {found.problem}" if found.problem is not None else ""
        raise Failure(f"no key stored for the app {found.app.name!r}{why}", EXIT_KEY)
    return found.app, found.key


# ---------------------------------------------------------------------- helpers

def _unknown(name: str) -> str:
    return f"there is no app called {name.strip()!r} (see 'vendo-tray apps list')"


def _keyring(call: Callable[[], _T]) -> _T:
    """A bounded keyring call; its failure as one line."""
    try:
        return bounded(call)
    except SecretsError as exc:
        raise Failure(str(exc), EXIT_FAILED) from None


def _rule(call: Callable[[], _T]) -> _T:
    """A change by core.apps's rules; a refused one as one line."""
    try:
        return call()
    except AppError as exc:
        raise Failure(str(exc), EXIT_USAGE) from None


def _save(config: Path, settings: Settings, undo: Callable[[], None] | None = None) -> None:
    try:
        save_settings(config, settings)
    except OSError as exc:
        if undo is not None:
            _keyring(undo)
        raise Failure(f"could not write the settings file: {exc}", EXIT_FAILED) from None
