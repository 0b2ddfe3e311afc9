"""Named scripts the simulator can play: demo mode's story, load and fault tours.

A scenario is one *round* (an async function) that the runner repeats; every
wait goes through :meth:`Play.sleep`, which divides by ``speed``, so a test
plays the 45-second demo story in about a second with ``speed=50``.  Rounds
run in the simulator's own loop and drive it through its public, thread-safe
methods, exactly as a test would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vendo_tray.simulator.server import Simulator

log = logging.getLogger(__name__)

NOTION_ERROR = "Notion API timed out after 30 s (HTTP 504) while syncing pages."


class Play:
    """What a round gets: the simulator, scaled sleeping and narration."""

    def __init__(self, sim: Simulator, name: str, speed: float) -> None:
        self.sim = sim
        self.name = name
        self.speed = speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)

    def say(self, text: str) -> None:
        log.info("scenario %s: %s", self.name, text)

    def streams_open(self) -> bool:
        return self.sim.stats.open_streams > 0

    def pending(self, fault: str) -> bool:
        return any(name == fault for name, _ in self.sim.faults)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    round: Callable[[Play], Awaitable[None]]


async def run_scenario(sim: Simulator, scenario: Scenario, speed: float, rounds: int | None) -> None:
    """Play ``rounds`` rounds (None: until cancelled)."""
    play = Play(sim, scenario.name, speed)
    log.info("scenario %s starts (speed x%g)", scenario.name, speed)
    done = 0
    try:
        while rounds is None or done < rounds:
            await scenario.round(play)
            done += 1
    except asyncio.CancelledError:
        log.info("scenario %s stopped after %d round(s)", scenario.name, done)
        raise
    except Exception:
        log.exception("scenario %s failed", scenario.name)
        raise
    log.info("scenario %s finished %d round(s)", scenario.name, done)


async def _quiet(play: Play) -> None:
    await play.sleep(60)


def _newcomer(sim: Simulator) -> str | None:
    """An integration that is not connected yet, to connect during the story."""
    for slug in ("linear", "stripe"):
        if sim.connection(slug)["status"] == "available":
            return slug
    return None


async def _demo(play: Play) -> None:
    """About 45 s: trouble arrives one piece at a time, the stream hiccups, then it all heals."""
    sim = play.sim
    newcomer = _newcomer(sim)
    await play.sleep(2)
    if newcomer:
        play.say(f"{newcomer} connects")
        sim.set_connection_status(newcomer, "connected")
    await play.sleep(5)
    play.say("usage is recorded")
    sim.record_usage("openai", 180_000)
    await play.sleep(3)
    play.say("slack needs re-authorization")
    sim.set_connection_status("slack", "needs_reauth")
    await play.sleep(5)
    play.say("notion errors")
    sim.set_connection_status("notion", "error", NOTION_ERROR)
    await play.sleep(5)
    play.say("balance falls below $0.50")
    sim.set_balance(420_000)
    await play.sleep(5)
    play.say("balance hits zero")
    sim.set_balance(0)
    await play.sleep(4)
    if play.streams_open() and not play.pending("drop_mid_frame"):
        play.say("the stream drops mid-frame; the client resumes with Last-Event-ID")
        sim.add_fault("drop_mid_frame")
    sim.touch_connection("github")  # the frame that gets cut, and then replayed
    await play.sleep(5)
    play.say("slack is re-authorized")
    sim.set_connection_status("slack", "connected")
    await play.sleep(3)
    play.say("notion recovers")
    sim.set_connection_status("notion", "connected")
    await play.sleep(3)
    play.say("balance topped up")
    sim.set_balance(25_000_000)
    await play.sleep(4)
    if newcomer:
        play.say(f"{newcomer} disconnects (so the story can loop)")
        sim.set_connection_status(newcomer, "available")
    await play.sleep(2)


async def _seed(play: Play) -> None:
    """The seed edition's seven kinds, in story order, without alias blocks."""
    sim = play.sim
    newcomer = _newcomer(sim) or "linear"
    steps: list[tuple[str, Callable[[], object]]] = [
        (f"{newcomer} connects", lambda: sim.set_connection_status(newcomer, "connected", wire="seed")),
        ("slack needs re-authorization",
         lambda: sim.set_connection_status("slack", "needs_reauth", wire="seed")),
        ("notion errors", lambda: sim.set_connection_status("notion", "error", NOTION_ERROR, wire="seed")),
        ("balance low", lambda: sim.set_balance(420_000, wire="seed")),
        ("balance exhausted", lambda: sim.set_balance(0, wire="seed")),
        ("deployment updated", lambda: sim.emit("deployment.updated", {}, wire="seed")),
        ("slack reconnects", lambda: sim.set_connection_status("slack", "connected", wire="seed")),
        ("notion reconnects", lambda: sim.set_connection_status("notion", "connected", wire="seed")),
        ("balance topped up (the seed has no event for it)",
         lambda: sim.set_balance(25_000_000, wire="seed")),
        (f"{newcomer} disconnects", lambda: sim.set_connection_status(newcomer, "available", wire="seed")),
    ]
    for text, step in steps:
        await play.sleep(4)
        play.say(text)
        step()


async def _burst(play: Play) -> None:
    await play.sleep(5)
    play.say("a burst of 100 events")
    play.sim.burst(100)


async def _flapping(play: Play) -> None:
    await play.sleep(5)
    if not play.pending("flap"):
        play.say("streams drop; the next 3 stream requests are accepted and closed at once")
        play.sim.add_fault("flap", count=3)
        play.sim.drop_streams()
    await play.sleep(10)


async def _faults(play: Play) -> None:
    """Every fault once, with a real event after each so the client shows it carried on."""
    sim = play.sim
    sim.clear_faults()
    play.say("drop mid-frame")
    sim.add_fault("drop_mid_frame")
    sim.touch_connection("github")
    await play.sleep(4)
    play.say("two 503s on reconnect")
    sim.add_fault("status", count=2, status=503)
    sim.drop_streams()
    await play.sleep(8)
    play.say("429 with Retry-After: 2")
    sim.add_fault("rate_limit", retry_after=2)
    sim.drop_streams()
    await play.sleep(6)
    for fault in ("malformed_json", "invalid_utf8", "oversized_line"):
        play.say(fault.replace("_", " "))
        sim.add_fault(fault)
        sim.touch_connection("gmail")
        await play.sleep(3)
    play.say("a burst of 200 events")
    sim.burst(200)
    await play.sleep(4)
    play.say("flapping: 2 streams accepted and closed at once")
    sim.add_fault("flap", count=2)
    sim.drop_streams()
    await play.sleep(8)
    play.say("stall: the next stream gets headers, then silence until the client gives up")
    sim.add_fault("stall")
    sim.drop_streams()
    await play.sleep(70)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("quiet", "nothing happens: only `: ping` heartbeats", _quiet),
    Scenario("demo", "the ~45 s demo story: a connect, a re-auth, an error, low then zero balance, "
                     "a mid-frame drop with resume, then everything heals; loops", _demo),
    Scenario("burst", "100 events at once every 5 s", _burst),
    Scenario("flapping", "every 15 s the stream drops and 3 reconnects are accepted then closed",
             _flapping),
    Scenario("faults", "a tour of faults: drop, 503s, 429, bad JSON, bad UTF-8, 2 MiB line, burst, "
                       "flap, stall", _faults),
    Scenario("seed", "the seed edition's kinds (needs_reauth, error, balance_low/exhausted, "
                     "deployment.updated), no alias blocks", _seed),
)}
