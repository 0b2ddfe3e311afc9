"""Command line: ``vendo-tray [--demo] | events | apps | simulate | --self-test | --version``.

Each command's module is imported only when chosen, so ``events``, ``apps``
and ``simulate`` start without loading Qt.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from vendo_tray import KEY_READER_ARG, __version__

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vendo-tray",
        description="Tray companion for Vendo: native notifications when a connection "
        "needs re-authorization, errors, or the balance runs low.",
    )
    parser.add_argument("--version", action="version", version=f"vendo-tray {__version__}")
    parser.add_argument("--demo", action="store_true",
                        help="run against the built-in simulator with a scripted story (no account needed)")
    parser.add_argument("--self-test", action="store_true",
                        help="check that Qt, the tray, keyring, notifications, TLS and the simulator load; exit")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)

    events = sub.add_parser("events", help="print the live events stream, one line per event (like `stripe listen`)")
    events.add_argument("--json", action="store_true", help="print JSON lines")
    events.add_argument("--since", metavar="AGE",
                        help="first print stored history younger than AGE (30s, 15m, 1h, 2d)")
    events.add_argument("--app", metavar="NAME",
                        help="stream this app's events, with its own key and base URL (see `vendo-tray apps list`)")
    events.add_argument("--base-url", help="Vendo base URL (default: the app's, VENDO_BASE_URL or https://vendo.run)")
    events.add_argument("--max-failures", metavar="N", type=_positive_int,
                        help="exit 1 after N failed connection attempts in a row "
                        "(default: keep retrying, as the tray app does, until Ctrl-C)")

    apps = sub.add_parser("apps", help="list, add or remove the Vendo apps the tray watches",
                          description="The key of `apps add` is read from standard input or a hidden "
                          "prompt, never from an argument (other users can read arguments in the process list).")
    actions = apps.add_subparsers(dest="apps_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="each app: name, base URL, whether a key is stored (never the key)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    add = actions.add_parser("add", help="test the key from standard input or a hidden prompt; save it if it works")
    add.add_argument("name", metavar="NAME", help="a name of your choice (at most 32 characters)")
    add.add_argument("--base-url", help="the app's Vendo base URL (default: https://vendo.run)")
    remove = actions.add_parser("remove", help="delete the app's key from the keyring and drop it from the list")
    remove.add_argument("name", metavar="NAME")

    simulate = sub.add_parser("simulate", help="run the Vendo-compatible simulator on 127.0.0.1")
    simulate.add_argument("--port", type=int, default=8765, help="TCP port (0 = any free port)")
    simulate.add_argument("--scenario", default="quiet", help="scenario to play (see --list-scenarios)")
    simulate.add_argument("--list-scenarios", action="store_true", help="list scenarios and exit")
    simulate.add_argument("--key", default=None, help="the API key the simulator accepts (default: vendo_sk_demo)")
    simulate.add_argument("--wire", choices=("live", "seed"), default="live",
                          help="emit today's kinds (live) or the seed edition's")
    simulate.add_argument("--ping", type=float, default=25.0, metavar="SECONDS", help="heartbeat interval")
    return parser


class _OneLineParser(argparse.ArgumentParser):
    """A command's usage error in one line, as every other failure of ``events`` and ``apps`` is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"wants a whole number of at least 1, not {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    if list(sys.argv[1:] if argv is None else argv) == [KEY_READER_ARG]:
        from vendo_tray.core.secrets import serve_read

        return serve_read(sys.stdin, sys.stdout)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "apps":  # stray arguments may be the key: refused there, never echoed
        from vendo_tray.apps_cli import run_apps

        return run_apps(args.apps_action, name=getattr(args, "name", None),
                        base_url=getattr(args, "base_url", None), json_out=getattr(args, "json", False),
                        extra=extra, log_level=args.log_level)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.self_test:
        from vendo_tray.selftest import run_self_test

        return run_self_test()
    if args.command == "events":
        from vendo_tray.headless import run_events

        return run_events(json_lines=args.json, since=args.since, base_url=args.base_url,
                          log_level=args.log_level, max_failures=args.max_failures, app=args.app)
    if args.command == "simulate":
        from vendo_tray.simulator.cli import run_simulator

        return run_simulator(args)
    from vendo_tray.ui.launch import run_app

    return run_app(demo=args.demo, log_level=args.log_level)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
