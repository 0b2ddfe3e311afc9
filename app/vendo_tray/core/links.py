"""The links a user can open from Vendo Tray, and the one allowlist they all pass.

WHY one gate: a notification button opens a URL in the user's browser, and
some of those URLs come from the server (``connect_url`` in an error body, a
balance's ``top_up_url``).  A compromised proxy or server must not be able to
make a click open ``javascript:``, a local file, or a phishing page that looks
like Vendo.  So every URL the app opens, whatever built it, goes through
:meth:`Links.check`, which accepts exactly one origin: the configured Vendo
host (same host, same port), over https — plain http only when that host is a
loopback simulator.

The check is deliberately strict rather than clever: anything a browser and
``urllib`` might read differently (backslashes, whitespace, control or
non-ASCII characters, ``user@host``, percent-encoded hosts or slashes, dot
segments) is refused instead of normalized.  A refused link is logged as one
warning line with any ``app_key`` masked.

The re-authorize link is the SDK's connect URL (what Vendo's own Reconnect
button opens), which carries the API key in ``app_key=``; "keep my key out of
links" swaps it for the dashboard page of that connection.

Stdlib only, Qt-free: the UI opens the result with QDesktopServices.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from vendo_tray.client.safety import is_loopback, redact

log = logging.getLogger(__name__)

#: Longer URLs are refused outright (browsers cap around 2-64 KB; ours are short).
MAX_URL = 4096
#: How much of a refused URL a log line shows.
MAX_LOGGED = 200
DEFAULT_PORTS = {"https": 443, "http": 80}
#: Query parameters that name where the page sends the user next: when present,
#: they must point at the Vendo host too (no open redirect through a connect page).
REDIRECT_PARAMS = frozenset({"return_to", "returnto", "redirect", "redirect_to", "redirect_url",
                             "redirect_uri", "next", "continue", "url", "target"})

_PORT = re.compile(r"[0-9]{1,5}")
#: Percent-escapes that change how a path is read: "/", "\", "." and control bytes.
_ENCODED_PATH_TRICK = re.compile(r"(?i)%(?:2f|5c|2e|[01][0-9a-f]|7f)")


def redact_url(url: object, secrets: Iterable[str | None] = ()) -> str:
    """``url`` made safe for a log line: ``app_key`` values and anything shaped
    like a Vendo key masked, control characters escaped, length capped."""
    text = redact(url if isinstance(url, str) else repr(url), tuple(secrets))
    if len(text) > MAX_LOGGED:
        text = text[:MAX_LOGGED] + "…"
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def has_app_key(url: str) -> bool:
    """Whether ``url`` carries an ``app_key`` query parameter."""
    query = urlsplit(url).query
    return any(name.lower() == "app_key" for name, _ in parse_qsl(query, keep_blank_values=True))


@dataclass(frozen=True, slots=True)
class Origin:
    """The one origin links may point at, parsed from the configured base URL."""

    scheme: str
    host: str            # lower case, IPv6 without brackets
    port: int            # effective port (443/80 when the URL names none)
    path: str            # base path prefix without a trailing "/", usually ""
    loopback: bool

    @property
    def root(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{host}{'' if default else f':{self.port}'}{self.path}"


def parse_origin(base_url: str) -> Origin | None:
    """The origin of a configured base URL, or None when it cannot be trusted.

    Acceptable: ``https://host[:port][/prefix]``, or ``http://`` on a loopback
    host (the simulator).  No credentials, query or fragment.
    """
    if not isinstance(base_url, str) or _plain_problem(base_url):
        return None
    try:
        parts = urlsplit(base_url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or parts.query or parts.fragment:
        return None
    hostport = _host_and_port(parts.netloc)
    if hostport is None:
        return None
    host, port = hostport
    loopback = is_loopback(host)
    if scheme == "http" and not loopback:
        return None
    path = parts.path.rstrip("/")
    if _path_problem(path or "/"):
        return None
    return Origin(scheme, host, port if port is not None else DEFAULT_PORTS[scheme], path, loopback)


class Links:
    """Builds the URLs the app opens and checks every URL before it is opened.

    ``api_key_provider`` is asked at the moment a link is built (the key lives
    in the keyring and may change); it may return None or raise, and then the
    key-free dashboard link is used.  Methods return None only when no safe
    link exists at all (an unusable base URL).
    """

    def __init__(self, base_url: str, api_key_provider: Callable[[], str | None] = lambda: None,
                 keep_key_out: bool = False) -> None:
        self.base_url = base_url
        self.keep_key_out = keep_key_out
        self._api_key_provider = api_key_provider
        self.origin = parse_origin(base_url)
        if self.origin is None:
            log.warning("base URL %s is not https on a host (or http on loopback): "
                        "no link will be opened", redact_url(base_url))

    # ------------------------------------------------------------ the gate
    def check(self, url: object) -> str | None:
        """``url`` unchanged when it may be opened, else None (and one warning line)."""
        reason = self.refusal(url)
        if reason is None:
            assert isinstance(url, str)
            return url
        log.warning("refused to open link %s: %s", self.redact(url), reason)
        return None

    def allowed(self, url: object) -> bool:
        """:meth:`check` without the log line (for tests and UI hints)."""
        return self.refusal(url) is None

    def refusal(self, url: object, *, _nested: bool = False) -> str | None:
        """Why ``url`` may not be opened, or None when it may."""
        origin = self.origin
        if origin is None:
            return "no usable Vendo base URL is configured"
        if not isinstance(url, str):
            return "not a string"
        problem = _plain_problem(url)
        if problem:
            return problem
        try:
            parts = urlsplit(url)
        except ValueError:
            return "malformed URL"
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            return f"scheme {scheme or '(none)'!r} is not allowed"
        if scheme == "http" and not origin.loopback:
            return "plain http is allowed only for a loopback simulator"
        if "@" in parts.netloc:
            return "credentials (user@) in the host part"
        hostport = _host_and_port(parts.netloc)
        if hostport is None:
            return "malformed host or port"
        host, port = hostport
        if host != origin.host:
            return f"host {host!r} is not the Vendo host {origin.host!r}"
        if (port if port is not None else DEFAULT_PORTS[scheme]) != origin.port:
            return f"port {port} is not the Vendo port {origin.port}"
        problem = _path_problem(parts.path)
        if problem:
            return problem
        if origin.path and not (parts.path == origin.path or parts.path.startswith(origin.path + "/")):
            return f"path is outside {origin.path!r}"
        if not _nested:
            for name, value in parse_qsl(parts.query, keep_blank_values=True):
                if name.lower() in REDIRECT_PARAMS and value:
                    inner = self.refusal(value, _nested=True)
                    if inner:
                        return f"{name} leads elsewhere ({inner})"
        return None

    def redact(self, url: object) -> str:
        """:func:`redact_url`, also masking the current key however it is written."""
        return redact_url(url, (self._key(),))

    # ------------------------------------------------------------ builders
    @property
    def root(self) -> str | None:
        return self.origin.root if self.origin else None

    def reauthorize(self, slug: str | None, connection_id: str | None = None,
                    connect_url: str | None = None) -> str | None:
        """Where "Re-authorize" goes.

        A server-sent ``connect_url`` wins if the allowlist accepts it (and,
        with keep-key-out, if it carries no key).  Otherwise the SDK's connect
        URL with our key, or — key kept out, or no key — the connection's
        dashboard page.
        """
        if connect_url:
            url = self.check(connect_url)
            if url and not (self.keep_key_out and has_app_key(url)):
                return url
            if url:
                log.info("server connect_url carries a key; keeping the key out of links as set")
        key = None if self.keep_key_out else self._key()
        root = self.root
        if slug and key and root:
            query = urlencode({"app_key": key, "return_to": f"{root}/dashboard"})
            url = self.check(f"{root}/connections/connect/{quote(slug, safe='')}?{query}")
            if url:
                return url
        return self.manage(connection_id)

    def manage(self, connection_id: str | None) -> str | None:
        """The dashboard page of one connection (the dashboard when the id is unknown)."""
        root = self.root
        if connection_id and root:
            url = self.check(f"{root}/dashboard/connections/{quote(connection_id, safe='')}")
            if url:
                return url
        return self.dashboard()

    def dashboard(self) -> str | None:
        root = self.root
        return self.check(f"{root}/dashboard") if root else None

    def top_up(self, url_from_balance: str | None = None) -> str | None:
        """The balance's ``top_up_url`` when it passes the allowlist, else ``{root}/billing``."""
        if url_from_balance:
            url = self.check(url_from_balance)
            if url:
                return url
        root = self.root
        return self.check(f"{root}/billing") if root else None

    def _key(self) -> str | None:
        try:
            key = self._api_key_provider()
        except Exception as exc:  # a locked keyring must not break a click
            log.warning("API key unavailable for a link (%s); using a key-free link", type(exc).__name__)
            return None
        return (key.strip() or None) if isinstance(key, str) else None


# ---------------------------------------------------------------- helpers
def _plain_problem(url: str) -> str | None:
    """Characters no URL we open may contain, checked before any parsing."""
    if len(url) > MAX_URL:
        return f"longer than {MAX_URL} characters"
    if not url.isascii():
        return "non-ASCII characters (look-alike or internationalized host?)"
    if any(ch <= " " or ch == "\x7f" for ch in url):
        return "whitespace or control characters"
    if "\\" in url:
        return "a backslash"
    return None


def _host_and_port(netloc: str) -> tuple[str, int | None] | None:
    """(lower-case host, explicit port or None) from a netloc, or None if malformed.

    Stricter than urllib: no credentials, no percent signs, no empty or
    non-decimal ports, no trailing dots, no punycode.
    """
    if not netloc or "@" in netloc or "%" in netloc:
        return None
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            return None
        host, rest = netloc[1:end], netloc[end + 1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    else:
        host, sep, port_text = netloc.partition(":")
        rest = sep + port_text
    host = host.lower()
    if not host or host.endswith(".") or ".." in host:
        return None
    if any(label.startswith("xn--") for label in host.split(".")):
        return None
    if not rest:
        return host, None
    if not rest.startswith(":") or not _PORT.fullmatch(rest[1:]):
        return None
    port = int(rest[1:])
    if not 0 < port <= 65535:
        return None
    return host, port


def _path_problem(path: str) -> str | None:
    if path.startswith("//"):
        return "path starts with // (a host in disguise)"
    if _ENCODED_PATH_TRICK.search(path):
        return "percent-encoded slash, backslash, dot or control byte in the path"
    if any(segment in (".", "..") for segment in path.split("/")):
        return "dot segments in the path"
    return None


