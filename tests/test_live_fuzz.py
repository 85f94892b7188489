"""Fuzzed live payloads (#11 item 6): whatever a feed serves, a poll either fails with a
clear message or stores nothing wrong, and what is stored stays as it was.

Each layout's payload at one race time is mutated in the ways broken feeds and proxies break
them: truncated bodies, top-level types swapped, keys missing, values of the wrong type, nulls,
huge strings and numbers, a list where an object was. Every mutated payload is ingested by a
session that already stored the race up to that time. Then the next good poll must store
exactly what a session that never saw the mutations stores.
"""

from __future__ import annotations

import json
import random
import re

import pandas as pd
import pytest

from race.live.session import FAILED, LiveConfig, LiveSession
from race.sources.replay import LAYOUTS, FeedBuilder
from race.store import RaceStore
from tests.live_helpers import official_frames, synthetic_lap_file

JSONP = re.compile(rb"^\s*(\w+)\((.*)\);?\s*$", re.S)
MESSAGE_MAX = 300
MUTATIONS_PER_LAYOUT = 60
COMPARED = {"laps": ["number", "lap_number", "lap_time_s", "elapsed_s", "in_lap",
                     "pit_time_s", "driver_number"],
            "pit_stops": None, "stints": None}


def _split(body: bytes) -> tuple[bytes | None, object]:
    """(JSONP callback or None, the decoded JSON)."""
    match = JSONP.match(body)
    if match and not body.lstrip().startswith((b"{", b"[")):
        return match.group(1), json.loads(match.group(2))
    return None, json.loads(body)


def _join(callback: bytes | None, data: object) -> bytes:
    text = json.dumps(data).encode()
    return callback + b"(" + text + b");" if callback else text


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every key/index path in the decoded payload."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node[:4]):  # a few list items are enough
            out += _paths(value, (*prefix, i))
    return out


def _get(node: object, path: tuple) -> object:
    for key in path:
        node = node[key]
    return node


def _set(node: object, path: tuple, value: object, *, delete: bool = False) -> None:
    parent = _get(node, path[:-1])
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


HUGE_TEXT = "x" * 1_000_000
WHOLE_BODIES = {
    "empty body": b"", "not JSON": b"<html><body>502 Bad Gateway</body></html>",
    "binary junk": bytes(range(256)) * 4, "null": b"null", "a list": b"[1, 2, 3]",
    "a number": b"42", "a string": b'"live"', "utf-16": json.dumps({"a": 1}).encode("utf-16"),
}
TRUNCATIONS = (0.1, 0.5, 0.9)
IDENTITY_KEYS = ("number", "N")
BROKEN_BODIES = set(WHOLE_BODIES) | {f"truncated at {f:.0%}" for f in TRUNCATIONS}
ODD_VALUES = (None, [], {}, [1, 2], {"a": 1}, True, "", "abc", -1, 0, 1e308, -1e308,
              10**20, 1.5, "NaN", "Infinity", "9" * 400, HUGE_TEXT, "<script>x</script>",
              "'; DROP TABLE laps; --")


def mutations(payloads: dict[str, bytes], seed: int, count: int) -> list[tuple[str, dict]]:
    """(description, mutated payloads) pairs, deterministic per seed."""
    rng = random.Random(seed)
    out: list[tuple[str, dict]] = []
    keys = sorted(payloads)
    decoded = {k: _split(payloads[k]) for k in keys}
    for name, body in WHOLE_BODIES.items():
        for key in keys:
            out.append((f"{key}: {name}", {**payloads, key: body}))
    for key in keys:
        body = payloads[key]
        for frac in (*TRUNCATIONS, 0.999):  # the last may lose only the JSONP's ");"
            out.append((f"{key}: truncated at {frac:.0%}", {**payloads,
                                                            key: body[:int(len(body) * frac)]}))
    while len(out) < count:
        key = rng.choice(keys)
        callback, data = decoded[key]
        data = json.loads(json.dumps(data))  # a fresh copy
        paths = _paths(data)
        if not paths:
            continue
        path = rng.choice(paths)
        kind = rng.choice(("missing", "odd", "odd", "odd", "list-for-object"))
        if kind == "missing":
            _set(data, path, None, delete=True)
            label = f"{key}: {'/'.join(map(str, path))} missing"
        elif kind == "list-for-object":
            value = _get(data, path)
            _set(data, path, [value] if isinstance(value, dict) else {"0": value})
            label = f"{key}: {'/'.join(map(str, path))} wrapped"
        else:
            value = rng.choice(ODD_VALUES)
            if path[-1] in IDENTITY_KEYS and isinstance(value, str) and 0 < len(value) < 500:
                continue  # another plausible car number is a new car, not a broken payload
            _set(data, path, value)
            shown = value if not isinstance(value, str) or len(value) < 20 else "<huge text>"
            label = f"{key}: {'/'.join(map(str, path))} = {shown!r}"
        out.append((label, {**payloads, key: _join(callback, data)}))
    return out


def _stored(store: RaceStore, race_id: str) -> dict[str, pd.DataFrame]:
    out = {}
    for table, columns in COMPARED.items():
        frame = store.table(table, race_id)
        if columns is not None:
            frame = frame[columns]
        out[table] = frame.reset_index(drop=True)
    return out


def _assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame], what: str) -> None:
    for table in COMPARED:
        pd.testing.assert_frame_equal(a[table], b[table], obj=f"{table} after {what}")


@pytest.fixture(scope="module")
def builder() -> FeedBuilder:
    frames = official_frames(synthetic_lap_file(seed=5, cars=6, minutes=30.0))
    return FeedBuilder(frames["laps"], frames["flag_periods"], event="Fuzz Test")


def _session(store: RaceStore, layout: str, race_id: str) -> LiveSession:
    source = "imsa" if layout.startswith("imsa") else "wec"
    flag_url = "http://127.0.0.1:9/RaceData.json" if source == "imsa" else None
    return LiveSession(store, LiveConfig(source=source, url="http://127.0.0.1:9/feed.json",
                                         flag_url=flag_url, race_id=race_id, event="Fuzz"),
                       recorder=False)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fuzzed_payloads_fail_cleanly_and_change_nothing(store: RaceStore, builder: FeedBuilder,
                                                         layout: str) -> None:
    t1, t2 = 900.0, 960.0
    good1, good2 = builder.payloads(t1, layout), builder.payloads(t2, layout)

    control = _session(store, layout, f"control-{layout}")
    for t in (300.0, 600.0):
        control.ingest(builder.payloads(t, layout), t)
    assert control.ingest(good1, t1).status == "ok"
    assert control.ingest(good2, t2).status == "ok"
    expected = _stored(store, control.race_id)

    session = _session(store, layout, f"fuzz-{layout}")
    for t in (300.0, 600.0):
        session.ingest(builder.payloads(t, layout), t)
    assert session.ingest(good1, t1).status == "ok"
    before = _stored(store, session.race_id)
    assert len(before["laps"]) > 20

    for i, (label, payloads) in enumerate(mutations(good1, seed=len(layout),
                                                    count=MUTATIONS_PER_LAYOUT)):
        result = session.ingest(payloads, t1 + 0.001 * (i + 1))  # same race moment
        if label.startswith("main: ") and label.split(": ", 1)[1] in BROKEN_BODIES:
            # An unreadable main payload always fails the poll (a broken IMSA RaceData
            # only leaves the flag as it was: the laps are still good).
            assert result.status in FAILED, f"{label}: {result.status}"
        if result.status in FAILED:
            assert result.message, f"{label}: failed poll without a message"
            assert len(result.message) <= MESSAGE_MAX, f"{label}: {result.message[:400]}…"
            assert "Traceback" not in result.message, label
        _assert_same(before, _stored(store, session.race_id), label)
    assert session.ingest(good2, t2).status == "ok"
    _assert_same(expected, _stored(store, session.race_id), "the next good poll")
