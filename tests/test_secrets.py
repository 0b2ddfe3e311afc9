"""core.secrets against a real Secret Service, a missing one, and a locked one."""

from __future__ import annotations

from pathlib import Path

import pytest
from keyring.backends import fail
from keyring.backends.SecretService import Keyring as SecretServiceKeyring

from keyring_helpers import files_containing, lock_login_keyring, secret_tool_lookup, unlock_login_keyring
from vendo_tray.core.secrets import (
    KeyLookup,
    KeyringLocked,
    KeyringUnavailable,
    KeySource,
    KeyStore,
    describe_source,
)

KEY = "vendo_sk_test_secret_7Hc2pLq9"


@pytest.fixture
def real_store(secret_service: None) -> KeyStore:
    return KeyStore(backend=SecretServiceKeyring(), env={})


@pytest.mark.desktop
def test_save_puts_the_key_in_the_secret_service_and_nowhere_on_disk(
        real_store: KeyStore, isolated_home: Path) -> None:
    real_store.save(KEY)
    assert secret_tool_lookup() == KEY
    assert real_store.read() == KEY
    assert real_store.lookup().source == KeySource.KEYRING
    # gnome-keyring's own file under the temp HOME is encrypted: no plain copy anywhere.
    assert (isolated_home / ".local" / "share" / "keyrings").is_dir()
    assert files_containing(isolated_home, KEY) == []


@pytest.mark.desktop
def test_forget_removes_it(real_store: KeyStore) -> None:
    real_store.save(KEY)
    real_store.forget()
    assert secret_tool_lookup() is None
    assert real_store.lookup().key is None
    real_store.forget()  # forgetting nothing is fine


@pytest.mark.desktop
def test_environment_wins_over_the_keyring(secret_service: None) -> None:
    store = KeyStore(backend=SecretServiceKeyring(), env={"VENDO_API_KEY": "vendo_sk_from_env"})
    store.save(KEY)
    found = store.lookup()
    assert (found.key, found.source) == ("vendo_sk_from_env", KeySource.ENV)
    assert "VENDO_API_KEY" in describe_source(found.source)


@pytest.mark.desktop
def test_locked_keyring_is_a_typed_error_and_retry_works_after_unlock(real_store: KeyStore) -> None:
    real_store.save(KEY)
    lock_login_keyring()
    with pytest.raises(KeyringLocked, match="[Uu]nlock"):
        real_store.read()
    with pytest.raises(KeyringLocked):
        real_store.save("vendo_sk_other")
    found = real_store.lookup()
    assert found.key is None and isinstance(found.problem, KeyringLocked)
    unlock_login_keyring()
    assert real_store.read() == KEY


@pytest.fixture
def child_store(secret_service: None) -> KeyStore:
    """As the tray reads at start on Linux: in a child process (core.secrets.serve_read)."""
    return KeyStore(env={}, read_in_child=True)


@pytest.mark.desktop
def test_a_key_read_in_a_child_is_the_stored_one_and_the_key_reaches_no_log(
        child_store: KeyStore, real_store: KeyStore, caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import sys

    caplog.set_level(logging.DEBUG)
    assert child_store.read() is None  # nothing stored yet
    real_store.save(KEY)
    real_store.save("vendo_sk_second_app_key", account="api-key:staging")
    keyring_loaded = {m for m in sys.modules if m.startswith("keyring")}
    assert child_store.read() == KEY
    assert child_store.read("api-key:staging") == "vendo_sk_second_app_key"
    found = child_store.stored_lookup()
    assert (found.key, found.source) == (KEY, KeySource.KEYRING)
    assert {m for m in sys.modules if m.startswith("keyring")} == keyring_loaded
    assert KEY not in caplog.text


@pytest.mark.desktop
def test_a_locked_keyring_is_the_same_typed_error_from_the_child(
        child_store: KeyStore, real_store: KeyStore) -> None:
    real_store.save(KEY)
    lock_login_keyring()
    with pytest.raises(KeyringLocked) as from_child:
        child_store.read()
    with pytest.raises(KeyringLocked) as in_process:
        real_store.read()
    assert str(from_child.value) == str(in_process.value)
    found = child_store.stored_lookup()
    assert found.key is None and isinstance(found.problem, KeyringLocked)
    unlock_login_keyring()
    assert child_store.read() == KEY


@pytest.mark.desktop
def test_without_a_secret_service_the_child_says_unavailable(session_bus: str) -> None:
    with pytest.raises(KeyringUnavailable, match="No system keyring"):
        KeyStore(env={}, read_in_child=True).read()


def test_a_reader_that_answers_nonsense_is_unavailable_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    import sys

    store = KeyStore(env={}, read_in_child=True)
    store._reader = [sys.executable, "-c", "print('{not json')"]  # a broken or foreign program
    with pytest.raises(KeyringUnavailable, match="reader failed"):
        store.read()
    store._reader = ["/nonexistent/vendo-tray"]
    with pytest.raises(KeyringUnavailable, match="did not start"):
        store.read()
    assert "keyring reader" in caplog.text


def test_no_backend_is_a_typed_error_with_an_explanation() -> None:
    store = KeyStore(backend=fail.Keyring(), env={})
    with pytest.raises(KeyringUnavailable, match="No system keyring"):
        store.save(KEY)
    with pytest.raises(KeyringUnavailable):
        store.read()
    found = store.lookup()
    assert found.key is None and isinstance(found.problem, KeyringUnavailable)
    assert KEY not in str(found.problem)


def test_no_backend_keeps_the_key_for_the_session_only(isolated_home: Path) -> None:
    store = KeyStore(backend=fail.Keyring(), env={})
    store.keep_for_session(KEY)
    found = store.lookup()
    assert (found.key, found.source) == (KEY, KeySource.SESSION)
    assert "session only" in describe_source(found.source)
    assert files_containing(isolated_home, KEY) == []
    # A fresh process (a new store) has nothing: it really was memory only.
    assert KeyStore(backend=fail.Keyring(), env={}).lookup().key is None


@pytest.mark.desktop
def test_no_secret_service_on_the_bus_means_unavailable(session_bus: str) -> None:
    """The private bus has no keyring daemon unless a test starts one."""
    from keyring.backends.SecretService import Keyring

    try:
        Keyring.priority  # noqa: B018 - raises when the service is absent
    except RuntimeError:
        backend = fail.Keyring()
    else:
        pytest.fail("a Secret Service is on the bus although no test started one")
    with pytest.raises(KeyringUnavailable):
        KeyStore(backend=backend, env={}).save(KEY)


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError):
        KeyStore(backend=fail.Keyring(), env={}).save("   ")


LOOKUP = r"""
import sys
from vendo_tray.core.secrets import KeyStore
store = KeyStore(env={})
found = store.lookup()
print(type(store.backend).__module__, type(found.problem).__name__, found.key)
others = ("kwallet", "libsecret", "macOS", "Windows", "chainer")
print(sorted(m for m in others if "keyring.backends." + m in sys.modules))
"""


def _lookup_in_fresh_process(**env: str) -> list[str]:
    """keyring caches its choice per process: each case gets a new one."""
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", LOOKUP], env={**os.environ, **env},
                            capture_output=True, text=True, timeout=30, check=True)
    return result.stdout.splitlines()


@pytest.mark.desktop
def test_the_platforms_back_end_is_picked_without_searching_the_others(real_store: KeyStore) -> None:
    real_store.save(KEY)
    picked, loaded = _lookup_in_fresh_process()
    assert picked == f"keyring.backends.SecretService NoneType {KEY}"
    assert loaded == "[]", "keyring's search would import and probe these too"


@pytest.mark.desktop
def test_without_a_secret_service_the_search_finds_none_and_says_so(session_bus: str) -> None:
    picked, _ = _lookup_in_fresh_process()
    assert picked == "keyring.backends.fail KeyringUnavailable None"


@pytest.mark.desktop
def test_a_back_end_the_user_configured_for_keyring_wins(secret_service: None) -> None:
    picked, _ = _lookup_in_fresh_process(PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    assert picked == "keyring.backends.fail KeyringUnavailable None"


def test_every_key_source_is_described_in_its_own_words() -> None:


    sentences = {describe_source(source) for source in KeySource}
    assert len(sentences) == len(KeySource) and describe_source(None) not in sentences
    assert KeyStore(env={"VENDO_API_KEY": "vendo_sk_env"}).lookup().source is KeySource.ENV


def test_a_bounded_keyring_call_gives_up_on_a_call_that_never_answers() -> None:
    """A terminal command must not hang on an unlock prompt nobody sees."""
    import threading

    from vendo_tray.core.secrets import KeyringTimeout, KeyringUnavailable, bounded

    never = threading.Event()
    with pytest.raises(KeyringTimeout, match="did not answer within 0.2 s"):
        bounded(lambda: never.wait(30), timeout=0.2)
    never.set()
    assert bounded(lambda: "answer", timeout=5) == "answer"
    with pytest.raises(KeyringUnavailable):  # the call's own failure, raised in the caller
        bounded(lambda: KeyStore(backend=fail.Keyring(), env={}).read(), timeout=5)


def test_a_key_lookup_never_shows_the_key_in_its_repr() -> None:
    found = KeyLookup(KEY, KeySource.KEYRING)
    assert KEY not in repr(found) and KEY not in str(found)
    assert "keyring" in repr(found).lower()
