"""client.safety: the one sanitiser, redactor, mask and base-URL rule, and that everyone uses them."""

from __future__ import annotations

import pytest

from vendo_tray.client._http import ApiKey, resolve_base_url
from vendo_tray.client.safety import MASK, base_url_problem, is_loopback, mask, plain, redact
from vendo_tray.core.apps import clean_base_url
from vendo_tray.core.links import Links, redact_url
from vendo_tray.core.logs import redact as log_redact

KEY = "vendo_sk_live_0123456789"


@pytest.mark.parametrize(("host", "loopback"), [
    ("localhost", True), ("LOCALHOST", True), ("localhost.localdomain", True), ("127.0.0.1", True),
    ("127.3.4.5", True), ("::1", True), ("[::1]", True),
    ("127.0.0.1.evil.com", False), ("vendo.run", False), ("10.0.0.1", False), ("", False),
])
def test_one_loopback_rule(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(("url", "ok"), [
    ("https://vendo.run", True), ("https://eu.vendo.run/prefix", True), ("http://127.0.0.1:8765", True),
    ("http://localhost.localdomain:9000", True), ("http://[::1]:8080", True),
    ("http://vendo.run", False), ("ftp://vendo.run", False), ("vendo.run", False),
    ("https://user:pw@vendo.run", False), ("https://vendo.run/?x=1", False), ("https://vendo.run:99999", False),
    ("https://bad host", False), ("https://vendo.run/\x00", False),
])
def test_the_settings_dialog_the_client_and_the_links_agree_on_a_base_url(url: str, ok: bool) -> None:
    assert (base_url_problem(url) is None) is ok
    for check in (clean_base_url, resolve_base_url):
        if ok:
            assert check(url)
        else:
            with pytest.raises(ValueError):
                check(url)
    if not ok:
        assert Links(url).origin is None


def test_the_client_refuses_to_send_the_key_over_plain_http_to_another_host() -> None:
    with pytest.raises(ValueError, match="https"):
        resolve_base_url("http://vendo.example")


def test_one_mask_in_logs_links_and_the_key_itself() -> None:
    assert mask(KEY) == "vendo_sk_" + MASK
    assert repr(ApiKey(KEY)) == f"ApiKey({mask(KEY)!r})"
    assert log_redact(f"key {KEY}") == f"key vendo_sk_{MASK}"
    assert redact_url(f"https://vendo.run/c?app_key={KEY}") == f"https://vendo.run/c?app_key={MASK}"
    assert redact("secret plain42 here", ["plain42"]) == f"secret {MASK} here"


def test_plain_drops_controls_and_bidi_collapses_space_and_caps() -> None:
    assert plain("a\u202e\x1b[2Jb\t\tc", 100) == "a[2Jb c"
    assert plain("x" * 10, 5) == "xxxx…"
    assert plain("one\n\ntwo  three\n", 100, keep_newlines=True) == "one\n\ntwo three"
    assert plain(None, 10) == ""


def test_the_transport_the_client_sub_apis_share_never_shows_the_key() -> None:
    from vendo_tray.client import AsyncVendo
    from vendo_tray.client._http import Transport

    client = AsyncVendo(api_key=KEY, base_url="https://vendo.run")
    shared = client.events._transport
    assert isinstance(shared, Transport) and shared is client.billing._transport is client.connections._transport
    assert KEY not in repr(shared) and mask(KEY) in repr(shared)
