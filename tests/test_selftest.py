"""``vendo-tray --self-test``: one line, exit 0 when every part loads, non-zero naming what is missing.

Most tests run the real command in a child process (as CI runs the installed
binary), against the real desktop parts from conftest: the Xvfb display, a
tray host, gnome-keyring's Secret Service.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vendo_tray import __version__, selftest


def run_self_test(**env_changes: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run([sys.executable, "-m", "vendo_tray", "--self-test"], env=env,
                          capture_output=True, text=True, timeout=90)


def test_passes_in_this_environment_with_one_line() -> None:
    result = run_self_test()
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    line = lines[0]
    assert line.startswith(f"vendo-tray {__version__} self-test: OK - ")
    expected_platform = os.environ.get("QT_QPA_PLATFORM") or ("xcb" if os.environ.get("DISPLAY") else "offscreen")
    for part in (f"({expected_platform})", "SVG icons", "keyring SecretService", "notifier dbus",
                 "CAs", "simulator answered $"):
        assert part in line, (part, line)


def test_without_a_display_it_falls_back_to_offscreen() -> None:
    result = run_self_test(DISPLAY=None, QT_QPA_PLATFORM=None, WAYLAND_DISPLAY=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(offscreen)" in result.stdout
    assert "no system tray" in result.stdout  # reported, not failed


def test_reports_the_tray_when_a_tray_host_runs(tray_host: None, xvfb_display: str) -> None:
    result = run_self_test(DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(xcb)" in result.stdout
    assert "tray available" in result.stdout


def test_reports_the_active_secret_service(secret_service: None) -> None:
    result = run_self_test()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "active: SecretService Keyring" in result.stdout


def test_a_missing_qt_platform_plugin_fails_and_names_it() -> None:
    # Qt aborts the process when it cannot load the platform plugin; the report must survive that.
    result = run_self_test(QT_QPA_PLATFORM="no-such-platform")
    assert result.returncode == 1
    line = result.stdout.strip().splitlines()[-1]
    assert "self-test: FAILED (qt)" in line
    assert "no-such-platform" in line
    # The other parts were still checked.
    assert "keyring" not in line.split(" - ", 1)[1]


def test_missing_keyring_metadata_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a bundle without keyring's dist-info looks like: no entry points in the group.
    monkeypatch.setattr(selftest, "entry_points", lambda group: [])
    check = selftest.check_keyring()
    assert not check.ok
    assert "entry points" in check.problem


def test_a_back_end_that_does_not_import_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenEntryPoint:
        name = selftest.KEYRING_BACKEND[selftest._platform_key()]

        def load(self) -> object:
            raise ModuleNotFoundError("No module named 'secretstorage'")

    monkeypatch.setattr(selftest, "entry_points", lambda group: [BrokenEntryPoint()])
    check = selftest.check_keyring()
    assert not check.ok
    assert "does not load" in check.problem and "secretstorage" in check.problem


def test_in_process_checks_pass_here() -> None:
    for check in (selftest.check_notifier(), selftest.check_tls(), selftest.check_simulator()):
        assert check.ok, check


def test_a_hanging_check_times_out_instead_of_hanging() -> None:
    import threading

    release = threading.Event()

    def hang() -> selftest.Check:
        release.wait(10)
        return selftest.Check("slow", "done")

    try:
        check = selftest._with_timeout(hang, 0.2, "slow", "the slow part")
    finally:
        release.set()
    assert not check.ok and "did not answer" in check.problem


def test_failure_report_names_every_missing_part() -> None:
    checks = [selftest.Check("qt", "Qt 6 (xcb)"),
              selftest.Check("tls", "", "the CA bundle loaded no certificates"),
              selftest.Check("notifier", "", "desktop-notifier's resources are not bundled")]
    line = selftest.format_report(checks, 1.5)
    assert "\n" not in line
    assert line.startswith(f"vendo-tray {__version__} self-test: FAILED (tls, notifier) - ")
    assert "tls: the CA bundle loaded no certificates" in line
    assert "notifier: desktop-notifier's resources are not bundled" in line


@pytest.mark.parametrize(("env", "expected"), [
    ({"DISPLAY": ":5"}, "xcb"),
    ({}, "offscreen"),
    ({"DISPLAY": ":5", "QT_QPA_PLATFORM": "wayland"}, "wayland"),
])
def test_platform_choice_on_linux(env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selftest, "_platform_key", lambda: "linux")
    assert selftest.choose_qt_platform(env) == expected
