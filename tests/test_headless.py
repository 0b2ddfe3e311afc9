"""``vendo-tray events`` as a user runs it: a real process against the simulator.

Signals (Ctrl-C, SIGTERM) need a real process, so most tests start one; the
outage and give-up cases run in-process to shorten the backoff through
a quicker ``headless.Pace`` instead of waiting minutes.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import IO

import pytest

import desktop
from conftest import stop_task
from vendo_tray import headless
from vendo_tray.core.kinds import normalize
from vendo_tray.simulator import Simulator

pytestmark = [pytest.mark.timeout(60), pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]


class Proc:
    """``python -m vendo_tray events …`` with its stdout and stderr read line by line."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "vendo_tray", "events", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
            env={**os.environ, **env}, preexec_fn=desktop.like_a_terminal_command)
        self.out: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        self._err: queue.Queue[str] = queue.Queue()
        assert self.popen.stdout is not None and self.popen.stderr is not None
        threading.Thread(target=self._pump, args=(self.popen.stdout, self.out), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.popen.stderr, self._err), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str], sink: queue.Queue[str]) -> None:
        for line in stream:
            sink.put(line.rstrip("\n"))

    def wait_stderr(self, text: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.err_lines):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} not on stderr: {self.err_lines}")
            try:
                self.err_lines.append(self._err.get(timeout=left))
            except queue.Empty:
                pass

    def lines(self, n: int, timeout: float = 10.0) -> list[str]:
        return [self.out.get(timeout=timeout) for _ in range(n)]

    def finish(self, sig: int | None = None, timeout: float = 10.0) -> int:
        if sig is not None:
            self.popen.send_signal(sig)
        code = self.popen.wait(timeout=timeout)
        time.sleep(0.05)  # let the pump threads drain
        while not self._err.empty():
            self.err_lines.append(self._err.get())
        return code

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


@pytest.fixture
def env(simulator: Simulator, api_key: str) -> dict[str, str]:
    return {"VENDO_API_KEY": api_key, "VENDO_BASE_URL": simulator.base_url, "PYTHONIOENCODING": "utf-8"}


def run(*args: str, env: dict[str, str]) -> Proc:
    return Proc(*args, env=env)


def test_human_lines_and_ctrl_c_exits_0(simulator: Simulator, env: dict[str, str], api_key: str) -> None:
    proc = run(env=env)
    try:
        proc.wait_stderr("listening on")
        simulator.emit("connection.status_changed",
                       {"slug": "slack", "connection_id": "c1", "status": "needs_reauth"})
        simulator.emit("billing.balance_changed", {"remaining_micros": 420_000})
        simulator.emit("vendo.new_thing", {"x": 1})
        lines = proc.lines(3)
        code = proc.finish(signal.SIGINT)
    finally:
        proc.kill()
    assert code == 0
    # The legacy alias block (connection_updated) is the same event: printed once.
    assert "connection.status_changed" in lines[0] and "slack needs re-authorization" in lines[0]
    assert "billing.balance_changed" in lines[1] and "$0.42" in lines[1]
    assert "vendo.new_thing" in lines[2] and "Unknown event" in lines[2]
    assert proc.out.empty()
    assert not any("Traceback" in line for line in proc.err_lines)
    assert not any(api_key in line for line in proc.err_lines + lines)


def test_json_lines_and_sigterm_exits_0(simulator: Simulator, env: dict[str, str]) -> None:
    proc = run("--json", env=env)
    try:
        deadline = time.monotonic() + 10
        while simulator.stats.open_streams < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        first = simulator.emit("connection.connected", {"slug": "github", "connection_id": "c9"})
        second = simulator.emit("billing.cap_warned", {"window": "daily", "pct": 80, "note": "\u202e\x1b[31m"})
        lines = proc.lines(3)
        code = proc.finish(signal.SIGTERM)
    finally:
        proc.kill()
    assert code == 0
    records = [json.loads(line) for line in lines]
    assert [(r["kind"], r["id"]) for r in records] == [
        ("connection.connected", first), ("connection_created", first), ("billing.cap_warned", second)]
    assert records[0]["data"]["slug"] == "github"
    assert records[2]["data"]["note"] == "\u202e\x1b[31m"
    assert all(line.isascii() and "\x1b" not in line for line in lines)   # escaped, not raw
    assert not any("listening" in line for line in proc.err_lines)


def test_no_key_exits_3_with_one_message(simulator: Simulator, env: dict[str, str]) -> None:
    proc = run(env={**env, "VENDO_API_KEY": ""})
    try:
        code = proc.finish()
    finally:
        proc.kill()
    assert code == headless.EXIT_KEY
    assert len(proc.err_lines) == 1 and "VENDO_API_KEY" in proc.err_lines[0]
    assert proc.out.empty()
    assert simulator.stats.requests.total() == 0


def test_rejected_key_exits_3_with_one_message(simulator: Simulator, env: dict[str, str], api_key: str) -> None:
    simulator.set_key_state("revoked")
    proc = run(env=env)
    try:
        code = proc.finish()
    finally:
        proc.kill()
    assert code == headless.EXIT_KEY
    assert len(proc.err_lines) == 1, proc.err_lines
    assert "app_revoked" in proc.err_lines[0] and "HTTP 401" in proc.err_lines[0]
    assert api_key not in proc.err_lines[0]


def test_bad_since_exits_2(env: dict[str, str]) -> None:
    proc = run("--since", "yesterday", env=env)
    try:
        code = proc.finish()
    finally:
        proc.kill()
    assert code == headless.EXIT_USAGE
    assert len(proc.err_lines) == 1 and "--since" in proc.err_lines[0]


def test_since_prints_history_then_live(simulator: Simulator, env: dict[str, str]) -> None:
    from vendo_tray.core.paths import history_path
    from vendo_tray.core.store import Store

    now = datetime.now(timezone.utc)
    old = normalize("connection.connected", {"id": "evt_old", "slug": "notion"},
                    received_at=now - timedelta(hours=5))
    recent = normalize("connection.status_changed", {"id": "evt_recent", "slug": "gmail", "status": "error",
                                                     "message": "token refresh failed"},
                       received_at=now - timedelta(minutes=10))
    history_path().parent.mkdir(parents=True, exist_ok=True)
    with Store.open(history_path()) as store:
        store.add_many([old, recent])

    proc = run("--since", "1h", env=env)
    try:
        proc.wait_stderr("listening on")
        live = simulator.emit("deployment.updated", {})
        lines = proc.lines(2)
        code = proc.finish(signal.SIGINT)
    finally:
        proc.kill()
    assert code == 0
    assert "gmail error: token refresh failed" in lines[0]
    assert "deployment.updated" in lines[1] and "Deployment settings changed" in lines[1]
    assert not any("notion" in line for line in lines)
    assert live


def test_since_without_history_says_so(simulator: Simulator, env: dict[str, str]) -> None:
    proc = run("--since", "30m", env=env)
    try:
        proc.wait_stderr("listening on")
        code = proc.finish(signal.SIGINT)
    finally:
        proc.kill()
    assert code == 0
    assert any("no stored history yet" in line for line in proc.err_lines)


# --- in-process: outages and the give-up path, with a short backoff ---------------------------

FAST = headless.Pace(offline_retry=(0.05, 0.2), stream_options={"backoff_base": 0.01, "min_interval": 0.0})


def test_an_outage_never_ends_it_and_every_event_after_it_is_printed(
        simulator: Simulator, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs of 5xx, then the server gone for a while and back on the same port: each
    # outage outlasts the client's three quick attempts several times over.
    monkeypatch.setenv("VENDO_API_KEY", api_key)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    out = io.StringIO()

    async def until(predicate, what: str) -> None:
        async with asyncio.timeout(20):
            while not predicate():
                await asyncio.sleep(0.01)

    def printed() -> list[str]:
        return [json.loads(line)["id"] for line in out.getvalue().splitlines()]

    def retries() -> int:
        return err.getvalue().count("trying again in")

    async def scenario() -> tuple[int, list[str]]:
        printer = headless.Printer(out, json_lines=True)
        task = asyncio.create_task(headless._main(printer, age=None, base_url=simulator.base_url, pace=FAST))
        await until(lambda: simulator.stats.open_streams == 1, "the stream")
        sent = [simulator.emit("deployment.updated", {})]
        await until(lambda: printed() == sent, "the first event")

        simulator.add_fault("status", count=12, status=503)        # a run of 5xx …
        simulator.drop_streams()
        sent.append(simulator.emit("deployment.updated", {}))
        await until(lambda: retries() >= 3, "three give-ups in a row")
        sent.append(simulator.emit("deployment.updated", {}))
        await until(lambda: printed() == sent, "the events sent during the 5xx run")

        simulator.stop()                                            # … and the server gone
        sent.append(simulator.emit("deployment.updated", {}))
        gone = retries()
        await until(lambda: retries() >= gone + 3, "three more give-ups while it is gone")
        simulator.start()                                           # back on the same port
        sent.append(simulator.emit("deployment.updated", {}))
        await until(lambda: printed() == sent, "the events sent while it was gone")
        sent.append(simulator.emit("deployment.updated", {}))
        await until(lambda: printed() == sent, "a live event after it came back")
        task.cancel()
        return await task, sent

    code, sent = asyncio.run(scenario())
    assert code == headless.EXIT_OK
    assert printed() == sent                                        # every event, once, in order
    notes = err.getvalue()
    assert "503" in notes and "reconnected" not in notes            # --json keeps human notes quiet
    assert "Traceback" not in notes and api_key not in notes


def test_a_server_that_accepts_and_closes_backs_off_and_one_that_stayed_up_starts_over(
        simulator: Simulator, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every "opened" counted as a new start, so against a server that answers 200 and
    # ends at once (a flapping proxy) the wait never grew past the first: retried
    # every 30 s for ever. The tray's rule now (core.monitor.StayedUp): open at least
    # the first wait.
    monkeypatch.setenv("VENDO_API_KEY", api_key)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    pace = headless.Pace(offline_retry=(0.3, 1.2), stream_options=FAST.stream_options)

    def waits() -> list[float]:
        return [float(line.split("trying again in ")[1].split()[0])
                for line in err.getvalue().splitlines() if "trying again in" in line]

    async def until(predicate, what: str) -> None:
        async with asyncio.timeout(20):
            while not predicate():
                await asyncio.sleep(0.01)

    async def scenario() -> list[float]:
        printer = headless.Printer(io.StringIO(), json_lines=True)
        task = asyncio.create_task(headless._main(printer, age=None, base_url=simulator.base_url, pace=pace))
        try:
            await until(lambda: simulator.stats.open_streams == 1, "the stream")
            simulator.add_fault("flap", count=9)                    # three give-ups, every attempt "opened"
            simulator.drop_streams()
            await until(lambda: len(waits()) >= 3, "three give-ups")
            opened = simulator.stats.streams_opened
            await until(lambda: simulator.stats.streams_opened > opened and simulator.stats.open_streams == 1,
                        "the stream back")
            await asyncio.sleep(0.4)                                # up for longer than the first wait
            simulator.add_fault("status", count=3, status=503)
            simulator.drop_streams()
            await until(lambda: len(waits()) >= 4, "the next give-up")
            return waits()
        finally:
            await stop_task(task)

    assert asyncio.run(scenario()) == [0.3, 0.6, 1.2, 0.3]


def test_an_unforeseen_error_in_the_loop_is_one_line_and_a_retry_not_the_end(
        simulator: Simulator, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A bug (here: printing one event raises) ended the command with a traceback, deaf
    # from then on. Like the tray's monitor, it now says so in one line and subscribes
    # again on the offline schedule, after the event it could not print.
    monkeypatch.setenv("VENDO_API_KEY", api_key)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    out = io.StringIO()
    human_line = headless._human_line

    def buggy(event):
        if event.data.get("bug"):
            raise RuntimeError("a bug, quoting vendo_sk_secret")
        return human_line(event)

    monkeypatch.setattr(headless, "_human_line", buggy)

    async def until(predicate, what: str) -> None:
        async with asyncio.timeout(20):
            while not predicate():
                await asyncio.sleep(0.01)

    async def scenario() -> str:
        printer = headless.Printer(out)
        task = asyncio.create_task(headless._main(printer, age=None, base_url=simulator.base_url, pace=FAST))
        try:
            await until(lambda: simulator.stats.open_streams == 1, "the stream")
            poison = simulator.emit("deployment.updated", {"bug": True})
            await until(lambda: "trying again in" in err.getvalue() or task.done(), "the retry")
            assert not task.done(), "the command ended"
            await until(lambda: simulator.stats.streams_opened == 2 and simulator.stats.open_streams == 1,
                        "the stream again")
            simulator.emit("billing.balance_changed", {"remaining_micros": 420_000})
            await until(lambda: "$0.42" in out.getvalue(), "the next event")
            return poison
        finally:
            await stop_task(task)

    poison = asyncio.run(scenario())
    assert out.getvalue().count("\n") == 1 and "billing.balance_changed" in out.getvalue()
    lines = [line for line in err.getvalue().splitlines() if line.strip() and "listening on" not in line
             and "reconnected" not in line]
    assert len(lines) == 1 and "unexpected error: RuntimeError" in lines[0] and "trying again in" in lines[0]
    assert "Traceback" not in err.getvalue() and "vendo_sk_secret" not in err.getvalue()
    assert simulator.stats.last_event_ids == [None, poison], "resumed after the event it could not print"


def test_a_stdout_that_cannot_be_written_is_one_line_and_exit_1(simulator: Simulator, env: dict[str, str]) -> None:
    """``vendo-tray events > /dev/full`` (a full disk): one line, not a traceback."""
    with open("/dev/full", "w") as full:
        proc = subprocess.Popen([sys.executable, "-m", "vendo_tray", "events"], stdout=full,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, **env},
                                preexec_fn=desktop.like_a_terminal_command)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "listening on" in line:
                break
        simulator.emit("billing.balance_changed", {"remaining_micros": 420_000})
        code = proc.wait(timeout=20)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 1
    assert "cannot write to standard output (No space left on device)" in err
    assert "Traceback" not in err and "Exception ignored" not in err


@pytest.mark.parametrize("json_lines", [False, True])
def test_max_failures_exits_1_with_one_message(simulator: Simulator, api_key: str, json_lines: bool,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VENDO_API_KEY", api_key)
    simulator.add_fault("status", count=3, status=503)
    code = headless.run_events(json_lines=json_lines, since=None, base_url=simulator.base_url,
                               log_level="WARNING", max_failures=3, pace=FAST)
    out, err = capsys.readouterr()
    assert code == headless.EXIT_STREAM
    err_lines = [line for line in err.splitlines() if line.strip()]
    assert len(err_lines) == 1 and "gave up after 3 failed attempts" in err_lines[0]
    assert err_lines[0].endswith("(HTTP 503)"), "the wording the tray shows too (client.events.give_up_text)"
    if json_lines:
        record = json.loads(out)
        assert record["kind"] == "stream.error" and record["data"]["attempts"] == 3
    else:
        assert out == ""


def test_a_server_sent_stream_error_event_is_just_printed(simulator: Simulator, api_key: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # A hostile or confused server naming an event "stream.error" must not stop the listener:
    # only the client's own give-up ends the run.
    monkeypatch.setenv("VENDO_API_KEY", api_key)
    out = io.StringIO()

    async def scenario() -> int:
        printer = headless.Printer(out, json_lines=True)
        task = asyncio.create_task(headless._main(printer, age=None, base_url=simulator.base_url))
        async with asyncio.timeout(10):
            while simulator.stats.open_streams < 1:
                await asyncio.sleep(0.01)
            simulator.emit("stream.error", {"message": "fake"})
            simulator.emit("deployment.updated", {})
            while out.getvalue().count("\n") < 2:
                await asyncio.sleep(0.01)
        task.cancel()
        return await task

    code = asyncio.run(scenario())
    kinds = [json.loads(line)["kind"] for line in out.getvalue().splitlines()]
    assert kinds == ["stream.error", "deployment.updated"]
    assert code == headless.EXIT_OK



def test_a_server_time_at_the_end_of_the_calendar_is_printed_not_a_crash(
        simulator: Simulator, api_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Year 1 at +05:00 is year 0 in UTC: astimezone() raised OverflowError out of
    # the loop and the command died with a traceback, deaf to every later event.
    monkeypatch.setenv("VENDO_API_KEY", api_key)
    out = io.StringIO()

    async def scenario() -> tuple[bool, int]:
        printer = headless.Printer(out)
        task = asyncio.create_task(headless._main(printer, age=None, base_url=simulator.base_url, pace=FAST))
        async with asyncio.timeout(10):
            while simulator.stats.open_streams < 1:
                await asyncio.sleep(0.01)
            for at in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):  # emit() sets its own "at"
                simulator.add_fault("raw", data=b'event: deployment.updated\ndata: {"at": "%s"}\n\n' % at.encode())
            while out.getvalue().count("\n") < 2 and not task.done():
                await asyncio.sleep(0.01)
            simulator.emit("billing.balance_changed", {"remaining_micros": 420_000})
            while out.getvalue().count("\n") < 3 and not task.done():
                await asyncio.sleep(0.01)
        running = not task.done()
        task.cancel()
        return running, await task

    running, code = asyncio.run(scenario())
    lines = out.getvalue().splitlines()
    assert running and code == headless.EXIT_OK
    assert [line.split()[1] for line in lines] == ["deployment.updated", "deployment.updated",
                                                   "billing.balance_changed"]


def test_json_line_for_data_nested_too_deep_is_printed_not_a_crash(caplog) -> None:
    # json.loads accepts nesting that json.dumps, called deeper in the stack, refuses.
    from vendo_tray.client import Event

    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    out = io.StringIO()
    printer = headless.Printer(out, json_lines=True)
    printer.live(Event("deployment.updated", {"id": "evt_deep", "x": deep}, "7"))
    printer.live(Event("deployment.updated", {"id": "evt_next"}, "8"))
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["kind"], r["id"]) for r in records] == [("deployment.updated", "7"), ("deployment.updated", "8")]
    assert isinstance(records[0]["data"], str)
    assert "nested too deeply" in caplog.text

def test_max_failures_wants_a_positive_whole_number(capsys: pytest.CaptureFixture[str]) -> None:
    from vendo_tray.cli import build_parser

    assert build_parser().parse_args(["events", "--max-failures", "5"]).max_failures == 5
    assert build_parser().parse_args(["events"]).max_failures is None
    for bad in ("0", "-1", "x"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["events", "--max-failures", bad])


def test_parse_age() -> None:
    assert headless.parse_age("30s") == timedelta(seconds=30)
    assert headless.parse_age("15m") == timedelta(minutes=15)
    assert headless.parse_age("1.5h") == timedelta(minutes=90)
    assert headless.parse_age(" 2D ") == timedelta(days=2)
    assert headless.parse_age("1w") == timedelta(days=7)
    assert headless.parse_age("99999999999d") == headless.MAX_AGE
    for bad in ("", "10", "h", "-1h", "1y", "1h30m"):
        with pytest.raises(ValueError):
            headless.parse_age(bad)


def test_the_key_saved_in_the_keyring_is_used_without_vendo_api_key(
        simulator: Simulator, api_key: str, secret_service: None) -> None:
    from vendo_tray.core.secrets import KeyStore

    KeyStore().save(api_key)
    proc = run("--json", env={"VENDO_BASE_URL": simulator.base_url, "PYTHONIOENCODING": "utf-8"})
    try:
        deadline = time.monotonic() + 15
        while simulator.stats.open_streams < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        sent = simulator.emit("billing.balance_changed", {"remaining_micros": 1_000_000})
        [line] = proc.lines(1)
        code = proc.finish(signal.SIGTERM)
    finally:
        proc.kill()
    assert code == 0 and json.loads(line)["id"] == sent
