"""Logging: a rotating file in the platform's log directory, with secrets redacted.

WHY a filter on every handler rather than "be careful what you log": an
exception message from an HTTP library, a URL with ``app_key=`` in it, or a
debug dump of request headers can all carry the API key without anyone
meaning to log it.  The :class:`RedactingFilter` rewrites each record (message,
arguments, traceback text) before any handler formats it, so the key cannot
reach the file, the terminal or a bug report pasted from either.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from pathlib import Path
from types import TracebackType

import platformdirs

from vendo_tray.client.safety import redact

APP_DIR_NAME = "vendo-tray"
LOG_FILE_NAME = "vendo-tray.log"
#: One megabyte per file, three old files: enough for a week of normal use.
MAX_BYTES = 1_000_000
BACKUP_COUNT = 3

class RedactingFilter(logging.Filter):
    """Rewrites a record in place so no handler ever sees a secret.

    The message is rendered (``msg % args``) first, because a key passed as an
    argument is just as dangerous as one in the format string.  Traceback text
    is rendered here too (``exc_text``), since formatters reuse it verbatim.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def default_log_dir() -> Path:
    """The platform's per-user log directory (e.g. ~/.local/state/vendo-tray/log)."""
    return platformdirs.user_log_path(APP_DIR_NAME, appauthor=False)


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the redacting filter to every handler of ``logger`` (root by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


_OURS = "_vendo_tray_handler"


def setup_logging(level: str = "INFO", log_dir: Path | None = None, *,
                  console: bool = True) -> Path:
    """Configure the root logger once for the app; return the log file's path.

    Calling it again replaces the handlers it installed before (tests and the
    demo may call it more than once) and leaves foreign handlers alone, but
    those get the redacting filter too.
    """
    directory = log_dir or default_log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOG_FILE_NAME
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
            handler.close()

    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8")
    file_handler.setFormatter(fmt)
    handlers: list[logging.Handler] = [file_handler]
    if console:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handlers.append(stream)
    for handler in handlers:
        setattr(handler, _OURS, True)
        root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # Third-party chatter at DEBUG is noise and the likeliest place for a
    # secret to slip out (HTTP header dumps; qasync logs every executor
    # callback with its arguments): keep those loggers at INFO or above.
    for noisy in ("httpx", "httpcore", "asyncio", "uvicorn.access", "qasync"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.INFO))
    install_redaction(root)
    install_crash_logging()
    return path


def install_crash_logging() -> None:
    """Route uncaught exceptions (main thread, other threads, Qt slots) through logging.

    Python's default hook prints the raw traceback to stderr, where no filter
    runs; an exception message that quotes a URL or header would carry the key
    into a terminal or a pasted crash report.  Through logging it is redacted
    and lands in the log file next to what led up to it.
    """
    crash_log = logging.getLogger("vendo_tray.crash")

    def on_exception(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        crash_log.critical("uncaught exception", exc_info=(kind, value, tb))

    def on_thread_exception(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        crash_log.critical("uncaught exception in thread %s", name,
                           exc_info=(args.exc_type, args.exc_value, args.exc_traceback))  # type: ignore[arg-type]  # Optional in the stub, set for an uncaught exception

    sys.excepthook = on_exception
    threading.excepthook = on_thread_exception
