"""core.notify.text.for_app: a notice names its app only when several are watched, and stays that app's."""

from __future__ import annotations

from dataclasses import replace

from vendo_tray.core.apps import DEFAULT_APP_ID, AppProfile
from vendo_tray.core.notices import Action, ActionKind, Notice, Urgency, Withdraw
from vendo_tray.core.notify.text import TITLE_MAX, for_app

PROD = AppProfile("prod", "prod", "https://api.vendo.run")
DEFAULT = AppProfile(DEFAULT_APP_ID, "Vendo", "https://api.vendo.run")
REAUTH = Notice(subject="connection:slack", title="Slack needs re-authorization", body="Reconnect it.",
                urgency=Urgency.CRITICAL,
                default=Action("Re-authorize", ActionKind.OPEN_URL, url="https://api.vendo.run/x"),
                buttons=(Action("Open in dashboard", ActionKind.OPEN_URL, url="https://api.vendo.run/d"),))


def test_with_several_apps_the_title_names_the_app() -> None:
    named = for_app(REAUTH, PROD, named=True)
    assert named.title == "prod · Slack needs re-authorization"
    assert named.body == REAUTH.body


def test_with_one_app_the_notice_reads_as_it_always_did() -> None:
    assert for_app(REAUTH, PROD, named=False).title == REAUTH.title
    plain = for_app(REAUTH, DEFAULT, named=False)
    assert (plain.subject, plain.title, plain.body) == (REAUTH.subject, REAUTH.title, REAUTH.body)


def test_subjects_are_each_apps_own_and_withdrawals_match_them() -> None:
    staging = AppProfile("staging", "staging", "https://api.vendo.run")
    assert for_app(REAUTH, PROD, named=True).subject != for_app(REAUTH, staging, named=True).subject
    assert for_app(Withdraw("connection:slack"), PROD, named=True).subject == \
        for_app(REAUTH, PROD, named=False).subject
    assert for_app(REAUTH, DEFAULT, named=True).subject == "connection:slack"  # as before apps


def test_every_action_carries_its_app_and_a_long_title_stays_capped() -> None:
    long = AppProfile("x", "n" * 32, "https://api.vendo.run")
    named = for_app(replace(REAUTH, title="t" * TITLE_MAX), long, named=True)
    assert len(named.title) <= TITLE_MAX and named.title.startswith("n" * 32 + " · ")
    assert {a.app for a in (named.default, *named.buttons)} == {"x"}
