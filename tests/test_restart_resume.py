"""Nothing lost: the real app killed mid-stream and restarted records every event exactly once.

The app process is killed with SIGKILL (no clean shutdown, as after a crash or
power loss); events the server sends while it is gone must arrive through the
Last-Event-ID replay when it comes back.  Also with ids that start and end with a
space and carry non-ASCII (all valid SSE): the persisted id must resume just the same.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from desktop import wait_until
from vendo_tray.core import paths
from vendo_tray.core.store import Store
from vendo_tray.simulator import Simulator

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture(params=["evt_{boot}_{seq:06d}", " évt {boot}·{seq} "],
                ids=["plain ids", "ids with spaces and non-ASCII"])
def simulator(request: pytest.FixtureRequest, api_key: str):
    with Simulator(key=api_key, ping_interval=0.5, id_format=request.param) as sim:
        yield sim


def start_app(simulator, api_key: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VENDO_API_KEY": api_key, "VENDO_BASE_URL": simulator.base_url}
    return subprocess.Popen([sys.executable, "-m", "vendo_tray", "--log-level", "DEBUG"],
                            env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def stored(keys: list[str]) -> bool:
    path = paths.history_path()
    if not path.exists():
        return False
    store = Store.open(path, read_only=True)
    try:
        return all(store.get(key) is not None for key in keys)
    finally:
        store.close()


def balance_events(simulator, *amounts: int) -> list[str]:
    return [simulator.emit("billing.balance_changed", {"remaining_micros": a}) for a in amounts]


def test_killed_app_resumes_and_records_every_event_exactly_once(
        simulator, api_key, tray_host, tmp_path) -> None:
    log = tmp_path / "app.log"
    app = start_app(simulator, api_key, log)
    try:
        wait_until(lambda: simulator.stats.open_streams == 1, 20, "the app's stream")
        before = balance_events(simulator, 9_000_000, 8_000_000, 7_000_000)
        wait_until(lambda: stored(before), 10, "the first events in history")
        app.send_signal(signal.SIGKILL)
        app.wait(10)
        wait_until(lambda: simulator.stats.open_streams == 0, 10, "the server to see the stream go")

        while_gone = balance_events(simulator, 6_000_000, 5_000_000, 4_000_000, 3_000_000)
        app = start_app(simulator, api_key, log)
        wait_until(lambda: stored(while_gone), 20, "the replayed events")
        # HTTP trims a header's spaces; the server matches its ids in that form.
        assert simulator.stats.last_event_ids[-1] == before[-1].strip(" \t"), "resumed after the last stored id"
        after = balance_events(simulator, 2_000_000)
        wait_until(lambda: stored(after), 10, "a live event after the restart")
    finally:
        if app.poll() is None:
            app.terminate()
            app.wait(10)

    store = Store.open(paths.history_path(), read_only=True)
    try:
        balance_keys = [e.key for e in store.page(0, 1000) if e.kind.value == "billing.balance"]
    finally:
        store.close()
    sent = before + while_gone + after
    assert sorted(k for k in balance_keys if k in sent) == sorted(sent), "each event exactly once"
    assert "Traceback" not in log.read_text(errors="replace")
