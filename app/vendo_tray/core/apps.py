"""The Vendo apps the tray watches: each a name the user chose, a base URL, and a key.

People who run apps on Vendo rarely have one (dev, staging, production; one per
client), so the tray watches a list.  This module is the one place for what an
app *is* and for the rules of the list; the engine runs one monitor per app,
the settings dialog and ``vendo-tray apps`` edit the list through these
functions, and nobody else decides names, ids or keyring entries.

* An app's key lives in the OS keyring under its own entry (:attr:`AppProfile.account`),
  never in a file.  The list itself (id, name, base URL, order) is part of the
  settings file.
* An **existing single-key setup keeps working unchanged**: while the user has never
  edited the list, ``Settings.apps`` is empty and the one implied app is
  :data:`DEFAULT_APP_ID`, whose key is the keyring entry the tray always used
  (``api-key``) and whose base URL is ``Settings.base_url``.  The first edit writes
  the list out, the implied app included when it has a key.
* ``VENDO_API_KEY`` (with ``VENDO_BASE_URL``) shows as an app of its own
  (:data:`ENV_APP_ID`), never saved; when it is set and the list was never edited,
  only the environment's app is watched and the keyring is not read, as before apps existed.
* An app's id never changes (a rename keeps its keyring entry, its history and its
  mutes); ids are short slugs made from the first name, made unique.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from vendo_tray.client.safety import base_url_problem, plain

if TYPE_CHECKING:
    from vendo_tray.core.secrets import KeySource, KeyStore, SecretsError
    from vendo_tray.core.settings import Settings

#: The app a pre-apps setup had: keyring account ``api-key``, ``Settings.base_url``.
DEFAULT_APP_ID = "default"
DEFAULT_APP_NAME = "Vendo"
#: The app whose key comes from ``VENDO_API_KEY``: shown, never saved.
ENV_APP_ID = "env"
ENV_APP_NAME = "env"
#: The keyring account of the default app (what the tray used before apps); others add ``:<id>``.
LEGACY_ACCOUNT = "api-key"
BASE_URL_ENV = "VENDO_BASE_URL"

NAME_LIMIT = 32
_ID_LIMIT = 24
_SLUG = re.compile(r"[^a-z0-9]+")
#: Ids the code gives a meaning of its own: a user's app never gets one.
_RESERVED_IDS = frozenset({DEFAULT_APP_ID, ENV_APP_ID})


class AppError(ValueError):
    """A change to the list that cannot be made; the message is one sentence for the user."""


@dataclass(frozen=True, slots=True)
class AppProfile:
    """One Vendo app as the user named it.  Never holds the key."""

    id: str
    name: str
    base_url: str

    @property
    def account(self) -> str:
        """This app's keyring entry (under the service ``vendo-tray``)."""
        return LEGACY_ACCOUNT if self.id == DEFAULT_APP_ID else f"{LEGACY_ACCOUNT}:{self.id}"

    @property
    def from_environment(self) -> bool:
        return self.id == ENV_APP_ID


@dataclass(frozen=True, slots=True)
class AppKey:
    """An app with the key to use for it now, where that came from, and why not if missing."""

    app: AppProfile
    key: str | None = field(repr=False)  # a repr lands in logs and tracebacks
    source: KeySource | None
    problem: SecretsError | None = None


def clean_name(text: str) -> str:
    """A name as it is kept and shown: sanitised, 1 to :data:`NAME_LIMIT` characters; or AppError."""
    name = plain(text, NAME_LIMIT + 1)
    if not name:
        raise AppError("An app needs a name")
    if len(name) > NAME_LIMIT:
        raise AppError(f"An app's name is at most {NAME_LIMIT} characters")
    return name


def clean_base_url(text: str) -> str:
    """The base URL as it is kept (no trailing slash), or AppError with the reason."""
    url = text.strip().rstrip("/")
    problem = base_url_problem(url)
    if problem is not None:
        raise AppError(problem)
    return url


def configured_apps(settings: Settings) -> tuple[AppProfile, ...]:
    """The saved list, or the one implied app of a setup that never edited it."""
    if settings.apps:
        return settings.apps
    return (AppProfile(DEFAULT_APP_ID, DEFAULT_APP_NAME, settings.base_url),)


def find_app(apps: Iterable[AppProfile], name_or_id: str) -> AppProfile | None:
    """The app called ``name_or_id`` (names compare case-insensitively), else the one with that id."""
    wanted = name_or_id.strip().casefold()
    apps = tuple(apps)
    for app in apps:
        if app.name.casefold() == wanted:
            return app
    for app in apps:
        if app.id == name_or_id.strip():
            return app
    return None


def add_app(settings: Settings, name: str, base_url: str, *,
            keep_default: bool) -> tuple[Settings, AppProfile]:
    """Settings with a new app at the end of the list, and that app.

    ``keep_default``: whether the implied app of a pre-apps setup has a key (the
    caller read the keyring); it is written into the list then, else dropped, so
    a first ``apps add`` on a fresh machine does not leave a keyless app behind.
    """
    apps = list(_materialized(settings, keep_default=keep_default))
    name = clean_name(name)
    _check_unique(apps, name, None)
    app = AppProfile(_new_id(name, {a.id for a in apps}), name, clean_base_url(base_url))
    return settings.with_changes(apps=(*apps, app)), app


def rename_app(settings: Settings, app_id: str, name: str) -> Settings:
    """Settings with app ``app_id`` renamed (its id, key and history stay)."""
    apps = list(_materialized(settings, keep_default=True))
    name = clean_name(name)
    index = _index(apps, app_id)
    _check_unique(apps, name, app_id)
    apps[index] = replace(apps[index], name=name)
    return settings.with_changes(apps=tuple(apps))


def change_base_url(settings: Settings, app_id: str, base_url: str) -> Settings:
    """Settings with app ``app_id`` pointed at ``base_url`` (checked by the one base-URL rule)."""
    apps = list(_materialized(settings, keep_default=True))
    index = _index(apps, app_id)
    apps[index] = replace(apps[index], base_url=clean_base_url(base_url))
    changes: dict[str, object] = {"apps": tuple(apps)}
    if app_id == DEFAULT_APP_ID:  # an older version reading this file still finds its URL
        changes["base_url"] = apps[index].base_url
    return settings.with_changes(**changes)


def remove_app(settings: Settings, app_id: str) -> Settings:
    """Settings without app ``app_id`` (the caller deletes its keyring entry)."""
    apps = list(_materialized(settings, keep_default=True))
    del apps[_index(apps, app_id)]
    return settings.with_changes(apps=tuple(apps))


def move_app(settings: Settings, app_id: str, offset: int) -> Settings:
    """Settings with app ``app_id`` moved ``offset`` places (negative: up), kept within the list."""
    apps = list(_materialized(settings, keep_default=True))
    index = _index(apps, app_id)
    target = min(max(index + offset, 0), len(apps) - 1)
    apps.insert(target, apps.pop(index))
    return settings.with_changes(apps=tuple(apps))


def environment_app(environ: Mapping[str, str], default_base_url: str) -> AppProfile:
    """The app of ``VENDO_API_KEY``: its base URL is ``VENDO_BASE_URL`` when set."""
    base_url = (environ.get(BASE_URL_ENV) or "").strip() or default_base_url
    return AppProfile(ENV_APP_ID, ENV_APP_NAME, base_url)


def watched_apps(settings: Settings, stored: Mapping[str, AppKey], env: AppKey | None,
                 environ: Mapping[str, str]) -> list[AppKey]:
    """What the engine watches, in the list's order: one entry per app.

    ``stored``: each configured app's key lookup, by id (the caller read the
    keyring off the UI thread).  ``env``: the environment's app, if its key is set.
    A setup that never edited the list and has no key of its own, but a key in the
    environment, watches just the environment's app, as before apps existed; and
    there ``VENDO_BASE_URL`` also moves the implied app, as it always did.
    """
    result: list[AppKey] = []
    implied = not settings.apps
    for app in configured_apps(settings):
        found = stored.get(app.id) or _keyless(app)
        if implied:
            if env is not None and found.key is None:
                continue
            url = (environ.get(BASE_URL_ENV) or "").strip()
            if url:
                found = replace(found, app=replace(app, base_url=url))
        result.append(found)
    if env is not None:
        result.append(env)
    return result


def lookup_apps(settings: Settings, keystore: KeyStore, environ: Mapping[str, str]) -> list[AppKey]:
    """Every watched app with its key: blocking (D-Bus, maybe an unlock prompt), so off the UI thread.

    ``environ`` gives ``VENDO_BASE_URL``; the key of the environment is the
    keystore's (``claim_env_key`` took it out of the process environment).
    """
    from vendo_tray.core.secrets import KeySource

    env_key = keystore.env_key()
    env = (AppKey(environment_app(environ, settings.base_url), env_key, KeySource.ENV)
           if env_key else None)
    if env is not None and not settings.apps:
        # As before apps: the environment's key alone, and the keyring is not even opened
        # (no D-Bus, no unlock prompt for a key that would not be used).
        return watched_apps(settings, {}, env, environ)
    stored: dict[str, AppKey] = {}
    for app in configured_apps(settings):
        found = keystore.stored_lookup(app.account)
        stored[app.id] = AppKey(app, found.key, found.source, found.problem)
    return watched_apps(settings, stored, env, environ)


def _keyless(app: AppProfile) -> AppKey:
    return AppKey(app, None, None)


def _materialized(settings: Settings, *, keep_default: bool) -> tuple[AppProfile, ...]:
    if settings.apps:
        return settings.apps
    return configured_apps(settings) if keep_default else ()


def _check_unique(apps: list[AppProfile], name: str, renaming: str | None) -> None:
    """Names pick apps on the command line and in notices: no two alike (ignoring case)."""
    if name.casefold() == ENV_APP_NAME:
        raise AppError(f"{ENV_APP_NAME!r} is the name of the app from {_env_var()}; choose another")
    for other in apps:
        if other.id != renaming and other.name.casefold() == name.casefold():
            raise AppError(f"There is already an app called {other.name!r}")


def _index(apps: list[AppProfile], app_id: str) -> int:
    for index, app in enumerate(apps):
        if app.id == app_id:
            return index
    raise AppError(f"There is no app {app_id!r}")


def _new_id(name: str, taken: set[str]) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = _SLUG.sub("-", ascii_name.lower()).strip("-")[:_ID_LIMIT].strip("-") or "app"
    candidate, n = base, 2
    while candidate in taken or candidate in _RESERVED_IDS:
        candidate = f"{base}-{n}"
        n += 1
    return candidate


def _env_var() -> str:
    from vendo_tray.core.secrets import ENV_VAR

    return ENV_VAR
