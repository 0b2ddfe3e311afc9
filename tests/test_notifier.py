"""ui.notifier against a real (test) notification server on a private session bus.

Every test asserts what actually crossed D-Bus — the exact Notify arguments,
replaces_id, CloseNotification — and simulates the user's clicks as the
server's ActionInvoked signal.  The notifier runs on a qasync loop, as in the
app.  Fallback tests take the bus away for real (nobody owns the name, the
server fails or hangs, no bus at all) and check the tray balloon path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from desktop_notifier.backends.dummy import DummyNotificationCenter
from PySide6.QtWidgets import QSystemTrayIcon

from notify_server import NotificationServer
from vendo_tray.core.notices import Action, ActionKind, Notice, Urgency
from vendo_tray.ui import notifier as notifier_mod
from vendo_tray.ui.notifier import MAX_TITLE, Mode, Notifier

ICON = Path(__file__).resolve().parent.parent / "resources" / "icons" / "vendo-tray.svg"

REAUTH = Action("Re-authorize", ActionKind.OPEN_URL,
                url="https://vendo.run/connections/connect/slack?app_key=k")
DETAILS = Action("Details", ActionKind.OPEN_WINDOW, event_key="ev-1")
TOP_UP = Action("Top up", ActionKind.OPEN_URL, url="https://vendo.run/billing")


def reauth_notice(slug: str = "slack", body: str = "Slack needs re-authorization.") -> Notice:
    return Notice(subject=f"connection:{slug}", title=f"{slug} needs re-authorization", body=body,
                  urgency=Urgency.CRITICAL, default=REAUTH, buttons=(REAUTH, DETAILS))


# ------------------------------------------------------------------ fixtures


@pytest.fixture
def server(session_bus: str) -> Iterator[NotificationServer]:
    with NotificationServer(session_bus) as srv:
        yield srv


class RecordingTray(QSystemTrayIcon):
    """A real tray icon that also remembers what it was asked to show."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, str, object]] = []

    def showMessage(self, title, body, icon, msecs=10000):  # noqa: N802 - Qt name
        self.messages.append((title, body, icon))
        super().showMessage(title, body, icon, msecs)


@pytest.fixture
def tray(qapp) -> Iterator[RecordingTray]:
    icon = RecordingTray()
    yield icon
    icon.deleteLater()


@pytest.fixture
def make(loop) -> Iterator[Callable[..., tuple[Notifier, list[Action]]]]:
    """Build notifiers that report clicks into a list; closed after the test."""
    made: list[Notifier] = []

    def build(**kwargs) -> tuple[Notifier, list[Action]]:
        clicked: list[Action] = []
        kwargs.setdefault("icon_path", ICON)
        kwargs.setdefault("on_action", clicked.append)
        n = Notifier(**kwargs)
        made.append(n)
        return n, clicked

    yield build
    for n in made:
        loop.run_until_complete(n.aclose())


def settle(loop: asyncio.AbstractEventLoop, notifier: Notifier) -> None:
    """Let the notifier finish its queue."""
    loop.run_until_complete(asyncio.wait_for(notifier.flush(), 15))


def spin_until(loop: asyncio.AbstractEventLoop, predicate: Callable[[], bool], timeout: float = 5) -> None:
    """Run the loop until ``predicate`` holds (signals arrive on the loop)."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    loop.run_until_complete(asyncio.wait_for(poll(), timeout))


# ------------------------------------------------------------------- native


def test_notify_carries_app_icon_text_buttons_and_urgency(loop, server, make) -> None:
    n, _ = make()
    n.show(reauth_notice())
    settle(loop, n)

    [call] = server.wait_calls(1)
    assert call.app_name == "Vendo Tray"
    assert call.app_icon == ICON.as_uri()
    assert call.summary == "slack needs re-authorization"
    assert call.body == "Slack needs re-authorization."
    assert ("default", "") in call.actions          # the body click
    assert call.labels == ["Re-authorize", "Details"]
    assert call.urgency == 2
    assert call.replaces_id == 0
    assert "sound-name" not in call.hints           # sounds are off unless asked for
    assert n.mode is Mode.NATIVE


def test_body_click_and_buttons_report_their_actions(loop, server, make) -> None:
    n, clicked = make()
    n.show(reauth_notice())
    settle(loop, n)
    [call] = server.wait_calls(1)
    server.click(call.id, "default")
    spin_until(loop, lambda: len(clicked) == 1)
    assert clicked == [REAUTH]

    n.show(reauth_notice("github"))
    settle(loop, n)
    second = server.wait_calls(2)[1]
    server.click(second.id, second.action_key("Details"))
    spin_until(loop, lambda: len(clicked) == 2)
    assert clicked[1] == DETAILS


def test_same_subject_replaces_in_place_other_subjects_stack(loop, server, make) -> None:
    n, _ = make()
    n.show(reauth_notice("slack"))
    settle(loop, n)
    n.show(Notice(subject="connection:slack", title="slack error", body="token expired",
                  default=DETAILS, buttons=(DETAILS,)))
    settle(loop, n)
    n.show(reauth_notice("github"))
    settle(loop, n)

    first, update, other = server.wait_calls(3)
    assert update.replaces_id == first.id and update.id == first.id
    assert update.summary == "slack error"
    assert other.replaces_id == 0 and other.id != first.id
    assert sorted(server.open) == sorted({first.id, other.id})


def test_after_a_click_the_next_notice_is_a_new_popup(loop, server, make) -> None:
    n, clicked = make()
    n.show(reauth_notice())
    settle(loop, n)
    [first] = server.wait_calls(1)
    server.click(first.id)
    spin_until(loop, lambda: bool(clicked))
    n.show(reauth_notice())
    settle(loop, n)
    assert server.wait_calls(2)[1].replaces_id == 0


def test_withdraw_closes_the_popup(loop, server, make) -> None:
    n, _ = make()
    n.show(reauth_notice())
    settle(loop, n)
    [call] = server.wait_calls(1)
    n.withdraw("connection:slack")
    settle(loop, n)
    assert server.close_calls == [call.id]
    assert server.open == {}


def test_withdraw_after_the_user_dismissed_it_is_harmless(loop, server, make) -> None:
    n, _ = make()
    n.show(reauth_notice())
    settle(loop, n)
    [call] = server.wait_calls(1)
    server.dismiss(call.id)
    spin_until(loop, lambda: not n._backend._platform_to_interface_notification_identifier)
    n.withdraw("connection:slack")
    n.withdraw("connection:never-shown")
    settle(loop, n)
    assert server.close_calls == []


def test_show_only_schedules_and_the_last_word_per_subject_wins(loop, server, make) -> None:
    n, _ = make()
    n.show(reauth_notice("slack"))
    n.withdraw("connection:slack")
    for i in range(3):
        n.show(Notice(subject="balance", title=f"Balance low {i}", body="…"))
    assert server.calls == []          # show() returned without talking to the server
    settle(loop, n)
    [call] = server.wait_calls(1)
    assert call.summary == "Balance low 2"
    assert list(server.open.values()) == [call]


def test_withdraw_wins_over_a_show_already_in_flight(loop, session_bus, make) -> None:
    with NotificationServer(session_bus, notify_delay=0.3) as slow:
        n, _ = make()
        n.show(reauth_notice())
        spin_until(loop, lambda: not n._pending and n._worker is not None)
        n.withdraw("connection:slack")   # the Notify call is on the wire now
        settle(loop, n)
        [call] = slow.wait_calls(1)
        assert slow.close_calls == [call.id]
        assert slow.open == {}


def test_text_is_plain_capped_and_escaped_for_markup_servers(loop, server, make) -> None:
    n, _ = make()
    hostile = '<a href="https://evil.example">click</a> & <b>bold</b>\x1b[31m\u202e'
    n.show(Notice(subject="connection:x", title="T\x00itle " + "x" * 500, body=hostile + "y" * 1000))
    settle(loop, n)
    [call] = server.wait_calls(1)
    assert len(call.summary) == MAX_TITLE and call.summary.endswith("…")
    assert "\x00" not in call.summary
    assert call.body.startswith("&lt;a href=\"https://evil.example\"&gt;click&lt;/a&gt; &amp; &lt;b&gt;bold&lt;/b&gt;[31m")
    assert "\x1b" not in call.body and "\u202e" not in call.body
    assert "<" not in call.body


def test_body_is_not_escaped_for_plain_text_servers(loop, session_bus, make) -> None:
    with NotificationServer(session_bus, capabilities=("actions", "body")) as plain:
        n, _ = make()
        n.show(Notice(subject="s", title="t", body="a < b & c"))
        settle(loop, n)
        assert plain.wait_calls(1)[0].body == "a < b & c"


def test_without_actions_the_body_click_does_the_most_important_thing(loop, session_bus, make) -> None:
    with NotificationServer(session_bus, capabilities=("body",)) as basic:
        n, clicked = make()
        n.show(Notice(subject="balance", title="Balance low", body="$0.40 left", buttons=(TOP_UP, DETAILS)))
        settle(loop, n)
        [call] = basic.wait_calls(1)
        assert call.labels == []
        basic.click(call.id, "default")
        spin_until(loop, lambda: bool(clicked))
        assert clicked == [TOP_UP]


def test_server_without_body_clicks_gets_the_default_as_a_button(loop, session_bus, make) -> None:
    with NotificationServer(session_bus, server_name="Xfce Notify Daemon") as xfce:
        n, clicked = make()
        n.show(Notice(subject="connection:x", title="x error", body="boom", default=DETAILS,
                      buttons=(REAUTH,)))
        settle(loop, n)
        [call] = xfce.wait_calls(1)
        assert "default" not in dict(call.actions)
        assert call.labels == ["Details", "Re-authorize"]
        xfce.click(call.id, call.action_key("Details"))
        spin_until(loop, lambda: bool(clicked))
        assert clicked == [DETAILS]


@pytest.mark.parametrize(("urgency", "wire"), [(Urgency.LOW, 0), (Urgency.NORMAL, 1), (Urgency.CRITICAL, 2)])
def test_urgency_reaches_the_server(loop, server, make, urgency, wire) -> None:
    n, _ = make()
    n.show(Notice(subject="s", title="t", body="b", urgency=urgency))
    settle(loop, n)
    assert server.wait_calls(1)[0].urgency == wire


def test_sound_only_when_the_notice_asks(loop, server, make) -> None:
    n, _ = make()
    n.show(Notice(subject="a", title="quiet", body="b"))
    n.show(Notice(subject="b", title="loud", body="b", sound=True))
    settle(loop, n)
    quiet, loud = server.wait_calls(2)
    assert "sound-name" not in quiet.hints
    assert loud.hints["sound-name"] == "message-new-instant"


def test_a_failing_click_handler_is_logged_not_fatal(loop, server, make, caplog) -> None:
    def broken(action: Action) -> None:
        raise RuntimeError("handler bug")

    n, _ = make(on_action=broken)
    n.show(reauth_notice())
    settle(loop, n)
    server.click(server.wait_calls(1)[0].id)
    spin_until(loop, lambda: "handler bug" in caplog.text)
    n.show(reauth_notice("github"))
    settle(loop, n)
    assert len(server.wait_calls(2)) == 2


# ----------------------------------------------------------------- fallback


def test_no_server_on_the_bus_falls_back_to_a_balloon(loop, session_bus, tray, make) -> None:
    n, clicked = make(tray=tray)
    n.show(reauth_notice(body="Slack <b>needs</b> you"))
    settle(loop, n)
    assert n.mode is Mode.FALLBACK
    [(title, body, icon)] = tray.messages
    assert title == "slack needs re-authorization"
    assert body == "Slack ‹b>needs‹/b> you"        # inert for Qt's rich-text sniffing
    assert icon == QSystemTrayIcon.MessageIcon.Critical
    tray.messageClicked.emit()
    assert clicked == [REAUTH]


def test_balloon_click_follows_the_last_message_and_withdraw_forgets_it(loop, session_bus, tray, make) -> None:
    n, clicked = make(tray=tray)
    n.show(reauth_notice())
    n.show(Notice(subject="balance", title="Balance low", body="$0.40", buttons=(TOP_UP,)))
    settle(loop, n)
    tray.messageClicked.emit()
    assert clicked == [TOP_UP]                      # no default: the first button
    n.withdraw("balance")
    settle(loop, n)
    tray.messageClicked.emit()
    assert clicked == [TOP_UP]                      # stale balloon: nothing happens


def test_failing_server_falls_back_then_native_is_retried(loop, session_bus, tray, make) -> None:
    now = [1000.0]
    with NotificationServer(session_bus, fail_notify=True) as failing:
        n, _ = make(tray=tray, clock=lambda: now[0])
        n.show(reauth_notice())
        settle(loop, n)
        assert n.mode is Mode.FALLBACK and len(tray.messages) == 1
        n.show(reauth_notice("github"))             # still within the back-off: no D-Bus call
        settle(loop, n)
        assert len(tray.messages) == 2
        failing.fail_notify = False
        now[0] += notifier_mod.NATIVE_RETRY_AFTER
        n.show(reauth_notice("gitlab"))
        settle(loop, n)
        assert n.mode is Mode.NATIVE
        assert [c.summary for c in failing.wait_calls(1)] == ["gitlab needs re-authorization"]
        assert len(tray.messages) == 2


def test_hanging_server_falls_back_without_blocking(loop, session_bus, tray, make, monkeypatch) -> None:
    monkeypatch.setattr(notifier_mod, "SEND_TIMEOUT", 0.3)
    with NotificationServer(session_bus, notify_delay=1.0):
        n, _ = make(tray=tray)
        n.show(reauth_notice())
        settle(loop, n)
        assert n.mode is Mode.FALLBACK and len(tray.messages) == 1


def test_no_session_bus_at_all_falls_back(loop, tray, make, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    n, clicked = make(tray=tray)
    n.show(reauth_notice())
    settle(loop, n)
    assert n.mode is Mode.FALLBACK and len(tray.messages) == 1


def test_dummy_backend_is_not_trusted(loop, tray, make) -> None:
    n, _ = make(tray=tray, backend=DummyNotificationCenter("Vendo Tray"))
    n.show(reauth_notice())
    settle(loop, n)
    assert n.mode is Mode.FALLBACK and len(tray.messages) == 1


def test_no_server_and_no_tray_logs_the_notice(loop, session_bus, make, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="vendo_tray.ui.notifier")
    n, _ = make()
    n.show(reauth_notice())
    settle(loop, n)
    assert n.mode is Mode.LOG_ONLY
    assert "slack needs re-authorization" in caplog.text


def test_closed_notifier_ignores_new_work(loop, server, make) -> None:
    n, _ = make()
    n.close()
    n.show(reauth_notice())
    settle(loop, n)
    assert server.calls == []


def test_a_stop_while_aclose_waits_for_its_worker_stops_it(loop, server, make) -> None:
    """aclose awaited its cancelled worker under ``except CancelledError: pass``, so a stop of
    aclose itself landing there (the app's 3 s bound on quitting) was swallowed and the
    popups' withdrawal and the bus disconnect went on past the bound."""
    n, _ = make()
    n.show(reauth_notice())  # the worker is on its way to the server

    async def scenario() -> asyncio.Future[None]:
        closing = asyncio.ensure_future(n.aclose())
        while n._worker is None or n._worker.done() or not n._closed:
            await asyncio.sleep(0)
        closing.cancel()
        await asyncio.wait({closing}, timeout=5)
        return closing

    closing = loop.run_until_complete(scenario())
    assert closing.done() and closing.cancelled(), "aclose carried on after it was stopped"
