"""End to end: real session bus, Xvfb, real dunst, a stand-in browser.

What the user sees and does is what these tests do: dunst draws the popup,
``dunstctl action`` clicks its body, ``dunstctl context`` picks a button from
dunst's own menu (through a scripted dmenu), and the click travels back over
D-Bus into the app, through the link allowlist, QDesktopServices and xdg-open
to the "browser" — a recorder script registered both as the xdg default for
http(s) and as $BROWSER (xdg-open prefers the .desktop default), which writes
each URL it is given, and the environment it was started with, to files.  Every Notify on the bus is captured by a
D-Bus monitor, so "exactly the expected notifications" is checked on the wire.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QImage

import desktop
from conftest import TEST_KEY
from notify_server import NotifyMonitor
from vendo_tray.core.links import Links
from vendo_tray.core.notices import Action, ActionKind, Notice, Urgency
from vendo_tray.resources import APP_ICON
from vendo_tray.simulator.scenarios import NOTION_ERROR
from vendo_tray.ui.icons import render_pixmap
from vendo_tray.ui.notifier import Notifier

pytestmark = pytest.mark.desktop

ICON = Path(__file__).resolve().parent.parent / "resources" / "icons" / "vendo-tray.svg"
KEY = "vendo_sk_e2e_0123456789"


# ------------------------------------------------------------------ the desk


class Browser:
    """The stand-in browser: every URL xdg-open hands it lands in ``log``, and the
    environment each launch received in a file of its own under ``envs``."""

    def __init__(self, log: Path, envs: Path) -> None:
        self.log = log
        self.envs = envs

    def opened(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def environments(self) -> list[str]:
        return [p.read_text(errors="replace") for p in sorted(self.envs.iterdir())]


@pytest.fixture
def browser(isolated_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Browser:
    log = tmp_path / "opened.txt"
    envs = tmp_path / "browser-envs"
    envs.mkdir()
    script = tmp_path / "record-browser"
    # The environment first: once the URL is logged, a test may look at both.
    script.write_text(f"#!/bin/sh\nenv > '{envs}'/$$\nprintf '%s\\n' \"$1\" >> '{log}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    config = Path(os.environ["XDG_CONFIG_HOME"])
    apps = Path(os.environ["XDG_DATA_HOME"]) / "applications"
    config.mkdir(parents=True, exist_ok=True)
    apps.mkdir(parents=True, exist_ok=True)
    (apps / "vendo-test-browser.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=Recording browser\n"
        f"Exec={script} %u\nMimeType=x-scheme-handler/http;x-scheme-handler/https;text/html;\n"
        "NoDisplay=true\n")
    (config / "mimeapps.list").write_text(
        "[Default Applications]\nx-scheme-handler/http=vendo-test-browser.desktop\n"
        "x-scheme-handler/https=vendo-test-browser.desktop\ntext/html=vendo-test-browser.desktop\n")
    monkeypatch.setenv("BROWSER", str(script))
    for var in ("XDG_CURRENT_DESKTOP", "DESKTOP_SESSION", "KDE_FULL_SESSION", "GNOME_DESKTOP_SESSION_ID"):
        monkeypatch.delenv(var, raising=False)   # xdg-open's generic path, as on a bare WM
    return Browser(log, envs)


class Menu:
    """dunst's context menu, answered by a script: it picks the line with ``pick``."""

    def __init__(self, pick_file: Path, shown_file: Path) -> None:
        self._pick = pick_file
        self._shown = shown_file

    def choose(self, label: str) -> None:
        self._pick.write_text(label)

    def shown(self) -> list[str]:
        return self._shown.read_text().splitlines() if self._shown.exists() else []


@pytest.fixture
def menu(tmp_path: Path) -> Menu:
    return Menu(tmp_path / "menu-pick", tmp_path / "menu-shown")


@pytest.fixture
def dunst(session_bus: str, xvfb_display: str, tmp_path: Path, menu: Menu,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The lead's dunst, with a scripted dmenu so `dunstctl context` can press buttons."""
    dmenu = tmp_path / "dmenu"
    dmenu.write_text(f"#!/bin/sh\ntee '{menu._shown}' | grep -F -m1 -- \"$(cat '{menu._pick}')\"\n")
    dmenu.chmod(dmenu.stat().st_mode | stat.S_IXUSR)
    menu.choose("(no choice)")
    monkeypatch.setattr(desktop, "DUNSTRC",
                        desktop.DUNSTRC.replace("[global]\n", f"[global]\n    dmenu = {dmenu}\n", 1))
    with desktop.dunst(tmp_path):
        yield


@pytest.fixture
def monitor(session_bus: str) -> Iterator[NotifyMonitor]:
    with NotifyMonitor(session_bus) as mon:
        yield mon


def spin_until(loop: asyncio.AbstractEventLoop, predicate: Callable[[], bool], timeout: float = 10,
               what: str = "condition") -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    try:
        loop.run_until_complete(asyncio.wait_for(poll(), timeout))
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def dunstctl(*args: str) -> str:
    return subprocess.run(["dunstctl", *args], check=True, capture_output=True, text=True, timeout=10).stdout


def displayed() -> int:
    return int(dunstctl("count", "displayed").strip())


# ---------------------------------------------------------------- the app side


class LinkOpener:
    """What the app does with a clicked action: allowlist, then QDesktopServices."""

    def __init__(self, links: Links) -> None:
        self.links = links
        self.actions: list[Action] = []

    def __call__(self, action: Action) -> None:
        self.actions.append(action)
        if action.kind is ActionKind.OPEN_URL:
            url = self.links.check(action.url)
            if url is not None:
                QDesktopServices.openUrl(QUrl(url))


@pytest.fixture
def notifier(loop) -> Iterator[tuple[Notifier, LinkOpener]]:
    opener = LinkOpener(Links("https://vendo.run", lambda: KEY))
    n = Notifier("Vendo Tray", ICON, opener)
    yield n, opener
    loop.run_until_complete(n.aclose())


def reauth(links: Links, slug: str, connect_url: str | None = None) -> Notice:
    url = links.reauthorize(slug, f"conn_{slug}", connect_url=connect_url)
    assert url is not None
    go = Action("Re-authorize", ActionKind.OPEN_URL, url=url)
    return Notice(subject=f"connection:{slug}", title=f"{slug.capitalize()} needs re-authorization",
                  body=f"Vendo lost access to {slug.capitalize()}. Re-authorize to keep it working.",
                  urgency=Urgency.CRITICAL, default=go,
                  buttons=(go, Action("Details", ActionKind.OPEN_WINDOW, event_key="e1")))


# ---------------------------------------------------------------------- tests


def test_dunstctl_action_opens_exactly_the_reauthorize_link(loop, dunst, monitor, browser, notifier) -> None:
    n, opener = notifier
    notice = reauth(opener.links, "slack")
    n.show(notice)
    spin_until(loop, lambda: len(monitor.answered()) == 1 and displayed() == 1, what="dunst showing it")

    [call] = monitor.answered()
    assert (call.app_name, call.summary, call.urgency) == ("Vendo Tray", "Slack needs re-authorization", 2)
    assert call.labels == ["Re-authorize", "Details"]

    dunstctl("action", "0")
    spin_until(loop, lambda: browser.opened(), what="the browser to be opened")
    assert browser.opened() == [notice.default.url]
    assert notice.default.url.startswith(f"https://vendo.run/connections/connect/slack?app_key={KEY}")
    assert monitor.actions_invoked == [(call.id, "default")]


def test_dunst_menu_button_opens_the_link_and_details_opens_nothing(loop, dunst, monitor, browser, menu,
                                                                    notifier) -> None:
    n, opener = notifier
    n.show(reauth(opener.links, "github"))
    spin_until(loop, lambda: displayed() == 1, what="dunst showing it")
    menu.choose("#Details")
    dunstctl("context")
    spin_until(loop, lambda: len(opener.actions) == 1, what="the Details click")
    assert opener.actions[0].kind is ActionKind.OPEN_WINDOW

    notice = reauth(opener.links, "github")
    n.show(notice)
    spin_until(loop, lambda: displayed() == 1 and len(monitor.answered()) == 2, what="the second popup")
    menu.choose("#Re-authorize")
    dunstctl("context")
    spin_until(loop, lambda: browser.opened(), what="the browser")
    assert browser.opened() == [notice.buttons[0].url]
    assert any("#Re-authorize (Github needs re-authorization)" in line for line in menu.shown())


def test_hostile_links_are_never_opened(loop, dunst, monitor, browser, notifier) -> None:
    n, opener = notifier
    hostile = ["javascript:alert(1)", "https://vendo.run.evil.example/connect",
               "https://vendo.run@evil.example/", "file:///etc/passwd"]
    for i, url in enumerate(hostile):
        n.show(Notice(subject=f"x{i}", title="Click me", body=url,
                      default=Action("Open", ActionKind.OPEN_URL, url=url)))
    spin_until(loop, lambda: displayed() == len(hostile), what="all hostile popups")
    for i, _ in enumerate(hostile, 1):
        dunstctl("action", "0")            # dunstctl's click leaves the popup up: close it
        spin_until(loop, lambda: len(opener.actions) == i, what=f"click {i} to reach the app")
        dunstctl("close")
        spin_until(loop, lambda: displayed() == len(hostile) - i, what=f"popup {i} closed")
    assert sorted(a.url for a in opener.actions) == sorted(hostile)
    # A benign click afterwards: once its URL is recorded, any earlier open would be too.
    benign = reauth(opener.links, "slack")
    n.show(benign)
    spin_until(loop, lambda: displayed() == 1, what="the benign popup")
    dunstctl("action", "0")
    spin_until(loop, lambda: browser.opened(), what="the benign link")
    assert browser.opened() == [benign.default.url]


def test_update_replaces_in_dunst_and_withdraw_removes(loop, dunst, monitor, notifier) -> None:
    n, opener = notifier
    n.show(reauth(opener.links, "slack"))
    spin_until(loop, lambda: len(monitor.answered()) == 1, what="first popup")
    n.show(Notice(subject="connection:slack", title="Slack error", body="token revoked"))
    spin_until(loop, lambda: len(monitor.answered()) == 2, what="update")
    first, update = monitor.answered()
    assert update.replaces_id == first.id and update.id == first.id
    assert displayed() == 1
    n.withdraw("connection:slack")
    spin_until(loop, lambda: displayed() == 0, what="withdrawn")
    assert monitor.close_calls == [first.id]


def test_screenshot_of_a_real_dunst_notification(loop, dunst, monitor, notifier, xvfb_display,
                                                 screenshots_dir, tmp_path) -> None:
    """docs/screenshots/notification.png: what a needs-reauth popup looks like in dunst."""
    n, opener = notifier
    n.show(reauth(opener.links, "slack"))
    spin_until(loop, lambda: displayed() == 1, what="dunst showing it")
    loop.run_until_complete(asyncio.sleep(0.5))        # let dunst finish drawing
    full = desktop.screenshot(tmp_path / "screen.png", xvfb_display)
    out = screenshots_dir / "notification.png"
    # dunst sits top-right (origin/offset in desktop.DUNSTRC): keep that corner, with a margin.
    subprocess.run(["convert", str(full), "-gravity", "NorthEast", "-crop", "396x96+0+30", "+repage",
                    str(out)], check=True, timeout=30)
    colours = subprocess.run(["identify", "-format", "%k", str(out)], check=True, capture_output=True,
                             text=True, timeout=30).stdout
    assert int(colours) > 50, "the crop holds no rendered popup"


# ======================================================= the whole app, for real
#
# `vendo-tray` runs as its own process (as users run it) against the project's
# simulator, with dunst drawing and the recorder as the browser.  What each
# scenario must raise is checked on the bus; "nothing more" is checked by
# ordering, never by sleeping: a later marker event's popup arriving proves
# any duplicate of an earlier one would have arrived before it.


class App:
    """A running `vendo-tray` process and the log it writes."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def start_app(tmp_path: Path, browser: Browser, dunst, session_bus: str, xvfb_display: str
              ) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def start(*args: str, base_url: str | None = None, key: str | None = TEST_KEY,
              env: dict[str, str] | None = None) -> App:
        if base_url is not None:
            config = Path(os.environ["XDG_CONFIG_HOME"]) / "vendo-tray"
            config.mkdir(parents=True, exist_ok=True)
            (config / "settings.json").write_text(json.dumps({"base_url": base_url}))
        full_env = dict(os.environ, **(env or {}))
        if key:
            full_env["VENDO_API_KEY"] = key
        log = tmp_path / f"app-{len(apps)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "vendo_tray", "--log-level", "DEBUG", *args],
                                    env=full_env, stdout=out, stderr=subprocess.STDOUT)
        app = App(proc, log)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.stop()
    for app in apps:
        if app.proc.returncode not in (0, -signal.SIGTERM):
            print(app.log.read_text(errors="replace")[-4000:])


def wait(predicate: Callable[[], bool], what: str, timeout: float = 20.0, app: App | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if app is not None and app.proc.poll() is not None:
            raise AssertionError(f"the app exited ({app.proc.returncode}) while waiting for {what}:\n"
                                 + app.log.read_text(errors="replace")[-3000:])
        if time.monotonic() > deadline:
            tail = app.log.read_text(errors="replace")[-3000:] if app else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.02)


def summaries(monitor: NotifyMonitor) -> list[str]:
    return [n.summary for n in monitor.answered()]


def popups(monitor: NotifyMonitor) -> dict[int, list]:
    """Answered Notify calls grouped by popup id (an in-place update shares its popup's id)."""
    grouped: dict[int, list] = {}
    for call in monitor.answered():
        grouped.setdefault(call.id, []).append(call)
    return grouped


def in_place_updates_only(calls: list) -> bool:
    return all(c.replaces_id == calls[0].id for c in calls[1:])


def live(sim, app: App, monitor: NotifyMonitor) -> None:
    """The app is subscribed; it raised nothing on start."""
    wait(lambda: sim.stats.open_streams >= 1, "the app's stream", app=app)
    assert monitor.notifies == []


def assert_no_key_in(browser: Browser) -> None:
    """The app was started with VENDO_API_KEY set; the browser it opened must not have it."""
    [environment] = browser.environments()
    assert "XDG_CONFIG_HOME=" in environment            # it is the real environment, recorded
    assert "VENDO_API_KEY" not in environment and TEST_KEY not in environment


def expected_links(sim) -> Links:
    return Links(sim.base_url, lambda: TEST_KEY)


def test_live_needs_reauth_is_one_popup_whose_button_opens_the_link_and_healing_withdraws_it(
        simulator, start_app, monitor, browser, menu) -> None:
    sim = simulator
    app = start_app(base_url=sim.base_url)
    live(sim, app, monitor)

    sim.set_connection_status("slack", "needs_reauth")      # status_changed + connection_updated alias
    sim.set_connection_status("notion", "error", "Notion API timed out (HTTP 504)")   # the marker
    wait(lambda: len(popups(monitor)) >= 2, "two popups", app=app)
    reauth_call, error_call = (calls[0] for calls in popups(monitor).values())
    assert len(popups(monitor)[reauth_call.id]) == 1          # the alias block raised nothing
    assert in_place_updates_only(popups(monitor)[error_call.id])   # at most completed in place
    assert reauth_call.app_name == "Vendo Tray"
    assert "slack" in reauth_call.summary.lower() and "re-authoriz" in reauth_call.summary.lower()
    assert "Re-authorize" in reauth_call.labels
    assert "notion" in error_call.summary.lower()
    assert "Details" in error_call.labels

    menu.choose("#Re-authorize (" + reauth_call.summary)
    dunstctl("context")
    wait(lambda: browser.opened(), "the browser", app=app)
    slack = sim.connection("slack")
    assert browser.opened() == [expected_links(sim).reauthorize("slack", slack["id"])]
    assert_no_key_in(browser)

    sim.set_connection_status("notion", "connected")          # healthy again → withdrawn
    wait(lambda: error_call.id in monitor.close_calls, "notion's popup withdrawn", app=app)
    assert sorted(popups(monitor)) == sorted({reauth_call.id, error_call.id})


def test_the_apps_notifications_show_its_own_icon(simulator, start_app, monitor, qapp) -> None:
    """Not the server's generic bell: app_icon names a PNG of the app's icon the server can read."""
    sim = simulator
    app = start_app(base_url=sim.base_url)
    live(sim, app, monitor)
    sim.set_connection_status("slack", "needs_reauth")
    wait(lambda: monitor.answered(), "a popup", app=app)
    icon = monitor.answered()[0].app_icon
    assert icon.startswith("file://"), icon
    image = QImage(QUrl(icon).toLocalFile())
    expected = render_pixmap(APP_ICON, image.width() or 64).toImage()
    assert not image.isNull() and image.convertToFormat(expected.format()) == expected


def test_live_connection_error_is_completed_in_place_with_the_connections_error_message(
        simulator, start_app, monitor) -> None:
    """The live wire's status_changed carries no reason; REST's error_message completes the popup."""
    sim = simulator
    app = start_app(base_url=sim.base_url)
    live(sim, app, monitor)
    sim.set_connection_status("notion", "error", "Notion API timed out (HTTP 504)")
    wait(lambda: any("HTTP 504" in n.body for n in monitor.answered()), "the error message in a popup",
         timeout=8, app=app)
    [(popup_id, calls)] = popups(monitor).items()
    assert in_place_updates_only(calls)
    assert displayed() == 1


def test_seed_wire_needs_reauth_click_opens_exactly_the_link(start_app, monitor, browser) -> None:
    from vendo_tray.simulator import Simulator

    with Simulator(key=TEST_KEY, ping_interval=0.5, wire="seed") as sim:
        app = start_app(base_url=sim.base_url)
        live(sim, app, monitor)
        sim.set_connection_status("github", "needs_reauth")
        wait(lambda: len(monitor.answered()) == 1 and displayed() == 1, "the popup", app=app)
        [call] = monitor.answered()
        assert "github" in call.summary.lower() and call.labels[0] == "Re-authorize"
        dunstctl("action", "0")                                 # the body click
        wait(lambda: browser.opened(), "the browser", app=app)
        github = sim.connection("github")
        assert browser.opened() == [expected_links(sim).reauthorize("github", github["id"])]
        assert_no_key_in(browser)


def test_balance_low_once_per_crossing_then_exhausted_replaces_it(simulator, start_app, monitor,
                                                                  browser, menu) -> None:
    sim = simulator
    app = start_app(base_url=sim.base_url)
    live(sim, app, monitor)
    sim.set_balance(420_000)
    wait(lambda: len(monitor.answered()) == 1, "balance low", app=app)
    sim.set_balance(300_000)                                    # still below: no new popup
    sim.set_balance(0)
    wait(lambda: len(monitor.answered()) == 2, "balance exhausted", app=app)
    low, exhausted = monitor.answered()
    assert "low" in low.summary.lower() and low.labels == ["Top up"]
    assert "exhausted" in exhausted.summary.lower() or "$0" in exhausted.summary
    assert exhausted.urgency == 2
    assert exhausted.replaces_id == low.id and exhausted.id == low.id     # in place, not stacked
    assert displayed() == 1

    menu.choose("#Top up (")
    dunstctl("context")
    wait(lambda: browser.opened(), "the browser", app=app)
    assert browser.opened() == [f"{sim.base_url}/billing"]


def test_burst_of_five_reauths_ends_as_one_summary(simulator, start_app, monitor) -> None:
    sim = simulator
    app = start_app(base_url=sim.base_url)
    live(sim, app, monitor)
    for slug in ("gmail", "slack", "openai", "github", "hubspot"):
        sim.set_connection_status(slug, "needs_reauth")
    wait(lambda: any("5 connections" in s for s in summaries(monitor)), "the summary", app=app)
    wait(lambda: displayed() == 1, "only the summary left on screen", app=app)
    assert len(popups(monitor)) <= 3
    assert summaries(monitor)[-1].startswith("5 connections need re-authorization")


def test_hostile_connect_url_is_never_opened(simulator, start_app, monitor, browser) -> None:
    sim = simulator
    app = start_app(base_url=sim.base_url)
    live(sim, app, monitor)
    slack = sim.connection("slack")
    sim.emit("connection.status_changed", {
        "slug": "slack", "connection_id": slack["id"], "status": "needs_reauth",
        "connect_url": "https://evil.example/connections/connect/slack?steal=1"})
    wait(lambda: len(monitor.answered()) == 1 and displayed() == 1, "the popup", app=app)
    dunstctl("action", "0")
    wait(lambda: browser.opened(), "the browser", app=app)
    assert browser.opened() == [expected_links(sim).reauthorize("slack", slack["id"])]
    assert "evil" not in browser.opened()[0]


@pytest.mark.slow
def test_demo_story_raises_exactly_its_four_popups_and_withdraws_them_as_it_heals(
        simulator, start_app, monitor) -> None:
    """The simulator's demo story (one round, 4x speed, ~12 s) against the real app.

    Expected: re-auth (slack), error (notion), balance low, then balance
    exhausted *replacing* the low one; the usage, the newcomer connecting and
    leaving, github's "changed" and the mid-frame drop raise nothing; as slack,
    notion and the balance heal, each popup is withdrawn.
    """
    sim = simulator
    app = start_app(base_url=sim.base_url)
    live(sim, app, monitor)
    sim.run_scenario("demo", speed=4, rounds=1).result(timeout=60)
    sim.set_connection_status("github", "needs_reauth")          # the marker
    wait(lambda: any("github" in s.lower() for s in summaries(monitor)), "the marker popup", app=app)

    shown = popups(monitor)
    assert len(shown) == 4, [(c.summary, c.body, c.replaces_id, c.id) for c in monitor.answered()]
    (reauth,), errors, (low, exhausted), (marker,) = shown.values()
    error = errors[0]
    assert "slack" in reauth.summary.lower() and "re-authoriz" in reauth.summary.lower()
    assert "notion" in error.summary.lower() and in_place_updates_only(errors)
    assert NOTION_ERROR in errors[-1].body                 # completed from the connections list
    assert "low" in low.summary.lower()
    assert exhausted.replaces_id == low.id and exhausted.urgency == 2
    assert "github" in marker.summary.lower()
    wait(lambda: {reauth.id, error.id, low.id} <= set(monitor.close_calls), "the healed popups withdrawn",
         app=app)
    assert displayed() == 1                                        # only the marker is left

