"""``vendo-tray events``: the stream on a terminal, one line per event, like ``stripe listen``.

Human lines (``time  kind  summary``) or JSON lines (``--json``: kind, id,
data) go to stdout; everything else (the "listening" note, log lines, the one
error message) goes to stderr, so stdout can be piped into ``jq`` or a file.

It is an app, not a library call: an outage (5xx, a server restart, no
network) never ends it.  After the client's quick retries give up it tries
again on the tray app's offline schedule (30 s doubling to 5 min), resuming
with ``Last-Event-ID`` so the events sent meanwhile are printed, and says on
stderr what it is doing; an unforeseen error (a bug) is one line on stderr
and the same retry, past the event it failed on.  ``--max-failures N`` is for
scripts that would rather stop: after N failed attempts in a row it exits 1.

Exit status: 0 when stopped (Ctrl-C, SIGTERM, a closed pipe); 1 when
``--max-failures`` ran out or the server refused the request for good; 2 for
bad arguments; 3 when there is no key or the server rejected it.  A failure
prints ONE plain message, never a traceback.

``--since AGE`` first prints the tray app's stored history younger than AGE
(read-only, so it is safe while the app runs), then goes live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from vendo_tray.client import (
    AsyncVendo,
    AuthError,
    Event,
    EventStream,
    ReconnectPolicy,
    StreamStatus,
    VendoError,
    VendoOnlyFeature,
)
from vendo_tray.client.events import give_up_text
from vendo_tray.core.kinds import RecentKeys, VendoEvent, normalize
from vendo_tray.core.monitor import OFFLINE_RETRY_FIRST, OFFLINE_RETRY_MAX, StayedUp
from vendo_tray.core.secrets import KEYRING_TIMEOUT

log = logging.getLogger(__name__)

PROG = "vendo-tray events"
EXIT_OK = 0
EXIT_STREAM = 1
EXIT_USAGE = 2
EXIT_KEY = 3

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: Beyond this the history is pruned anyway; it also keeps timedelta in range.
MAX_AGE = timedelta(days=3650)
_NOISY = ("httpx", "httpcore", "asyncio")
#: After the client gives up: the tray app's offline schedule (first wait, cap).
OFFLINE_RETRY: tuple[float, float] = (OFFLINE_RETRY_FIRST, OFFLINE_RETRY_MAX)


@dataclass(frozen=True)
class Pace:
    """How fast ``events`` retries: the tray app's schedule in use; tests pass a quicker one."""

    #: After the client gives up: the wait before subscribing again (first, cap).
    offline_retry: tuple[float, float] = OFFLINE_RETRY
    #: Extra ``subscribe()`` arguments (the client's own backoff).
    stream_options: Mapping[str, Any] = field(default_factory=dict)


def parse_age(text: str) -> timedelta:
    """``30s``, ``15m``, ``1h``, ``2d``, ``1w`` (a decimal number is fine) as a timedelta."""
    match = _AGE.match(text or "")
    if not match:
        raise ValueError(f"--since wants an age like 30s, 15m, 1h or 2d, not {text!r}")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    return timedelta(seconds=min(seconds, MAX_AGE.total_seconds()))


def run_events(json_lines: bool, since: str | None, base_url: str | None, log_level: str,
               max_failures: int | None = None, pace: Pace = Pace(), app: str | None = None) -> int:
    """Entry point for ``vendo-tray events`` (see the module docstring for the contract)."""
    with stderr_logging(log_level):
        return _run(json_lines, since, base_url, max_failures, pace, app)


@contextlib.contextmanager
def stderr_logging(level: str) -> Iterator[None]:
    """Log lines to stderr while a command runs, then the logging as it was.

    Restored because a command may run more than once in one process (tests).
    """
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in ("", *_NOISY)}
    handler = _setup_logging(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for name, saved_level in saved.items():
            logging.getLogger(name).setLevel(saved_level)


def _run(json_lines: bool, since: str | None, base_url: str | None, max_failures: int | None,
         pace: Pace, app: str | None = None) -> int:
    try:
        age = parse_age(since) if since is not None else None
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]  # a TextIOWrapper at run time; TextIO in the stub
    printer = Printer(sys.stdout, json_lines=json_lines)
    try:
        return asyncio.run(_main(printer, age=age, base_url=base_url, max_failures=max_failures,
                                 pace=pace, app=app))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return EXIT_OK
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly.
        _drop_stdout()
        return EXIT_OK
    except OSError as exc:  # stdout itself failed: a full disk, /dev/full, a vanished terminal
        _drop_stdout()
        return _fail(f"cannot write to standard output ({exc.strerror or type(exc).__name__})", EXIT_STREAM)


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so Python's flush at exit does not complain a second time."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


async def _main(printer: Printer, *, age: timedelta | None, base_url: str | None,
                max_failures: int | None = None, pace: Pace = Pace(), app: str | None = None) -> int:
    _stop_on_sigterm()
    app_id: str | None = None  # whose history --since prints: every app's without --app, as before apps
    if app is None:
        key = _key_from_env_or_keyring()
    else:  # that app's key and base URL (an explicit --base-url still wins)
        from vendo_tray.apps_cli import Failure, app_for_events

        try:
            profile, key = app_for_events(app)
        except Failure as exc:
            return _fail(str(exc), exc.code)
        base_url = base_url or profile.base_url
        app_id = profile.id
    try:
        client = AsyncVendo(api_key=key, base_url=base_url)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    async with client:
        if age is not None:
            printer.history(_load_history(datetime.now(timezone.utc) - age, app_id))
        try:
            return await _listen(client, printer, max_failures, pace)
        except VendoOnlyFeature:
            return _fail("no API key: set VENDO_API_KEY to your app key (vendo_sk_…) "
                         "or save one in the tray app's Settings", EXIT_KEY)
        except asyncio.CancelledError:
            return EXIT_OK  # SIGTERM
        except AuthError as exc:
            where = (f"the key of the app {app!r} (Settings, or `vendo-tray apps remove` and `add`)" if app
                     else "VENDO_API_KEY or the key saved in Settings")
            return _fail(f"the server rejected the API key: {exc}. Check {where}.", EXIT_KEY)
        except VendoError as exc:
            return _fail(str(exc), EXIT_STREAM)


async def _listen(client: AsyncVendo, printer: Printer, max_failures: int | None, pace: Pace) -> int:
    """Print the stream until stopped, subscribing again whenever the client gives up.

    Each new subscription resumes from the last id printed, so an outage of
    any length loses nothing the server still holds.  The waits between them
    are the tray app's offline schedule, restarting from the first once a
    stream stayed open at least that long (the tray's rule: ``StayedUp``).
    With ``max_failures`` the client counts the failures and its give-up ends
    the run instead.
    """
    notes = _StatusNotes(client.base_url, printer.json_lines, StayedUp(pace.offline_retry[0]))
    offline = ReconnectPolicy(max_failures=None, backoff_base=pace.offline_retry[0], max_backoff=pace.offline_retry[1])
    options: dict[str, Any] = {"max_failures": max_failures} if max_failures is not None else {}
    resume: str | None = None
    give_ups = 0
    while True:
        stream = client.events.subscribe(last_event_id=resume, on_status=notes, **options, **pace.stream_options)
        final: Event | None = None   # the client's own stream.error, when it gave up
        try:
            final = await _print_until_give_up(stream, printer)
            why = give_up_text(final.data if final is not None else None)
        except (VendoError, OSError):  # the caller's: an exit status, or a closed stdout
            raise
        except Exception as exc:  # a bug or an unforeseen library error: one line and a retry, never the end
            log.debug("the events stream failed unexpectedly", exc_info=True)
            why = f"unexpected error: {type(exc).__name__} (--log-level debug shows where)"
        # Past the event that failed, if one did: replayed, it would fail on every retry.
        resume = stream.last_event_id
        message = "the events stream stopped: " + why
        if max_failures is not None:
            if printer.json_lines and final is not None:
                printer.live(final)   # scripts see it too; humans get the message below
            return _fail(message, EXIT_STREAM)
        give_ups = 1 if notes.stayed_up.stayed else give_ups + 1
        notes.stayed_up.stayed = False
        delay = offline.backoff(give_ups)
        print(f"{PROG}: {message}; trying again in {delay:g} s (Ctrl-C to stop)", file=sys.stderr, flush=True)
        await asyncio.sleep(delay)


async def _print_until_give_up(stream: EventStream, printer: Printer) -> Event | None:
    """Print ``stream`` until it ends; return the client's own ``stream.error`` if it gave up."""
    async with stream:
        async for event in stream:
            if event.kind == "stream.error" and stream.gave_up:  # not a server-sent look-alike
                return event
            printer.live(event)
    return None


def _key_from_env_or_keyring(timeout: float = KEYRING_TIMEOUT) -> str | None:
    """VENDO_API_KEY, else the key the tray app saved in the OS keyring.

    A locked keyring can block on an unlock prompt forever, so the lookup is
    bounded (``core.secrets.bounded``) and abandoned after ``timeout`` seconds.
    """
    from vendo_tray.core.secrets import KeyringTimeout, KeyStore, SecretsError, bounded

    store = KeyStore()
    if store.env_key():
        return store.env_key()
    try:
        return bounded(store.read, timeout)
    except KeyringTimeout as exc:
        log.warning("%s Continuing without it.", exc)
    except SecretsError as exc:  # no keyring is normal here: the no-key message follows
        log.debug("no key from the keyring: %s", exc)
    return None


@dataclass
class Printer:
    """Writes events to stdout, flushing each line (a pipe must see it now).

    Human lines skip what was already printed (the live wire repeats each
    connection event under a legacy alias, and history may overlap the live
    stream).  JSON lines show the wire as it is, except that a live event
    already printed from history is not printed twice.
    """

    out: TextIO
    json_lines: bool = False
    _seen: RecentKeys = field(default_factory=RecentKeys)
    _history_keys: set[str] = field(default_factory=set)

    def history(self, events: list[VendoEvent]) -> None:
        for event in events:
            if event.key is not None:
                self._history_keys.add(event.key)
            if self._seen.seen(event.key):
                continue
            if self.json_lines:
                self._write(_json_line(event.wire_kind, event.key, event.data, source="history"))
            else:
                self._write(_human_line(event))

    def live(self, event: Event) -> None:
        normalized = normalize(event.kind, event.data, event.id)
        if normalized.key is not None and normalized.key in self._history_keys:
            return
        if self.json_lines:
            self._write(_json_line(event.kind, event.id, event.data))
        elif not self._seen.seen(normalized.key):
            self._write(_human_line(normalized))

    def _write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


def _human_line(event: VendoEvent) -> str:
    return f"{_clock(event.when)}  {event.wire_kind:<28}  {event.summary}"


def _json_line(kind: str, sse_id: str | None, data: Any, *, source: str | None = None) -> str:
    record: dict[str, Any] = {"kind": kind, "id": sse_id, "data": data}
    if source is not None:
        record["source"] = source
    # ensure_ascii: control and bidi characters from a hostile server arrive escaped,
    # never raw in someone's terminal.
    try:
        return json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=str)
    except RecursionError:  # json.loads took it, but encoding runs deeper in the stack
        log.warning("event %.80s: data nested too deeply to print; printed without it", sse_id)
        record["data"] = "<data nested too deeply to print>"
        return json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=str)


def _clock(when: datetime) -> str:
    local = when.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S")


class _StatusNotes:
    """Short notes on stderr when the stream goes live (human mode only); tells ``stayed_up``."""

    def __init__(self, base_url: str, quiet: bool, stayed_up: StayedUp) -> None:
        self._base_url = base_url
        self._quiet = quiet
        self.opens = 0
        self.stayed_up = stayed_up

    def __call__(self, status: StreamStatus) -> None:
        self.stayed_up.on_status(status)
        if status.phase != "open":
            return
        self.opens += 1
        if not self._quiet:
            note = "reconnected" if self.opens > 1 else f"listening on {self._base_url} (Ctrl-C to stop)"
            print(f"{PROG}: {note}", file=sys.stderr, flush=True)


def _load_history(cutoff: datetime, app_id: str | None = None) -> list[VendoEvent]:
    """Stored events (of app ``app_id``, else of every app) received since ``cutoff``;
    [] with a note if there is no history."""
    from vendo_tray.core.paths import history_path
    from vendo_tray.core.store import Store

    path = history_path()
    if not path.exists():
        print(f"{PROG}: no stored history yet (the tray app keeps it in {path})", file=sys.stderr)
        return []
    store = Store.open(path, read_only=True)
    try:
        if store.problem:
            print(f"{PROG}: {store.problem}", file=sys.stderr)
        return store.recent(cutoff, app_id)
    finally:
        store.close()


def _stop_on_sigterm() -> None:
    """SIGTERM stops like Ctrl-C: cancel the main task, exit 0."""
    task = asyncio.current_task()
    if task is None:
        return
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    return code


def _setup_logging(level: str) -> logging.Handler:
    """Log lines to stderr, secrets redacted; HTTP libraries kept quiet below DEBUG.

    Returns the handler so :func:`stderr_logging` can remove it again.
    """
    from vendo_tray.core.logs import RedactingFilter

    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    quiet = logging.INFO if root.level <= logging.DEBUG else logging.WARNING
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(quiet)
    return handler
