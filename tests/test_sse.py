"""The SSE decoder against the WHATWG "event stream interpretation" rules.

Every case is fed whole, one byte at a time, split in two at every position,
and in random splits, because the bugs that matter (a CRLF or a BOM or a
UTF-8 sequence torn across two reads) only show at read boundaries.
"""

from __future__ import annotations

import logging
import random
import tracemalloc
from collections.abc import Iterator

import pytest

from vendo_tray.client.sse import ServerSentEvent, SSEDecoder


def splits(stream: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """Ways to cut one stream into reads."""
    yield "whole", [stream]
    yield "bytewise", [stream[i:i + 1] for i in range(len(stream))]
    for cut in range(1, len(stream)):
        yield f"cut@{cut}", [stream[:cut], stream[cut:]]
    for seed in range(5):
        rng = random.Random(seed)
        chunks, i = [], 0
        while i < len(stream):
            n = rng.randint(0, 7)          # 0 = an empty read, which must change nothing
            chunks.append(stream[i:i + n])
            i += n
        yield f"random{seed}", chunks


def decode(chunks: list[bytes], **kw: object) -> tuple[list[tuple[str, str, str]], SSEDecoder]:
    decoder = SSEDecoder(**kw)  # type: ignore[arg-type]
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return [(e.event, e.data, e.id) for e in events], decoder


M = "message"

# (name, stream, expected events as (type, data, id), expected last_event_id, expected retry)
CASES: list[tuple[str, bytes, list[tuple[str, str, str]], str, int | None]] = [
    ("one event", b"data: hello\n\n", [(M, "hello", "")], "", None),
    ("LF ends", b"data: a\ndata: b\n\n", [(M, "a\nb", "")], "", None),
    ("CRLF ends", b"data: a\r\ndata: b\r\n\r\n", [(M, "a\nb", "")], "", None),
    ("CR ends", b"data: a\rdata: b\r\r", [(M, "a\nb", "")], "", None),
    ("mixed ends", b"data: a\rdata: b\r\ndata: c\n\r\n", [(M, "a\nb\nc", "")], "", None),
    ("CR then LF is one line end, not a blank line", b"data: a\r\ndata: b\n\n", [(M, "a\nb", "")], "", None),
    ("LF then CR is two line ends", b"data: a\n\rdata: b\n\n", [(M, "a", ""), (M, "b", "")], "", None),
    ("leading BOM stripped", b"\xef\xbb\xbfdata: x\n\n", [(M, "x", "")], "", None),
    ("only one BOM stripped", b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n", [(M, "y", "")], "", None),
    ("BOM later in the stream is data", b"data: x\n\n\xef\xbb\xbfdata: y\n\n", [(M, "x", "")], "", None),
    ("comment ignored", b": ping\n\n", [], "", None),
    ("comment between fields", b"data: a\n: note\ndata: b\n\n", [(M, "a\nb", "")], "", None),
    ("ping after id dispatches nothing but commits the id", b"id: 7\n: ping\n\n", [], "7", None),
    ("one space removed", b"data:  two spaces\n\n", [(M, " two spaces", "")], "", None),
    ("no space is fine", b"data:tight\n\n", [(M, "tight", "")], "", None),
    ("tab is not a space", b"data:\tx\n\n", [(M, "\tx", "")], "", None),
    ("field without colon has empty value", b"data\n\n", [(M, "", "")], "", None),
    ("empty data line still dispatches", b"data:\n\n", [(M, "", "")], "", None),
    ("empty data lines keep their line feeds", b"data: a\ndata:\ndata: b\n\n", [(M, "a\n\nb", "")], "", None),
    ("colon in value kept", b"data: {\"a\": 1}\n\n", [(M, '{"a": 1}', "")], "", None),
    ("space before colon makes another field", b"data : x\n\n", [], "", None),
    ("unknown field ignored", b"foo: bar\ndata: a\n\n", [(M, "a", "")], "", None),
    ("event type", b"event: connection.connected\ndata: {}\n\n", [("connection.connected", "{}", "")], "", None),
    ("event type reset after dispatch", b"event: x\ndata: 1\n\ndata: 2\n\n", [("x", "1", ""), (M, "2", "")], "", None),
    ("event type reset after a block without data", b"event: x\n\ndata: 2\n\n", [(M, "2", "")], "", None),
    ("empty event type is message", b"event:\ndata: x\n\n", [(M, "x", "")], "", None),
    ("last event id kept across events", b"id: 1\ndata: a\n\ndata: b\n\n", [(M, "a", "1"), (M, "b", "1")], "1", None),
    ("id updated", b"id: 1\ndata: a\n\nid: 2\ndata: b\n\n", [(M, "a", "1"), (M, "b", "2")], "2", None),
    ("empty id resets", b"id: 1\ndata: a\n\nid\ndata: b\n\n", [(M, "a", "1"), (M, "b", "")], "", None),
    ("id with NUL ignored", b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", [(M, "a", "1"), (M, "b", "1")], "1", None),
    ("id keeps extra spaces", b"id:  7 \ndata: a\n\n", [(M, "a", " 7 ")], " 7 ", None),
    ("retry digits", b"retry: 1500\n\n", [], "", 1500),
    ("retry kept across events", b"retry: 1500\ndata: a\n\ndata: b\n\n", [(M, "a", ""), (M, "b", "")], "", 1500),
    ("retry not digits", b"retry: 15a\n\n", [], "", None),
    ("retry negative", b"retry: -1\n\n", [], "", None),
    ("retry decimal", b"retry: 1.5\n\n", [], "", None),
    ("retry empty", b"retry:\n\n", [], "", None),
    ("retry non-ASCII digit", "retry: 1\u00b2\n\n".encode(), [], "", None),
    ("retry invalid keeps previous", b"retry: 10\n\nretry: x\n\n", [], "", 10),
    ("invalid UTF-8 replaced", b"data: \xff\xfe ok\n\n", [(M, "\ufffd\ufffd ok", "")], "", None),
    ("truncated UTF-8 before line end", b"data: \xe2\x82\n\n", [(M, "\ufffd", "")], "", None),
    ("multibyte UTF-8 intact", "data: caf\u00e9 \u20ac \U0001f600\n\n".encode(), [(M, "caf\u00e9 \u20ac \U0001f600", "")], "", None),
    ("unterminated final block discarded", b"data: a\n\ndata: b\n", [(M, "a", "")], "", None),
    ("unterminated final line discarded", b"data: a\n\ndata: b", [(M, "a", "")], "", None),
    ("id of an unterminated block not committed", b"data: a\n\nid: 5\ndata: b\n", [(M, "a", "")], "", None),
    ("several events in one read", b"data: 1\n\ndata: 2\n\ndata: 3\n\n", [(M, "1", ""), (M, "2", ""), (M, "3", "")], "", None),
    ("blank lines between events", b"\n\n\ndata: 1\n\n\n\n", [(M, "1", "")], "", None),
    ("legacy alias block after dotted one",
     b"id: e1\nevent: connection.connected\ndata: {\"id\":\"e1\"}\n\n"
     b"event: connection_created\ndata: {\"id\":\"e1\"}\n\n",
     [("connection.connected", '{"id":"e1"}', "e1"), ("connection_created", '{"id":"e1"}', "e1")], "e1", None),
]


@pytest.mark.parametrize(("name", "stream", "expected", "last_id", "retry"), CASES, ids=[c[0] for c in CASES])
def test_spec_rule(name: str, stream: bytes, expected: list, last_id: str, retry: int | None) -> None:
    for how, chunks in splits(stream):
        events, decoder = decode(chunks)
        assert events == expected, how
        assert decoder.last_event_id == last_id, how
        assert decoder.retry == retry, how
        assert decoder.dropped == 0, how


def test_cr_at_end_of_read_and_lf_at_start_of_next_is_one_line_end() -> None:
    events, _ = decode([b"data: a\r", b"\ndata: b\n\n"])
    assert events == [(M, "a\nb", "")]
    # ...even with empty reads in between
    events, _ = decode([b"data: a\r", b"", b"", b"\ndata: b\r", b"\r"])
    assert events == [(M, "a\nb", "")]


def test_cr_then_cr_across_reads_is_a_blank_line() -> None:
    events, _ = decode([b"data: a\r", b"\rdata: b\r\r"])
    assert events == [(M, "a", ""), (M, "b", "")]


def test_resuming_decoder_starts_from_given_last_event_id() -> None:
    events, decoder = decode([b"data: a\n\n"], last_event_id="41")
    assert events == [(M, "a", "41")]
    assert decoder.last_event_id == "41"


def test_bom_rule_applies_per_stream_not_per_read() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef") == []
    assert decoder.feed(b"\xbb") == []
    assert [e.data for e in decoder.feed(b"\xbfdata: x\n\n")] == ["x"]
    # a second BOM, even at the start of a read, is not stripped
    assert decoder.feed(b"\xef\xbb\xbfdata: y\n\n") == []


# --- size caps -------------------------------------------------------------

CAP = 64


def oversized_cases() -> list[tuple[str, bytes, list[tuple[str, str, str]], str]]:
    big = b"x" * 200
    return [
        ("long data line", b"data: ok1\n\ndata: " + big + b"\n\ndata: ok2\n\n", [(M, "ok1", ""), (M, "ok2", "")], ""),
        ("long line, CRLF", b"data: ok1\r\n\r\ndata: " + big + b"\r\n\r\ndata: ok2\r\n\r\n",
         [(M, "ok1", ""), (M, "ok2", "")], ""),
        ("long line, CR", b"data: " + big + b"\r\rdata: ok2\r\r", [(M, "ok2", "")], ""),
        ("long comment skipped, its block kept", b": " + big + b"\ndata: ok\n\n", [(M, "ok", "")], ""),
        ("long line drops its whole block, keeps its id",
         b"event: big\ndata: head\ndata: " + big + b"\ndata: tail\nid: 9\n\nid: 10\ndata: next\n\n",
         [(M, "next", "10")], "10"),
        ("long event type", b"event: " + big + b"\ndata: a\n\ndata: b\n\n", [(M, "b", "")], ""),
        ("event over the cap from many short lines", b"data: ok1\n\n" + b"data: 0123456789\n" * 15 + b"\ndata: ok2\n\n",
         [(M, "ok1", ""), (M, "ok2", "")], ""),
        ("line exactly at the cap passes", b"data:" + b"y" * (CAP - 5) + b"\n\n", [(M, "y" * (CAP - 5), "")], ""),
    ]


@pytest.mark.parametrize(("name", "stream", "expected", "last_id"), oversized_cases(),
                         ids=[c[0] for c in oversized_cases()])
def test_oversized_frames_are_dropped_and_decoding_goes_on(
        name: str, stream: bytes, expected: list, last_id: str, caplog: pytest.LogCaptureFixture) -> None:
    for how, chunks in splits(stream):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="vendo_tray.client.sse"):
            events, decoder = decode(chunks, max_line=CAP, max_event=CAP * 2)
        assert events == expected, how
        assert decoder.last_event_id == last_id, how
        should_drop = name not in ("line exactly at the cap passes", "long comment skipped, its block kept")
        assert decoder.dropped == (1 if should_drop else 0), how
        assert len([r for r in caplog.records if "SSE frame dropped" in r.message]) == decoder.dropped, how


def test_skipping_a_huge_line_holds_no_more_than_one_read() -> None:
    decoder = SSEDecoder()               # default 1 MiB cap
    read = b"x" * 65536
    tracemalloc.start()
    try:
        decoder.feed(b"data: ok\n\ndata: ")
        for _ in range(320):              # 20 MiB without a line end
            decoder.feed(read)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * 1024 * 1024, peak
    events = decoder.feed(b"x\n\ndata: after\n\n")
    assert [(e.event, e.data) for e in events] == [(M, "after")]
    assert decoder.dropped == 1


def test_long_line_inside_one_big_read() -> None:
    stream = b"data: a\n\n" + b"data: " + b"q" * 5000 + b"\n\n" + b"data: b\n\n"
    events, decoder = decode([stream], max_line=1000)
    assert events == [(M, "a", ""), (M, "b", "")]
    assert decoder.dropped == 1


def test_many_events_random_reads_match_whole() -> None:
    rng = random.Random(7)
    parts = []
    for i in range(500):
        end = rng.choice([b"\n", b"\r\n", b"\r"])
        parts.append(b"id: %d" % i + end + b"event: k%d" % (i % 3) + end
                     + b"data: {\"n\": %d, \"s\": \"\xc3\xa9\"}" % i + end + b": ping" + end + end)
    stream = b"".join(parts)
    whole, _ = decode([stream])
    assert len(whole) == 500
    chunks, i = [], 0
    while i < len(stream):
        n = rng.randint(1, 300)
        chunks.append(stream[i:i + n])
        i += n
    pieces, decoder = decode(chunks)
    assert pieces == whole
    assert decoder.last_event_id == "499"
    assert whole[3] == ("k0", '{"n": 3, "s": "\u00e9"}', "3")


def test_many_data_lines_cost_linear_time() -> None:
    """An event of many short data lines must not cost quadratic time (one copy of the
    whole buffer per line): a hostile server could otherwise freeze the UI loop for
    minutes with a few megabytes.  Compared as a ratio in the same run, never as an
    absolute time: 8× the lines may cost about 8× the time, not 64×."""
    import time

    def cost(lines: int) -> float:
        stream = b"data: xxxx\n" * lines + b"\n"
        reads = [stream[i:i + 4096] for i in range(0, len(stream), 4096)]
        best = float("inf")
        for _ in range(3):
            decoder = SSEDecoder()
            start = time.perf_counter()
            events: list[ServerSentEvent] = []
            for read in reads:
                events.extend(decoder.feed(read))
            best = min(best, time.perf_counter() - start)
            assert len(events) == 1 and len(events[0].data) == lines * 5 - 1
        return best

    small, large = cost(10_000), cost(80_000)
    assert large / small < 24, (small, large)
