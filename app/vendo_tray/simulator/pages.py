"""Small HTML pages, so links the tray opens in demo mode land somewhere real.

They stand in for vendo.run's dashboard, connect and billing pages.  The
connect page offers an "Authorize" button that really reconnects the
integration in the simulator (and so emits the events), which makes the demo
round trip — notification, browser, back to green — work end to end.
Everything interpolated is escaped, and nothing from the query string (the
SDK's connect URL carries ``app_key``) is ever echoed back.
"""

from __future__ import annotations

from html import escape
from typing import Any

from vendo_tray.core.kinds import format_micros

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px}header a{color:#fff;margin-right:16px}
main{max-width:760px;margin:24px auto;padding:0 16px}
.card{background:#fff;border-radius:10px;padding:16px 20px;margin:12px 0;box-shadow:0 1px 3px #0002}
.row{display:flex;align-items:center;gap:12px}.row img{width:28px;height:28px}
.badge{padding:2px 8px;border-radius:10px;font-size:12px;background:#e3e6ea}
.connected{background:#d4f5dd}.needs_reauth,.pending_setup{background:#fde9c8}
.error,.revoked{background:#fbd5d5}.muted{color:#667}
button{font:inherit;padding:8px 16px;border-radius:8px;border:0;background:#3b5bdb;color:#fff;cursor:pointer}
"""


def page(title: str, body: str) -> str:
    """Wrap ``body`` (already escaped HTML) in the common layout."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)} · Vendo (simulator)</title><style>{_STYLE}</style></head><body>"
        "<header><strong>Vendo</strong> <span class=muted>simulator</span> &nbsp; "
        "<a href=/dashboard>Dashboard</a><a href=/billing>Billing</a></header>"
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def _badge(status: str) -> str:
    return f"<span class='badge {escape(status)}'>{escape(status.replace('_', ' '))}</span>"


def _conn_row(conn: dict[str, Any]) -> str:
    name = escape(conn["display_name"])
    if conn["id"]:
        link = f"<a href='/dashboard/connections/{escape(conn['id'])}'>{name}</a>"
    else:
        link = f"<a href='/connections/connect/{escape(conn['slug'])}'>{name}</a>"
    error = f"<div class=muted>{escape(conn['error_message'])}</div>" if conn["error_message"] else ""
    return (f"<div class='card row'><img alt='' src='/logos/{escape(conn['slug'])}.svg'>"
            f"<div style='flex:1'>{link} <span class=muted>· {escape(conn['category'])}</span>"
            f"{error}</div>{_badge(conn['status'])}</div>")


def dashboard(connections: list[dict[str, Any]], balance_micros: int) -> str:
    rows = "".join(_conn_row(c) for c in connections)
    return page("Dashboard", f"<div class=card>Balance: <strong>{format_micros(balance_micros)}</strong>"
                             f" · <a href=/billing>Top up</a></div><h2>Connections</h2>{rows}")


def connection(conn: dict[str, Any]) -> str:
    slug = escape(conn["slug"])
    error = (f"<p>Last error: {escape(conn['error_message'])}</p>" if conn["error_message"] else "")
    action = "Re-authorize" if conn["status"] != "connected" else "Reconnect"
    body = (f"<div class=card><div class=row><img alt='' src='/logos/{slug}.svg'>"
            f"<strong>{escape(conn['display_name'])}</strong>{_badge(conn['status'])}</div>"
            f"<p class=muted>Connection id {escape(conn['id'] or '—')} · profile "
            f"{escape(conn['profile'])}</p>{error}"
            f"<p><a href='/connections/connect/{slug}'>{action} {escape(conn['display_name'])}</a></p>"
            "</div>")
    return page(conn["display_name"], body)


def connect(conn: dict[str, Any]) -> str:
    slug = escape(conn["slug"])
    body = (f"<div class=card><div class=row><img alt='' src='/logos/{slug}.svg'>"
            f"<span>Allow this app to use your <strong>{escape(conn['display_name'])}</strong>"
            f" account?</span></div>"
            f"<form method=post action='/connections/connect/{slug}'><p>"
            f"<button type=submit>Authorize {escape(conn['display_name'])}</button></p></form>"
            "<p class=muted>Simulated OAuth: authorizing marks the connection connected and "
            "emits the matching events.</p></div>")
    return page(f"Connect {conn['display_name']}", body)


def connected(conn: dict[str, Any]) -> str:
    return page(f"{conn['display_name']} connected",
                "<div class=card>Done. You can close this tab and return to the app.</div>")


def billing(balance_micros: int, caps: dict[str, Any]) -> str:
    def cap(value: int | None) -> str:
        return format_micros(value) if value else "no cap"

    body = (f"<div class=card>Balance: <strong>{format_micros(balance_micros)}</strong>"
            "<form method=post action='/billing/top-up?amount_micros=20000000'>"
            "<p><button type=submit>Add $20.00</button></p></form></div>"
            f"<div class=card>Daily cap {cap(caps['daily_micros'])}, used "
            f"{format_micros(caps['used_today_micros'])}<br>Monthly cap {cap(caps['monthly_micros'])}, "
            f"used {format_micros(caps['used_month_micros'])}</div>")
    return page("Billing", body)


def docs(conn: dict[str, Any]) -> str:
    return page(f"{conn['display_name']} integration",
                f"<div class=card>How to use the {escape(conn['display_name'])} integration "
                "from your app (simulated documentation page).</div>")


def not_found() -> str:
    return page("Not found", "<div class=card>There is nothing here. <a href=/dashboard>Dashboard</a></div>")


def logo_svg(slug: str, display_name: str, color: str) -> str:
    """A round badge in the brand colour with the initial: enough to look right."""
    initial = escape(display_name[:1].upper())
    return ("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 64 64'>"
            f"<circle cx='32' cy='32' r='30' fill='{escape(color)}'/>"
            "<text x='32' y='43' font-family='sans-serif' font-size='30' font-weight='bold' "
            f"text-anchor='middle' fill='#fff'>{initial}</text></svg>")
