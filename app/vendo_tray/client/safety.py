"""The one place for untrusted text and secrets: the sanitiser, the redactor, the mask, the base-URL rule.

Every layer needs these (the client for server-echoed messages and its base URL, core for
notices, links and logs, the UI for what it draws), and two copies drift: this module is the
bottom of the house, imports nothing of the app, and everyone else calls it.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

#: Vendo's own host: where a client, a setting and a new app point unless told otherwise.
#: Here, not in ``_http``, so settings can name it without loading httpx.
DEFAULT_BASE_URL = "https://vendo.run"

#: What a secret is replaced by, wherever it would have appeared.
MASK = "[redacted]"

#: Anything shaped like a Vendo app key, and the other places a secret travels in text.
_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"vendo_sk_[A-Za-z0-9_\-]*"), "vendo_sk_" + MASK),
    # Authorization headers and their dict/repr forms: "Bearer <token>".
    (re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=\-]+"), r"\1\2" + MASK),
    # Keys carried in URLs (the SDK's connect URL puts the key in app_key=).
    (re.compile(r"(?i)\b((?:app_key|app%5fkey|api_key|apikey|access_token|token)=)[^&\s'\"#]*"), r"\1" + MASK),
)

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def mask(key: str) -> str:
    """A key as it may be shown: the prefix that tells key kinds apart, never the secret part."""
    prefix = key[: key.find("_sk_") + 4] if "_sk_" in key[:20] else ""
    return prefix + MASK


def redact(text: str, secrets: tuple[str | None, ...] | list[str | None] = ()) -> str:
    """``text`` with each of ``secrets`` and anything shaped like a secret replaced by :data:`MASK`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask(secret))
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def plain(text: object, limit: int, *, keep_newlines: bool = False) -> str:
    """Untrusted text as plain text: no control or format characters (bidi overrides,
    zero-width), whitespace collapsed to single spaces (newlines kept when asked), at most
    ``limit`` characters with "…" when cut.  NOT markup-escaped: that is the job of the one
    back end that parses markup."""
    raw = text if isinstance(text, str) else ("" if text is None else str(text))
    lines = raw.splitlines() if keep_newlines else [raw]
    kept_lines = []
    for line in lines:
        kept = []
        for ch in line:
            category = unicodedata.category(ch)
            if ch.isspace() or category in ("Zl", "Zp"):
                kept.append(" ")
            elif category[0] != "C":  # Cc control, Cf format (bidi, zero-width), Cs, Co, Cn
                kept.append(ch)
        kept_lines.append(" ".join("".join(kept).split()))
    result = "\n".join(kept_lines).strip()
    if len(result) > limit:
        result = result[: max(limit - 1, 0)].rstrip() + "…"
    return result


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name, an IPv4 or an IPv6 address, brackets allowed) is this machine."""
    host = host.lower().strip("[]")
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be Vendo's base URL, as a sentence for the user; None when it can.

    https only, because the key travels in every request; plain http is allowed for
    loopback hosts (the simulator, a local proxy), where it never leaves the machine.
    """
    if not url.isprintable() or " " in url:
        return "The URL must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return "Enter a full URL, like https://vendo.run (with a valid port, if any)"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "Enter a full URL, like https://vendo.run"
    if parts.username or parts.password:
        return "The URL must not contain a user name or password"
    if parts.query or parts.fragment:
        return "The URL must not contain ? or #"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return "Use https:// (plain http is only allowed for 127.0.0.1 / localhost)"
    return None
