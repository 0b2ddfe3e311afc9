"""A read-only data folder with an intact history: shown, resumed from, new events kept in memory.

The folder is really read-only (a read-only bind mount in the child's own
mount namespace), so the app under test meets EROFS exactly as it would on
a read-only disk; the window it builds says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import desktop
from conftest import TEST_KEY
from vendo_tray.core.kinds import normalize
from vendo_tray.core.store import Store

pytestmark = pytest.mark.timeout(60)

CHILD = textwrap.dedent("""
    import asyncio, json, sys
    from pathlib import Path
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    from vendo_tray.core.aio import cancel_and_wait, failure_of
    from vendo_tray.core.monitor import Monitor
    from vendo_tray.core.settings import Settings
    from vendo_tray.core.store import Store
    from vendo_tray.ui.window import MainWindow

    history, base_url, key, ini = sys.argv[1:5]
    app = QApplication([])
    store = Store.open(Path(history))
    facts = {"problem": store.problem, "resume": store.last_event_id(), "shown": store.count()}
    monitor = Monitor(settings=Settings(base_url=base_url), key=key, key_source="env", store=store)

    async def listen() -> None:
        task = asyncio.create_task(monitor.run())
        async with asyncio.timeout(20):
            while store.count() < facts["shown"] + 2:     # what was sent while it was away
                await asyncio.sleep(0.02)
        # conftest.stop_task's way (this child cannot import conftest): a monitor that
        # crashed mid-test fails the test instead of hiding in gather(return_exceptions=True).
        await cancel_and_wait(task)
        if (error := failure_of(task)) is not None:
            raise error

    asyncio.run(listen())
    facts["keys"] = [e.key for e in store.page(0, 100)]
    window = MainWindow(monitor, window_settings=QSettings(ini, QSettings.Format.IniFormat))
    facts["label"] = window.problem_label.text()
    facts["label_shown"] = not window.problem_label.isHidden()
    print(json.dumps(facts))
""")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_read_only_data_folder_shows_its_history_resumes_from_it_and_says_so(
        simulator, tmp_path: Path) -> None:
    if not desktop.have("unshare", "mount"):
        pytest.fail("needs unshare and mount (util-linux) to make a folder read-only for real")
    data = tmp_path / "data"
    history = data / "history.sqlite3"
    stored = [simulator.emit("billing.balance_changed", {"remaining_micros": m}) for m in (9_000_000, 8_000_000)]
    with Store.open(history) as store:
        store.add_many([normalize(e["kind"], e["data"], e["id"]) for e in simulator.history],
                       last_event_id=stored[-1])
    away = [simulator.emit("billing.balance_changed", {"remaining_micros": m}) for m in (7_000_000, 6_000_000)]
    before = digest(history)

    script = tmp_path / "child.py"
    script.write_text(CHILD)
    command = desktop.on_read_only_folder(data, [sys.executable, str(script), str(history), simulator.base_url,
                                                 TEST_KEY, str(tmp_path / "window.ini")])
    done = subprocess.run(command, capture_output=True, text=True, timeout=50,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.splitlines()[-1])

    assert facts["shown"] == 2 and facts["resume"] == stored[-1]       # the saved history, readable
    assert simulator.stats.last_event_ids[0] == stored[-1]             # resumed from it
    assert set(facts["keys"]) == set(stored + away)                     # new events kept (in memory)
    assert "read-only" in facts["problem"] and "memory" in facts["problem"]
    assert facts["label_shown"] and "read-only" in facts["label"] and "memory" in facts["label"]
    assert "cannot be written" in done.stderr                          # one clear log line
    assert digest(history) == before                                    # the file was never touched
