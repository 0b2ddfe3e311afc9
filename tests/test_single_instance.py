"""ui.single_instance with real processes: the second launch hands over and exits 0."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = r"""
import sys
from pathlib import Path
from PySide6.QtCore import QCoreApplication, QTimer
from vendo_tray.ui import single_instance

app = QCoreApplication(sys.argv[:1])
channel = getattr(single_instance, sys.argv[2]) if sys.argv[2] != "platform" else None
guard = single_instance.SingleInstance(name="vendo-tray-test", lock_dir=Path(sys.argv[1]), channel=channel)
if not guard.acquire():
    print("second: handed over", flush=True)
    sys.exit(0)
print("first: primary", flush=True)

def shown():
    print("first: show requested", flush=True)
    if "stay" not in sys.argv:
        guard.release()
        app.quit()

guard.show_requested.connect(shown)
QTimer.singleShot(20_000, lambda: app.exit(3))  # never hang the test run
sys.exit(app.exec())
"""


#: Both channels run here: the platform's (a Unix socket) and QtNetwork's, which Windows uses.
CHANNELS = ["platform", "QtLocalChannel"]


def _start(lock_dir: Path, *extra: str, channel: str = "platform") -> subprocess.Popen[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.Popen([sys.executable, "-c", CHILD, str(lock_dir), channel, *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _first_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


@pytest.mark.parametrize(("first_channel", "second_channel"), [
    ("platform", "platform"), ("QtLocalChannel", "QtLocalChannel"),
    # A launch of the version before this one (QLocalSocket) hands over to this one.
    ("platform", "QtLocalChannel")])
def test_second_launch_asks_the_first_to_show_and_exits_zero(
        tmp_path: Path, first_channel: str, second_channel: str) -> None:
    first = _start(tmp_path, channel=first_channel)
    try:
        assert _first_line(first) == "first: primary"
        second = _start(tmp_path, channel=second_channel)
        out, err = second.communicate(timeout=20)
        assert second.returncode == 0, err
        assert out.strip() == "second: handed over"
        assert first.wait(timeout=20) == 0
        assert first.stdout is not None and first.stdout.read().strip() == "first: show requested"
    finally:
        first.kill()
        first.wait()


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_crashed_first_instance_does_not_block_the_next(tmp_path: Path, channel: str) -> None:
    crashed = _start(tmp_path, channel=channel)
    assert _first_line(crashed) == "first: primary"
    crashed.send_signal(signal.SIGKILL)  # no cleanup: lock file and socket stay behind
    crashed.wait()
    assert (tmp_path / "vendo-tray-test.lock").exists()
    assert (tmp_path / "vendo-tray-test.sock").exists()
    nxt = _start(tmp_path, channel=channel)
    try:
        assert _first_line(nxt) == "first: primary"
        # ... and it answers on the socket it took over from the crashed one.
        second = _start(tmp_path, channel=channel)
        out, _ = second.communicate(timeout=20)
        assert out.strip() == "second: handed over"
        assert nxt.wait(timeout=20) == 0
    finally:
        nxt.kill()
        nxt.wait()


def test_the_socket_is_this_users_only_and_gone_after_a_clean_exit(tmp_path: Path) -> None:
    first = _start(tmp_path, "stay")
    try:
        assert _first_line(first) == "first: primary"
        sock = tmp_path / "vendo-tray-test.sock"
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    finally:
        first.terminate()  # SIGTERM: not handled by the child, so this is a kill, too
        first.wait()
    first = _start(tmp_path)
    assert _first_line(first) == "first: primary"
    second = _start(tmp_path)
    second.communicate(timeout=20)
    assert first.wait(timeout=20) == 0  # released: lock and socket cleaned up
    assert not (tmp_path / "vendo-tray-test.sock").exists()


def test_instance_name_is_per_user_and_short() -> None:
    from vendo_tray.ui.single_instance import instance_name

    name = instance_name()
    assert name.startswith("vendo-tray-") and len(name) < 40
    assert name == instance_name()


@pytest.mark.parametrize("channel", CHANNELS)
def test_only_one_of_several_simultaneous_launches_wins(tmp_path: Path, channel: str) -> None:
    n = 3
    procs = [_start(tmp_path, "stay", channel=channel) for _ in range(n)]
    try:
        lines = [_first_line(p) for p in procs]
        assert lines.count("first: primary") == 1, lines
        assert lines.count("second: handed over") == n - 1, lines
    finally:
        for p in procs:
            p.kill()
            p.wait()
