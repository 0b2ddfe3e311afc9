"""Which buttons an event or a connection offers, and where each one leads.

Decided here, Qt-free, so the window only draws buttons: a needs_reauth
event offers "Re-authorize" only while the connection still needs it (an old
event for a connection that is fine again offers "Open in dashboard"), a
balance event offers "Top up", and every URL comes from :class:`Links`, which
knows the base URL and whether the key may go into a link.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from vendo_tray.client import Connection
from vendo_tray.core.display import needs_action
from vendo_tray.core.kinds import ACTION_STATUSES, Kind, VendoEvent
from vendo_tray.core.state import Snapshot

log = logging.getLogger(__name__)

REAUTHORIZE = "Re-authorize"
MANAGE = "Manage"
OPEN_DASHBOARD = "Open in dashboard"
TOP_UP = "Top up"

_TOP_UP_KINDS = frozenset({Kind.BALANCE, Kind.BALANCE_LOW, Kind.BALANCE_EXHAUSTED, Kind.USAGE})


class LinkSource(Protocol):
    """The part of ``core.links.Links`` this module needs (None: no safe link exists)."""

    def reauthorize(self, slug: str | None, connection_id: str | None = None,
                    connect_url: str | None = None) -> str | None: ...

    def manage(self, connection_id: str | None) -> str | None: ...

    def top_up(self, url_from_balance: str | None = None) -> str | None: ...

    def dashboard(self) -> str | None: ...

    def check(self, url: object) -> str | None: ...


@dataclass(frozen=True, slots=True)
class LinkAction:
    """A button: its label and the (already allowlisted) URL it asks the app to open."""

    label: str
    url: str


def _action(label: str, url: str | None) -> list[LinkAction]:
    return [LinkAction(label, url)] if url else []


def connection_action(connection: Connection, links: LinkSource) -> LinkAction | None:
    """The one action of a Connections-tab row: re-authorize if it needs it, else manage.

    None only when no safe link exists (an unusable base URL).
    """
    if needs_action(connection):
        url = links.reauthorize(connection.slug, connection.id)
        label = REAUTHORIZE
    else:
        url = links.manage(connection.id)
        label = MANAGE
    return LinkAction(label, url) if url else None


def event_actions(event: VendoEvent, snapshot: Snapshot, links: LinkSource) -> list[LinkAction]:
    """The buttons the details pane shows for ``event``, most useful first."""
    group = event.kind.group
    actions: list[LinkAction] = []
    if group == "connection" and (event.slug or event.connection_id):
        conn = snapshot.connection(event.slug) if event.slug else None
        if conn is not None:
            still_needs = needs_action(conn)
        else:  # not in the snapshot (yet): go by what the event said
            still_needs = event.kind in (Kind.NEEDS_REAUTH, Kind.ERROR) or event.status in ACTION_STATUSES
        connection_id = event.connection_id or (conn.id if conn is not None else None)
        if still_needs and event.slug:
            actions += _action(REAUTHORIZE, links.reauthorize(event.slug, connection_id))
        actions += _action(OPEN_DASHBOARD, links.manage(connection_id))
        return actions
    if event.kind in _TOP_UP_KINDS:
        top_up_url = snapshot.balance.top_up_url if snapshot.balance is not None else None
        actions += _action(TOP_UP, links.top_up(top_up_url))
    actions += _action(OPEN_DASHBOARD, links.dashboard())
    return actions
