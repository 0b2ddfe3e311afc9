"""core.logs: the rotating file log and the filter that keeps secrets out of it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from conftest import log_text
from vendo_tray.core.logs import RedactingFilter, redact, setup_logging

KEY = "vendo_sk_live_4f9Qz0_abcDEF-123"


@pytest.mark.parametrize("text", [
    f"key is {KEY}",
    f"Authorization: Bearer {KEY}",
    "{'authorization': 'Bearer abc.def-ghi_123'}",
    f"https://vendo.run/connections/connect/slack?app_key={KEY}&return_to=x",
])
def test_redact_removes_secret_shapes(text: str) -> None:
    out = redact(text)
    assert KEY not in out
    assert "abc.def-ghi_123" not in out
    assert "[redacted]" in out


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "event key=evt_123 for slack at https://vendo.run/dashboard"
    assert redact(text) == text


def test_file_log_never_holds_the_key(log_file: Path) -> None:
    log = logging.getLogger("vendo_tray.test")
    log.info("as format string %s", KEY)
    log.warning("header dump %r", {"Authorization": f"Bearer {KEY}"})
    log.error(f"inline {KEY}")
    try:
        raise RuntimeError(f"request failed for {KEY}")
    except RuntimeError:
        log.exception("with traceback")
    text = log_text(log_file)
    assert KEY not in text
    assert "vendo_sk_live" not in text
    assert text.count("[redacted]") >= 5
    assert "with traceback" in text and "RuntimeError" in text


def test_every_root_handler_gets_the_filter(log_file: Path) -> None:
    for handler in logging.getLogger().handlers:
        assert any(isinstance(f, RedactingFilter) for f in handler.filters), handler


def test_setup_twice_does_not_duplicate_lines(log_file: Path) -> None:
    setup_logging("INFO", log_file.parent, console=False)
    logging.getLogger("vendo_tray.test").warning("exactly once")
    assert log_text(log_file).count("exactly once") == 1


def test_log_level_is_honoured(log_file: Path) -> None:
    setup_logging("WARNING", log_file.parent, console=False)
    logging.getLogger("vendo_tray.test").info("too chatty")
    logging.getLogger("vendo_tray.test").warning("worth saying")
    text = log_text(log_file)
    assert "worth saying" in text and "too chatty" not in text


def test_an_uncaught_exception_is_logged_redacted_not_printed_raw(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys, threading; from pathlib import Path\n"
        "from vendo_tray.core.logs import setup_logging\n"
        f"setup_logging('INFO', Path({str(tmp_path)!r}), console=True)\n"
        "t = threading.Thread(target=lambda: 1 / 0); t.start(); t.join()\n"
        "raise RuntimeError('GET https://vendo.run/x?app_key=vendo_sk_live_SECRET123 failed')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    logged = (tmp_path / "vendo-tray.log").read_text()
    assert done.returncode != 0
    assert "SECRET123" not in done.stderr + logged
    assert "uncaught exception" in logged and "RuntimeError" in logged
    assert "uncaught exception in thread" in logged and "ZeroDivisionError" in logged
