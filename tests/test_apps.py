"""core.apps: the list of Vendo apps, its rules, and each app's key in its own keyring entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from keyring.backends.SecretService import Keyring as SecretServiceKeyring

from keyring_helpers import files_containing
from vendo_tray.core.apps import (
    DEFAULT_APP_ID,
    ENV_APP_ID,
    AppError,
    AppKey,
    AppProfile,
    add_app,
    change_base_url,
    configured_apps,
    find_app,
    lookup_apps,
    move_app,
    remove_app,
    rename_app,
)
from vendo_tray.core.secrets import KeySource, KeyStore
from vendo_tray.core.settings import Settings, load_settings, save_settings

PROD_KEY = "vendo_sk_prod_4bQx9"
STAGING_KEY = "vendo_sk_staging_Zt81"
ENV_KEY = "vendo_sk_from_env_77"


def test_a_setup_that_never_edited_the_list_has_the_one_implied_app() -> None:
    settings = Settings(base_url="https://eu.vendo.run")
    (app,) = configured_apps(settings)
    assert (app.id, app.base_url, app.account) == (DEFAULT_APP_ID, "https://eu.vendo.run", "api-key")


def test_adding_keeps_the_implied_app_only_when_it_has_a_key() -> None:
    fresh, prod = add_app(Settings(), "prod", "https://vendo.run", keep_default=False)
    assert fresh.apps == (prod,)
    kept, staging = add_app(Settings(), "staging", "https://vendo.run/", keep_default=True)
    assert [a.id for a in kept.apps] == [DEFAULT_APP_ID, staging.id]
    assert staging.base_url == "https://vendo.run"  # kept without the trailing slash


def test_ids_are_slugs_made_unique_and_never_reserved() -> None:
    settings, a = add_app(Settings(), "Acme Prod!", "https://vendo.run", keep_default=False)
    settings, b = add_app(settings, "acme prod?", "https://vendo.run", keep_default=False)
    settings, c = add_app(settings, "Default", "https://vendo.run", keep_default=False)
    settings, d = add_app(settings, "Ünïcödé ✨", "https://vendo.run", keep_default=False)
    assert (a.id, b.id, c.id, d.id) == ("acme-prod", "acme-prod-2", "default-2", "unicode")
    assert a.account == "api-key:acme-prod"


@pytest.mark.parametrize("name, why", [
    ("", "needs a name"),
    ("\u202e\u200b \n", "needs a name"),  # nothing left once control and format characters go
    ("x" * 33, "at most 32"),
    ("PROD", "already an app called 'prod'"),
    ("env", "VENDO_API_KEY"),
])
def test_names_that_cannot_be_used_are_refused_with_a_reason(name: str, why: str) -> None:
    settings, _ = add_app(Settings(), "prod", "https://vendo.run", keep_default=False)
    with pytest.raises(AppError, match=why):
        add_app(settings, name, "https://vendo.run", keep_default=False)


def test_base_urls_follow_the_one_base_url_rule() -> None:
    with pytest.raises(AppError, match="https"):
        add_app(Settings(), "prod", "http://vendo.run", keep_default=False)
    settings, app = add_app(Settings(), "local", "http://127.0.0.1:8765", keep_default=False)
    with pytest.raises(AppError, match="user name or password"):
        change_base_url(settings, app.id, "https://me:pw@vendo.run")


def test_rename_keeps_the_id_and_so_the_keyring_entry() -> None:
    settings, app = add_app(Settings(), "prod", "https://vendo.run", keep_default=False)
    settings, other = add_app(settings, "staging", "https://vendo.run", keep_default=False)
    renamed = rename_app(settings, app.id, "production")
    assert renamed.apps[0] == AppProfile(app.id, "production", app.base_url)
    with pytest.raises(AppError, match="already"):
        rename_app(renamed, other.id, "Production")
    assert rename_app(renamed, app.id, "PRODUCTION").apps[0].name == "PRODUCTION"  # its own name, recased


def test_move_and_remove_and_find() -> None:
    settings = Settings()
    for name in ("a", "b", "c"):
        settings, _ = add_app(settings, name, "https://vendo.run", keep_default=False)
    assert [a.name for a in move_app(settings, "c", -1).apps] == ["a", "c", "b"]
    assert [a.name for a in move_app(settings, "a", -5).apps] == ["a", "b", "c"]  # kept within the list
    assert [a.name for a in remove_app(settings, "b").apps] == ["a", "c"]
    assert find_app(settings.apps, "B") == settings.apps[1]
    assert find_app(settings.apps, "nope") is None
    with pytest.raises(AppError, match="no app"):
        remove_app(settings, "nope")


def test_the_default_apps_url_change_is_also_written_where_older_versions_read_it() -> None:
    settings = change_base_url(Settings(), DEFAULT_APP_ID, "https://eu.vendo.run")
    assert settings.base_url == "https://eu.vendo.run"
    assert settings.apps[0].base_url == "https://eu.vendo.run"


def test_the_list_round_trips_through_the_settings_file_without_keys(tmp_path: Path) -> None:
    settings, _ = add_app(Settings(), "prod", "https://vendo.run", keep_default=False)
    settings, _ = add_app(settings, "staging", "http://localhost:9000", keep_default=False)
    save_settings(tmp_path, settings)
    assert load_settings(tmp_path).apps == settings.apps
    assert "vendo_sk" not in (tmp_path / "settings.json").read_text()


@pytest.mark.parametrize("apps", [
    "not a list",
    [{"id": "a", "name": "a"}],  # no base URL
    [{"id": "a", "name": "a", "base_url": "http://vendo.run"}],  # refused by the base-URL rule
    [{"id": "a", "name": "x", "base_url": "https://vendo.run"},
     {"id": "a", "name": "y", "base_url": "https://vendo.run"}],  # the same id twice
    [{"id": "a", "name": "x", "base_url": "https://vendo.run"},
     {"id": "b", "name": "X", "base_url": "https://vendo.run"}],  # the same name twice
])
def test_a_hand_edited_list_that_core_apps_would_refuse_falls_back_whole(
        tmp_path: Path, apps: object, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"apps": apps, "low_balance_dollars": 3}))
    loaded = load_settings(tmp_path)
    assert loaded.apps == ()
    assert loaded.low_balance_dollars == 3  # the rest of the file is kept
    assert "apps has an unusable value" in caplog.text


class _Keys(KeyStore):
    """A KeyStore whose keyring is a dict: for the rules of which app is watched, not for keyring I/O."""

    def __init__(self, stored: dict[str, str], env: dict[str, str]) -> None:
        super().__init__(env=env)
        self.stored = stored

    def read(self, account: str = "api-key") -> str | None:
        return self.stored.get(account)


def test_an_existing_single_key_setup_watches_exactly_what_it_did() -> None:
    watched = lookup_apps(Settings(), _Keys({"api-key": PROD_KEY}, {}), {})
    assert [(w.app.id, w.key, w.source) for w in watched] == [(DEFAULT_APP_ID, PROD_KEY, KeySource.KEYRING)]


def test_the_environments_key_alone_is_watched_as_before() -> None:
    env = {"VENDO_API_KEY": ENV_KEY}
    watched = lookup_apps(Settings(), _Keys({}, env), {"VENDO_BASE_URL": "http://127.0.0.1:9"})
    assert [(w.app.id, w.app.base_url, w.key, w.source) for w in watched] == [
        (ENV_APP_ID, "http://127.0.0.1:9", ENV_KEY, KeySource.ENV)]


def test_before_the_list_is_edited_the_environments_key_wins_and_the_keyring_stays_shut() -> None:
    class Shut(_Keys):
        def read(self, account: str = "api-key") -> str | None:
            raise AssertionError("the keyring was read")

    watched = lookup_apps(Settings(), Shut({"api-key": PROD_KEY}, {"VENDO_API_KEY": ENV_KEY}), {})
    assert [(w.app.id, w.key) for w in watched] == [(ENV_APP_ID, ENV_KEY)]


def test_the_environments_key_is_an_app_of_its_own_beside_the_stored_ones() -> None:
    settings, staging = add_app(Settings(), "staging", "https://vendo.run", keep_default=True)
    keys = _Keys({"api-key": PROD_KEY, staging.account: STAGING_KEY}, {"VENDO_API_KEY": ENV_KEY})
    watched = lookup_apps(settings, keys, {})
    assert [(w.app.id, w.key) for w in watched] == [
        (DEFAULT_APP_ID, PROD_KEY), (staging.id, STAGING_KEY), (ENV_APP_ID, ENV_KEY)]


def test_a_fresh_setup_watches_the_implied_app_without_a_key() -> None:
    (only,) = lookup_apps(Settings(), _Keys({}, {}), {})
    assert (only.app.id, only.key, only.source) == (DEFAULT_APP_ID, None, None)


@pytest.mark.desktop
def test_each_app_has_its_own_entry_in_a_real_secret_service(secret_service: None, isolated_home: Path) -> None:
    store = KeyStore(backend=SecretServiceKeyring(), env={})
    settings, prod = add_app(Settings(), "prod", "https://vendo.run", keep_default=False)
    settings, staging = add_app(settings, "staging", "https://vendo.run", keep_default=False)
    store.save(PROD_KEY, prod.account)
    store.save(STAGING_KEY, staging.account)
    watched = lookup_apps(settings, store, {})
    assert [(w.app.name, w.key, w.source) for w in watched] == [
        ("prod", PROD_KEY, KeySource.KEYRING), ("staging", STAGING_KEY, KeySource.KEYRING)]
    store.forget(staging.account)  # removing an app deletes only its entry
    assert store.read(staging.account) is None
    assert store.read(prod.account) == PROD_KEY
    assert store.read() is None  # the legacy entry was never touched
    assert files_containing(isolated_home, PROD_KEY) == []


def test_an_app_key_never_shows_the_key_in_its_repr() -> None:
    """Its repr lands in a log line, a traceback's locals or a test's failure message."""
    found = AppKey(AppProfile("prod", "prod", "https://api.vendo.run"), PROD_KEY, KeySource.KEYRING)
    assert PROD_KEY not in repr(found) and PROD_KEY not in str(found)
    assert "prod" in repr(found) and found == AppKey(found.app, PROD_KEY, KeySource.KEYRING)
