"""Connections as subjects: what pops up when one needs re-authorization, errs, connects or drops.

One state per connection; a repeat of the same state says nothing (``status_changed`` and
its legacy alias without ids, a ``needs_reauth`` sent twice), a new bad state replaces the
visible notice in place, and a return to ``connected`` withdraws it.

needs re-authorization (topic ``needs_reauth``)
    ``connection.needs_reauth`` or a status of needs_reauth.  "{Name} needs
    re-authorization"; the button and a click open :meth:`Links.reauthorize`.
error (topic ``error``)
    ``connection.error`` or a status of error.  The message from the event, else the
    snapshot's ``error_message``; when neither has one yet, :meth:`ConnectionRules.on_snapshot`
    updates the notice in place once REST knows.  "Details" opens the window at the event.
connected / disconnected (topics of the same names, off by default)
    Connected heals the subject; disconnected stays silent in the quiet start.
other statuses (available, pending_setup, revoked)
    Shown in the window, not popped up.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from vendo_tray.core.kinds import ConnectionStatus, Kind, VendoEvent
from vendo_tray.core.notices import Action, ActionKind, Topic, Urgency
from vendo_tray.core.notify.context import Context, LastStates
from vendo_tray.core.notify.gate import MAX_HELD, Gate, Out
from vendo_tray.core.notify.text import Alert, display_name, notice, url_action
from vendo_tray.core.state import Snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """What was last said about one connection: its kind, the error message, or the bare status."""

    kind: Kind
    message: str | None = None
    status: str | None = None


class ConnectionRules:
    """Remembers each connection's state and words its alerts."""

    KINDS = frozenset({Kind.NEEDS_REAUTH, Kind.ERROR, Kind.CONNECTED, Kind.DISCONNECTED, Kind.STATUS})

    def __init__(self, ctx: Context, gate: Gate, quiet: Callable[[], bool]) -> None:
        self.ctx = ctx
        self.gate = gate
        self._quiet = quiet
        self._states: LastStates[ConnectionState] = LastStates()
        #: Error notices raised without a message (the live wire's status_changed carries
        #: none): subject -> the event, until a REST snapshot supplies error_message.
        self._awaiting_detail: OrderedDict[str, VendoEvent] = OrderedDict()

    def on_event(self, event: VendoEvent, snapshot: Snapshot | None) -> Out:
        subject, kind = event.subject, event.kind
        name = display_name(event, snapshot)
        if kind is Kind.ERROR:
            state = ConnectionState(kind, message=event.message or _snapshot_error(event, snapshot))
        elif kind is Kind.STATUS:
            state = ConnectionState(kind, status=event.status)
        else:
            state = ConnectionState(kind)
        if not self._states.transition(subject, state):
            log.debug("%s: still %s, nothing new to say", subject, kind.label.lower())
            return []
        self._awaiting_detail.pop(subject, None)
        if kind is Kind.ERROR and state.message is None and event.slug:
            self._awaiting_detail[subject] = event
            while len(self._awaiting_detail) > MAX_HELD:
                self._awaiting_detail.popitem(last=False)
        if kind is Kind.NEEDS_REAUTH:
            return self.gate.offer(self._reauth_alert(event, name))
        if kind is Kind.ERROR:
            return self.gate.offer(self._error_alert(event, name, state.message))
        if kind is Kind.CONNECTED:
            out = self.gate.heal(subject)
            if self.ctx.wants(Topic.CONNECTED):
                out += self.gate.offer(Alert(Topic.CONNECTED, notice(
                    subject, f"{name} connected", f"{name} is connected and working.",
                    Urgency.LOW, default=Action("Open", ActionKind.OPEN_WINDOW, event_key=event.key),
                    event_key=event.key), name))
            return out
        if kind is Kind.DISCONNECTED:
            if self._quiet():
                log.debug("%s disconnected during the quiet period: no popup", subject)
                return []
            return self.gate.offer(Alert(Topic.DISCONNECTED, notice(
                subject, f"{name} disconnected", f"{name} was disconnected from your Vendo app.",
                Urgency.NORMAL, default=Action("Open", ActionKind.OPEN_WINDOW, event_key=event.key),
                event_key=event.key), name))
        return []  # available / pending_setup / revoked: shown in the window, not popped up

    def on_snapshot(self, snapshot: Snapshot) -> Out:
        """A fresh REST snapshot: complete error notices the stream sent without a message.

        The live wire says only ``status: error``; the reason arrives with the
        next connections list (about a second later).  A notice still on
        screen is updated in place (same subject, no sound); one still held by
        a burst or a pause gets the message before it is ever shown.
        """
        out: Out = []
        for subject, event in list(self._awaiting_detail.items()):
            conn = snapshot.connection(event.slug)
            if conn is None:
                continue
            message = _snapshot_error(event, snapshot)
            if conn.status != ConnectionStatus.ERROR or not message:
                # A list fetched before the event, or the stream's own update of the snapshot:
                # neither knows the reason yet. Healing arrives as an event and ends the wait.
                continue
            del self._awaiting_detail[subject]
            if self._states.get(subject) != ConnectionState(Kind.ERROR):
                continue  # a newer state already replaced it
            self._states.set(subject, ConnectionState(Kind.ERROR, message=message))
            out += self.gate.improve(self._error_alert(event, display_name(event, snapshot), message))
        return out

    def _reauth_alert(self, event: VendoEvent, name: str) -> Alert:
        connect_url = event.data.get("connect_url") if isinstance(event.data, dict) else None
        url = self.ctx.links.reauthorize(event.slug, event.connection_id,
                                         connect_url if isinstance(connect_url, str) else None)
        action = url_action("Re-authorize", url, event.key)
        return Alert(Topic.NEEDS_REAUTH, notice(
            event.subject, f"{name} needs re-authorization",
            f"Your app can no longer use {name} until you re-authorize it.", Urgency.NORMAL,
            default=action, buttons=(action,), event_key=event.key), name)

    @staticmethod
    def _error_alert(event: VendoEvent, name: str, message: str | None) -> Alert:
        details = Action("Details", ActionKind.OPEN_WINDOW, event_key=event.key)
        return Alert(Topic.ERROR, notice(
            event.subject, f"{name}: connection error", message or f"{name} is in an error state.",
            Urgency.NORMAL, default=details, buttons=(details,), event_key=event.key), name)


def _snapshot_error(event: VendoEvent, snapshot: Snapshot | None) -> str | None:
    conn = snapshot.connection(event.slug) if snapshot is not None and event.slug else None
    message = conn.error_message if conn is not None else None
    return message if isinstance(message, str) and message.strip() else None
