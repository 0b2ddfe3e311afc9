"""Benchmark client.sse: decoding a 100,000-event stream fed in realistic read sizes.

Compared in the same run, on the same bytes and the same reads:

* ``ours``       — ``SSEDecoder.feed`` on each read (what ``client.events`` does);
* ``httpx-sse``  — httpx-sse 0.4's own path: httpx's line decoder feeding
  ``httpx_sse._decoders.SSEDecoder`` line by line (what ``EventSource.iter_sse``
  runs under the hood, without the HTTP response around it);
* ``bytes.split`` — ``b"".join(reads).split(b"\\n\\n")``: no parsing at all, the
  ceiling for anything written in Python.

The stream is the live wire as Vendo sends it: ``id:``/``event:``/``data:`` JSON
blocks, each connection event followed by its legacy alias block, and a
``: ping`` keep-alive every 25 events. Reads are 1–64 KiB (seeded), as a TLS
socket hands them out. Each figure is the best of --repeat runs.

Target (issue 2): at least 2× httpx-sse while passing every spec rule.

Run: ``.venv/bin/python bench/bench_sse.py [--events 100000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable

from vendo_tray.client.sse import SSEDecoder

TARGET_RATIO = 2.0


def make_stream(n_events: int, seed: int = 11) -> bytes:
    """``n_events`` dispatched events of the live wire (aliases and pings included)."""
    rng = random.Random(seed)
    slugs = ("gmail", "slack", "github", "notion", "linear", "stripe", "hubspot", "openai")
    parts: list[str] = []
    made = 0
    while made < n_events:
        event_id = f"evt_bench_{made:07d}"
        if rng.random() < 0.3:
            kind, alias = "connection.status_changed", "connection_updated"
            data = {"slug": rng.choice(slugs), "connection_id": f"conn_{rng.getrandbits(64):016x}",
                    "status": rng.choice(("connected", "needs_reauth", "error"))}
        else:
            kind, alias = "billing.usage_recorded", None
            data = {"provider": rng.choice(slugs), "micros": rng.randrange(1, 90_000)}
        data.update(id=event_id, at="2026-11-27T10:00:00.000Z", kind=kind)
        body = json.dumps(data, separators=(",", ":"))
        for name in (kind, alias):
            if name is None or made >= n_events:
                continue
            parts.append(f"id: {event_id}\nevent: {name}\ndata: {body}\n\n")
            made += 1
            if made % 25 == 0:
                parts.append(": ping\n\n")
    return "".join(parts).encode()


def split_reads(stream: bytes, seed: int = 5) -> list[bytes]:
    rng = random.Random(seed)
    reads, pos = [], 0
    while pos < len(stream):
        size = rng.randint(1024, 64 * 1024)
        reads.append(stream[pos:pos + size])
        pos += size
    return reads


def decode_ours(reads: list[bytes]) -> int:
    decoder = SSEDecoder()
    count = 0
    for chunk in reads:
        count += len(decoder.feed(chunk))
    return count


def decode_httpx_sse(reads: list[bytes]) -> int:
    from httpx._decoders import LineDecoder, TextDecoder
    from httpx_sse._decoders import SSEDecoder as TheirDecoder

    text, lines, decoder = TextDecoder(), LineDecoder(), TheirDecoder()
    count = 0
    for chunk in reads:
        for line in lines.decode(text.decode(chunk)):
            if decoder.decode(line.rstrip("\n")) is not None:
                count += 1
    for line in lines.flush():
        if decoder.decode(line.rstrip("\n")) is not None:
            count += 1
    return count


def split_only(reads: list[bytes]) -> int:
    return len(b"".join(reads).split(b"\n\n"))


def best(fn: Callable[[list[bytes]], int], reads: list[bytes], repeat: int) -> tuple[float, int]:
    times, result = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(reads)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    stream = make_stream(args.events)
    reads = split_reads(stream)
    print(f"bench_sse: {args.events:,} events, {len(stream) / 1e6:.1f} MB in {len(reads):,} reads "
          f"(1-64 KiB), best of {args.repeat}")

    ours_s, ours_n = best(decode_ours, reads, args.repeat)
    split_s, _ = best(split_only, reads, args.repeat)
    assert ours_n == args.events, f"ours decoded {ours_n} events, expected {args.events}"
    ours_rate = ours_n / ours_s
    print(f"  ours          {ours_rate:>12,.0f} events/s")
    print(f"  bytes.split   {args.events / split_s:>12,.0f} blocks/s  (ceiling; ours reaches "
          f"{split_s / ours_s:.2f} of it)")
    try:
        import httpx_sse  # noqa: F401
    except ImportError:
        print("  httpx-sse     not installed (pip install httpx-sse) - ratio not measured")
        return 0
    theirs_s, theirs_n = best(decode_httpx_sse, reads, args.repeat)
    ratio = theirs_s / ours_s
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"  httpx-sse     {theirs_n / theirs_s:>12,.0f} events/s  ({theirs_n - args.events:+,} "
          f"phantom events from keep-alives)")
    print(f"  ours / httpx-sse = {ratio:.2f}x   target >= {TARGET_RATIO:.1f}x: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
