"""The wording helpers every rule module uses: plain text, connection names, URL buttons.

Titles and bodies are plain text (``client.safety.plain``: control and format characters
dropped, whitespace collapsed), capped at :data:`TITLE_MAX` / :data:`BODY_MAX` characters.
They are deliberately NOT markup-escaped here: ``ui.notifier`` escapes for the back ends
that parse markup, and escaping twice would show "&amp;lt;" on the others.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vendo_tray.client.safety import plain
from vendo_tray.core.apps import DEFAULT_APP_ID, AppProfile
from vendo_tray.core.kinds import VendoEvent
from vendo_tray.core.notices import Action, ActionKind, Notice, Topic, Urgency, Withdraw
from vendo_tray.core.state import Snapshot

TITLE_MAX = 80
BODY_MAX = 300
NAME_MAX = 40


@dataclass(slots=True)
class Alert:
    """A would-be popup with what the summaries need to describe it."""

    topic: Topic
    notice: Notice
    name: str

    @property
    def subject(self) -> str:
        return self.notice.subject


def notice(subject: str, title: str, body: str, urgency: Urgency, *, default: Action | None = None,
           buttons: tuple[Action, ...] = (), event_key: str | None = None) -> Notice:
    """A notice whose title and body are plain and capped."""
    return Notice(subject=subject, title=plain(title, TITLE_MAX), body=plain(body, BODY_MAX),
                  urgency=urgency, default=default, buttons=buttons, event_key=event_key)


def display_name(event: VendoEvent, snapshot: Snapshot | None) -> str:
    """The connection's display name from the snapshot, else one made from its slug."""
    conn = snapshot.connection(event.slug) if snapshot is not None and event.slug else None
    name = (conn.display_name if conn is not None and isinstance(conn.display_name, str) else None) \
        or name_from_slug(event.slug) or event.connection_id or "A connection"
    return plain(name, NAME_MAX) or "A connection"


def name_from_slug(slug: str | None) -> str | None:
    """"google-calendar" → "Google Calendar": readable before the connections list arrives."""
    if not slug:
        return None
    words = slug.replace("_", " ").replace("-", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words) or slug


def url_action(label: str, url: str | None, event_key: str | None) -> Action:
    """Open ``url``; with no safe URL, the window at the event instead (never a dead button)."""
    if url is None:
        return Action(label, ActionKind.OPEN_WINDOW, event_key=event_key)
    return Action(label, ActionKind.OPEN_URL, url=url)


def for_app(item: Notice | Withdraw, app: AppProfile, *, named: bool) -> Notice | Withdraw:
    """``item`` as app ``app``'s: the one place a notice learns which app it is about.

    Its subject is the app's own (two apps' connection ids may collide; the default
    app keeps the subjects it always had), its actions carry the app (their links
    are checked against that app's host), and with ``named`` (several apps are
    watched) the title starts with the app's name: "prod · Slack needs re-authorization".
    """
    subject = item.subject if app.id == DEFAULT_APP_ID else f"{app.id}/{item.subject}"
    if isinstance(item, Withdraw):
        return replace(item, subject=subject)
    title = plain(f"{app.name} · {item.title}", TITLE_MAX) if named else item.title
    default = replace(item.default, app=app.id) if item.default is not None else None
    buttons = tuple(replace(button, app=app.id) for button in item.buttons)
    return replace(item, subject=subject, title=title, default=default, buttons=buttons)
