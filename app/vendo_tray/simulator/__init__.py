"""A Vendo-compatible server on loopback: demo mode, tests, benchmarks, fault scenarios.

It speaks the live wire of ``docs/wire.md`` (and, on request, the first ("seed")
edition's), built on Starlette + uvicorn::

    from vendo_tray.simulator import Simulator

    with Simulator(key="vendo_sk_test", ping_interval=0.2) as sim:
        sim.set_connection_status("slack", "needs_reauth")   # emits the events
        sim.add_fault("drop_mid_frame")                       # next frame cut in half
        ...  # point a client at sim.base_url with the key

See :mod:`.faults` for the faults and :mod:`.scenarios` for the scripts.
"""

from __future__ import annotations

from vendo_tray.simulator.faults import ALL_FAULTS
from vendo_tray.simulator.scenarios import SCENARIOS
from vendo_tray.simulator.server import Simulator
from vendo_tray.simulator.state import LOW_BALANCE_MICROS, STATUSES
from vendo_tray.simulator.wire import EVENTS_PATH, LEGACY_ALIASES

#: The key ``vendo-tray simulate`` and demo mode accept by default (not a secret).
DEMO_KEY = "vendo_sk_demo"

__all__ = ["ALL_FAULTS", "DEMO_KEY", "EVENTS_PATH", "LEGACY_ALIASES", "LOW_BALANCE_MICROS",
           "SCENARIOS", "STATUSES", "Simulator"]
