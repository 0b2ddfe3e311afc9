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
from vendo_tray.core.kinds import OPEN_DASHBOARD, REAUTHORIZE, TOP_UP, VendoEvent
from vendo_tray.core.state import Snapshot

log = logging.getLogger(__name__)

MANAGE = "Manage"


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
    """The buttons the details pane shows for ``event`` (its kind's ``buttons`` fact), most useful first."""
    buttons = event.kind.facts.buttons
    actions: list[LinkAction] = []
    if REAUTHORIZE in buttons and (event.slug or event.connection_id):
        conn = snapshot.connection(event.slug) if event.slug else None
        # Re-authorize only while it still needs it; not in the snapshot (yet): go by the event.
        still_needs = needs_action(conn) if conn is not None else event.needs_action
        connection_id = event.connection_id or (conn.id if conn is not None else None)
        if still_needs and event.slug:
            actions += _action(REAUTHORIZE, links.reauthorize(event.slug, connection_id))
        actions += _action(OPEN_DASHBOARD, links.manage(connection_id))
        return actions
    if TOP_UP in buttons:
        top_up_url = snapshot.balance.top_up_url if snapshot.balance is not None else None
        actions += _action(TOP_UP, links.top_up(top_up_url))
    actions += _action(OPEN_DASHBOARD, links.dashboard())
    return actions
