"""``vendo-tray apps`` and ``events --app`` as a user runs them: real processes, the simulator, gnome-keyring."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import desktop
from keyring_helpers import files_containing, lock_login_keyring, secret_tool_lookup
from vendo_tray.core.apps import add_app
from vendo_tray.core.kinds import normalize
from vendo_tray.core.paths import history_path
from vendo_tray.core.settings import Settings, load_settings, save_settings
from vendo_tray.core.store import Store
from vendo_tray.simulator import Simulator

pytestmark = [pytest.mark.timeout(60), pytest.mark.skipif(sys.platform == "win32", reason="POSIX")]

STAGING_KEY = "vendo_sk_staging_Zt81qPw"


def apps(*args: str, stdin: str | None = "", env: dict[str, str] | None = None,
         timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``python -m vendo_tray apps …`` with ``stdin`` piped in (None: no standard input at all)."""
    return subprocess.run([sys.executable, "-m", "vendo_tray", "apps", *args], input=stdin,
                          stdin=subprocess.DEVNULL if stdin is None else None, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=timeout,
                          preexec_fn=desktop.die_with_parent)


def config_dir(home: Path) -> Path:
    return home / ".config" / "vendo-tray"


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.desktop
def test_add_tests_the_key_from_stdin_then_stores_it_under_the_apps_own_entry(
        simulator: Simulator, api_key: str, secret_service: None, isolated_home: Path) -> None:
    done = apps("add", "prod", "--base-url", simulator.base_url, stdin=api_key + "\n")
    assert done.returncode == 0, done.stderr
    assert "added prod" in done.stdout and "answered with" in done.stdout
    assert simulator.stats.requests.total() >= 1  # the key was tested with a real call
    assert secret_tool_lookup(account="api-key:prod") == api_key
    assert secret_tool_lookup() is None  # a fresh machine: no implied app was kept
    [app] = load_settings(config_dir(isolated_home)).apps
    assert (app.name, app.base_url) == ("prod", simulator.base_url)
    assert files_containing(isolated_home, api_key) == []

    listed = apps("list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split() == ["prod", simulator.base_url, "stored"]
    assert api_key not in listed.stdout + listed.stderr
    [record] = json.loads(apps("list", "--json").stdout)
    assert record == {"id": "prod", "name": "prod", "base_url": simulator.base_url, "key": "keyring",
                      "from_environment": False, "problem": None}


@pytest.mark.desktop
def test_an_existing_single_key_setup_keeps_its_app_when_another_is_added(
        simulator: Simulator, api_key: str, secret_service: None, isolated_home: Path) -> None:
    from vendo_tray.core.secrets import KeyStore

    KeyStore().save(api_key)  # what the tray saved before apps existed
    save_settings(config_dir(isolated_home), Settings(base_url=simulator.base_url))
    done = apps("add", "staging", "--base-url", simulator.base_url, stdin=api_key)
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in apps("list").stdout.splitlines()[1:]]
    assert names == ["Vendo", "staging"]
    assert secret_tool_lookup() == api_key  # the implied app's entry is untouched


@pytest.mark.desktop
def test_a_rejected_key_saves_nothing(simulator: Simulator, secret_service: None, isolated_home: Path) -> None:
    done = apps("add", "prod", "--base-url", simulator.base_url, stdin="vendo_sk_wrong_one")
    assert done.returncode == 3
    line = one_line(done)
    assert "rejected the key" in line and "HTTP 401" in line and "nothing was saved" in line
    assert "vendo_sk_wrong_one" not in line
    assert secret_tool_lookup(account="api-key:prod") is None
    assert not (config_dir(isolated_home) / "settings.json").exists()


@pytest.mark.desktop
def test_an_unreachable_server_saves_nothing(api_key: str, secret_service: None, isolated_home: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    done = apps("add", "prod", "--base-url", url, stdin=api_key)
    assert done.returncode == 1
    assert "could not test the key against" in one_line(done)
    assert secret_tool_lookup(account="api-key:prod") is None
    assert not (config_dir(isolated_home) / "settings.json").exists()


@pytest.mark.parametrize("args", [
    ("add", "prod", "--key", "vendo_sk_on_the_command_line"),
    ("add", "prod", "--key=vendo_sk_on_the_command_line"),
    ("add", "prod", "vendo_sk_on_the_command_line"),
    ("add", "--api-key", "vendo_sk_on_the_command_line", "prod"),
    ("add", "vendo_sk_on_the_command_line"),
])
def test_a_key_passed_as_an_argument_is_refused_before_anything_happens(
        args: tuple[str, ...], simulator: Simulator, isolated_home: Path) -> None:
    done = apps(*args, "--base-url", simulator.base_url, stdin="vendo_sk_from_stdin")
    assert done.returncode == 2
    line = one_line(done)
    assert "never taken as an argument" in line and "process list" in line
    assert "vendo_sk_on_the_command_line" not in line
    assert simulator.stats.requests.total() == 0
    assert not config_dir(isolated_home).exists()


@pytest.mark.desktop
@pytest.mark.parametrize(("args", "stdin", "code", "words"), [
    (("add", "prod", "--base-url", "http://vendo.run"), "k", 2, "Use https://"),
    (("add", "env"), "k", 2, "VENDO_API_KEY"),
    (("add", "x" * 40), "k", 2, "at most 32"),
    (("add", "new"), "", 3, "no key given"),
    (("add", "new"), "vendo_sk_a\nvendo_sk_b\n", 3, "one word on one line"),
    (("remove", "nope"), None, 2, "no app called 'nope'"),
    (("add",), "k", 2, "required: NAME"),
])
def test_each_failure_is_one_line_and_a_non_zero_exit(
        args: tuple[str, ...], stdin: str | None, code: int, words: str, secret_service: None) -> None:
    done = apps(*args, stdin=stdin)
    assert done.returncode == code
    assert words in one_line(done)


@pytest.mark.desktop
def test_a_name_already_taken_is_refused(simulator: Simulator, api_key: str, secret_service: None) -> None:
    assert apps("add", "prod", "--base-url", simulator.base_url, stdin=api_key).returncode == 0
    done = apps("add", "PROD", "--base-url", simulator.base_url, stdin=api_key)
    assert done.returncode == 2 and "already an app called 'prod'" in one_line(done)


def test_no_keyring_is_one_line_and_saves_nothing(simulator: Simulator, api_key: str, isolated_home: Path) -> None:
    done = apps("add", "prod", "--base-url", simulator.base_url, stdin=api_key,
                env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert done.returncode == 1
    assert "No system keyring" in one_line(done)
    assert simulator.stats.requests.total() == 0  # found out before the key was read
    assert not config_dir(isolated_home).exists()


@pytest.mark.desktop
def test_a_locked_keyring_is_one_line_and_saves_nothing(
        simulator: Simulator, api_key: str, secret_service: None, isolated_home: Path) -> None:
    lock_login_keyring()
    done = apps("add", "prod", "--base-url", simulator.base_url, stdin=api_key)
    assert done.returncode == 1
    assert "lock" in one_line(done).lower()
    assert not config_dir(isolated_home).exists()


@pytest.mark.desktop
def test_remove_deletes_the_keyring_entry_and_the_entry_in_the_list(
        simulator: Simulator, api_key: str, secret_service: None, isolated_home: Path) -> None:
    for name in ("prod", "staging"):
        assert apps("add", name, "--base-url", simulator.base_url, stdin=api_key).returncode == 0
    done = apps("remove", "Prod")
    assert done.returncode == 0, done.stderr
    assert "removed prod" in done.stdout
    assert secret_tool_lookup(account="api-key:prod") is None
    assert secret_tool_lookup(account="api-key:staging") == api_key
    assert [a.name for a in load_settings(config_dir(isolated_home)).apps] == ["staging"]


@pytest.mark.desktop
def test_the_environments_app_is_listed_read_only_and_cannot_be_removed(
        simulator: Simulator, api_key: str, secret_service: None) -> None:
    env = {"VENDO_API_KEY": api_key, "VENDO_BASE_URL": simulator.base_url}
    listed = apps("list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1:] == [f"env   {simulator.base_url}  from VENDO_API_KEY (read-only)"]
    assert api_key not in listed.stdout
    done = apps("remove", "env", env=env)
    assert done.returncode == 2 and "unset VENDO_API_KEY" in one_line(done)


@pytest.mark.desktop
def test_add_reads_the_key_at_a_hidden_prompt_on_a_terminal(
        simulator: Simulator, api_key: str, secret_service: None) -> None:
    """On a terminal the key is typed at getpass's prompt, which does not echo it."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is the pty
        os.execv(sys.executable, [sys.executable, "-m", "vendo_tray", "apps", "add", "prod",
                                  "--base-url", simulator.base_url])
    try:
        screen = _read_until(fd, b"(input hidden): ")
        os.write(fd, api_key.encode() + b"\n")
        screen += _read_until(fd, b"")
        _, status = os.waitpid(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.close(fd)
    assert "API key for prod" in screen
    assert api_key not in screen  # not echoed
    assert os.waitstatus_to_exitcode(status) == 0, screen
    assert secret_tool_lookup(account="api-key:prod") == api_key


def _read_until(fd: int, marker: bytes, timeout: float = 20.0) -> str:
    """What the child wrote to its terminal, up to ``marker`` (b"": until it closed)."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (marker and marker in data):
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed its terminal
            break
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


@pytest.mark.desktop
def test_events_app_streams_that_apps_events_with_its_own_key_and_base_url(
        simulator: Simulator, api_key: str, secret_service: None, isolated_home: Path) -> None:
    from vendo_tray.core.secrets import KeyStore

    with Simulator(key=STAGING_KEY, ping_interval=0.5) as staging_sim:
        settings, prod = add_app(Settings(), "prod", simulator.base_url, keep_default=False)
        settings, staging = add_app(settings, "staging", staging_sim.base_url, keep_default=False)
        save_settings(config_dir(isolated_home), settings)
        KeyStore().save(api_key, prod.account)
        KeyStore().save(STAGING_KEY, staging.account)
        ago = datetime.now(timezone.utc) - timedelta(minutes=10)
        history_path().parent.mkdir(parents=True, exist_ok=True)
        with Store.open(history_path()) as store:  # --since prints that app's history only
            for app, slug in ((prod, "notion"), (staging, "github")):
                event = normalize("connection.connected", {"id": f"evt_{slug}", "slug": slug}, received_at=ago)
                store.add_many([replace(event, app=app.id)])
        proc = subprocess.Popen([sys.executable, "-m", "vendo_tray", "events", "--json", "--since", "1h",
                                 "--app", "staging"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONIOENCODING": "utf-8"},
                                preexec_fn=desktop.like_a_terminal_command)
        try:
            deadline = time.monotonic() + 15
            while staging_sim.stats.open_streams < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            sent = staging_sim.emit("billing.balance_changed", {"remaining_micros": 1_000_000})
            assert proc.stdout is not None
            history = json.loads(proc.stdout.readline())
            line = proc.stdout.readline()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert code == 0 and json.loads(line)["id"] == sent
        assert (history["source"], history["data"]["slug"]) == ("history", "github")
        assert simulator.stats.requests.total() == 0  # the other app's server never heard of it


@pytest.mark.desktop
def test_events_with_an_unknown_app_is_one_line(secret_service: None) -> None:
    done = subprocess.run([sys.executable, "-m", "vendo_tray", "events", "--app", "nope"], capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "no app called 'nope'" in one_line(done)
