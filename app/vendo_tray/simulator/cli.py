"""``vendo-tray simulate``: run the simulator in the foreground, logging every event.

Like ``stripe listen`` in reverse: a local stand-in for Vendo that a client
(``vendo-tray events``, the tray app, curl) can talk to without an account.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from vendo_tray.simulator import DEMO_KEY, SCENARIOS, Simulator

log = logging.getLogger(__name__)


def _list_scenarios() -> int:
    width = max(len(name) for name in SCENARIOS)
    for name, scenario in SCENARIOS.items():
        print(f"{name:<{width}}  {scenario.description}")
    return 0


def run_simulator(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C (or SIGTERM); 0 on a clean stop, 1 if it cannot start, 2 on bad usage."""
    if getattr(args, "list_scenarios", False):
        return _list_scenarios()
    if args.scenario not in SCENARIOS:
        print(f"vendo-tray simulate: unknown scenario {args.scenario!r} "
              f"(choose from: {', '.join(SCENARIOS)})", file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(args, "log_level", "INFO"),
                        format="%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")
    key = args.key or DEMO_KEY
    try:
        sim = Simulator(key=key, ping_interval=args.ping, wire=args.wire, port=args.port)
        sim.start()
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"vendo-tray simulate: cannot start on port {args.port}: {exc}", file=sys.stderr)
        return 1
    # Printing the simulator's own demo key is fine (it opens nothing real);
    # a key the user chose is theirs, so it is not echoed.
    shown_key = key if key == DEMO_KEY else "(the key you passed with --key)"
    print(f"Vendo simulator listening on {sim.base_url}  (wire: {args.wire}, ping every {args.ping:g} s)")
    print(f"API key: {shown_key}")
    print(f"Try:     VENDO_BASE_URL={sim.base_url} VENDO_API_KEY={key if key == DEMO_KEY else '…'} "
          "vendo-tray events")
    print(f"Scenario: {args.scenario} — {SCENARIOS[args.scenario].description}. Ctrl-C stops.",
          flush=True)

    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        sim.run_scenario(args.scenario)
        while not stop.wait(0.5):
            if not sim.running:
                log.error("the simulator stopped unexpectedly")
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sim.stop()
    print("simulator stopped")
    return 0
