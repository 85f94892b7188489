"""Test helpers for live ingestion: a synthetic race written by us, a real HTTP feed server on
127.0.0.1 with injectable faults, a poll driver and the comparison with the official file.
"""

from __future__ import annotations

import hashlib
import random
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd

from race.analysis.standings import prepare_laps, standings_at
from race.importer import build_race_frames
from race.sources.lapfile import parse_lap_file
from race.sources.replay import FeedBuilder
from tests.lapfixture import fmt, render

FEED_PATHS = {"imsa": ("/imsa/RaceResults_JSONP.json", "/imsa/RaceData_JSONP.json"),
               "imsa-2026": ("/RaceResults_JSONP.json", "/RaceData_JSONP.json"),
               "wec-2017": ("/wec/__data.json", None), "wec-current": ("/wec/data.json", None),
               "wec-2026": ("/ecm-prod/live/WEC/data.json", None)}
# What the IMSA CDN's origin expects (the official page's headers); the caching server refuses
# a request without them.
IMSA_HEADERS = {"Referer": "https://www.imsa.com/scoring/", "Origin": "https://www.imsa.com"}
# Names with accents for the runs that check mojibake repair (2026 IMSA layout).
ACCENTED = ("André Négrão", "Jörg Müller", "Sébastien Bourdais", "João Barbosa",
            "Łukasz Wiśniewski", "Nicolás Varrone", "Renée Ørsted", "Ægir Þórsson")


# -- a synthetic race ------------------------------------------------------------------------
def synthetic_rows(seed: int = 3, cars: int = 8, minutes: float = 40.0,
                   accents: bool = False) -> list[dict]:
    """An official-format race: two classes, pit stops with driver changes (B on the in-lap,
    PIT_TIME on the out-lap), a pit-lane start, a retirement in the pits, one full-course
    yellow seen by every car, and the chequered flag from the leader's finish.

    ``accents``: each car's first driver has a name with non-ASCII letters (``ACCENTED``)."""
    rng = random.Random(seed)
    finish_ms = int(minutes * 60_000)
    fcy = (int(finish_ms * 0.40), int(finish_ms * 0.48))
    entries = []
    for i in range(cars):
        cls = "GTP" if i < cars // 2 else "GTD"
        base = (62_000 if cls == "GTP" else 68_000) + 250 * i
        first = f"{ACCENTED[i % len(ACCENTED)]} {i}" if accents else f"Driver {i}A"
        entries.append((str(i * 7 + 2) if i != 3 else "03", cls, base,
                        (first, f"Driver {i}B")))
    crossings: dict[str, list[dict]] = {}
    for i, (number, cls, base, drivers) in enumerate(entries):
        laps, elapsed, lap, driver = [], 0, 0, 1
        pit_every = 9 + i % 4
        pending_pit = 45_000 + 800 * i if i == 1 else None  # car 1 starts from the pit lane
        retire_at = 20 if i == cars - 1 else None
        while True:
            lap += 1
            lap_ms = base + rng.randint(0, 1_500) + (7_000 if lap == 1 else 0)
            if fcy[0] <= elapsed + lap_ms <= fcy[1] + 30_000:
                lap_ms += 20_000
            pit = ""
            if pending_pit is not None:
                lap_ms += pending_pit - 15_000 if lap > 1 else pending_pit
                pit = fmt(pending_pit, hours=True)
                pending_pit = None
                if lap > 1:
                    driver = 2 if driver == 1 else 1
            in_pit = ""
            if lap % pit_every == 0 or lap == retire_at:
                in_pit = "B"
                lap_ms += 9_000
                pending_pit = 38_000 + rng.randint(0, 30_000)
            elapsed += lap_ms
            if elapsed >= finish_ms and lap != retire_at:  # real files: no B under FF
                in_pit, pending_pit = "", None
            laps.append({"lap": lap, "lap_ms": lap_ms, "elapsed": elapsed, "pit": pit,
                         "in_pit": in_pit, "driver": driver, "name": drivers[driver - 1],
                         "cls": cls})
            if lap == retire_at or elapsed >= finish_ms:
                break
        crossings[number] = laps
    leader_finish = min(laps[-1]["elapsed"] for n, laps in crossings.items()
                        if laps[-1]["elapsed"] >= finish_ms)
    out = []
    for number, laps in crossings.items():
        for row in laps:
            e = row["elapsed"]
            flag = ("FF" if e >= leader_finish else
                    "FCY" if fcy[0] <= e <= fcy[1] + 20_000 else "GF")
            lap_ms = row["lap_ms"]
            s1, s2 = lap_ms * 3 // 10, lap_ms * 4 // 10
            out.append({
                "NUMBER": number, "DRIVER_NUMBER": str(row["driver"]),
                "LAP_NUMBER": str(row["lap"]), "LAP_TIME": fmt(lap_ms), "LAP_IMPROVEMENT": "0",
                "CROSSING_FINISH_LINE_IN_PIT": row["in_pit"], "S1": fmt(s1),
                "S1_IMPROVEMENT": "0", "S2": fmt(s2), "S2_IMPROVEMENT": "0",
                "S3": fmt(lap_ms - s1 - s2), "S3_IMPROVEMENT": "0",
                "KPH": f"{4_000 * 3_600 / lap_ms:.1f}", "ELAPSED": fmt(e),
                "HOUR": fmt(12 * 3_600_000 + e, hours=True), "S1_LARGE": fmt(s1),
                "S2_LARGE": fmt(s2), "S3_LARGE": fmt(lap_ms - s1 - s2), "TOP_SPEED": "",
                "DRIVER_NAME": row["name"], "PIT_TIME": row["pit"], "CLASS": row["cls"],
                "GROUP": "", "TEAM": f"Team {number}", "MANUFACTURER": "Make",
                "FLAG_AT_FL": flag})
    return out


def synthetic_lap_file(**kwargs: object) -> bytes:
    return render(synthetic_rows(**kwargs))


def official_frames(data: bytes, name: str = "synthetic.csv") -> dict[str, pd.DataFrame]:
    return build_race_frames(parse_lap_file(data, name))


# -- the feed server -------------------------------------------------------------------------
@dataclass
class FeedState:
    """What the server shows: the builder at race time ``clock`` in ``layout``; faults are
    consumed one per request of a path, in order."""

    builder: FeedBuilder | None = None
    layout: str = "imsa"
    clock: float = 0.0
    faults: dict[str, deque] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    served: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    timeout_sleep_s: float = 1.0
    stale_back_s: float = 40.0
    script: list[float] | None = None  # race time of each successive main-feed request
    script_index: int = 0
    # The CDN in front (``CachingFeedServer``): the first answer to a URL (path + query) is
    # kept and handed to every repeat of it; only a new URL reaches the origin (and its
    # faults). ``required_headers`` must come with every request (else 403).
    cdn_cache: dict[str, bytes] | None = None
    required_headers: dict[str, str] = field(default_factory=dict)
    cdn_hits: int = 0
    urls: list[str] = field(default_factory=list)  # path + query of every request
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_fault(self, path: str, *faults: str) -> None:
        with self.lock:
            self.faults.setdefault(path, deque()).extend(faults)

    def body(self, path: str, clock: float) -> bytes | None:
        if path in self.files:
            return self.files[path]
        if self.builder is None:
            return None
        for layout, (main, flag) in FEED_PATHS.items():
            if path in (main, flag) and (layout == self.layout):
                payloads = self.builder.payloads(clock, layout)
                return payloads["main"] if path == main else payloads["flag"]
        return None


class _Handler(BaseHTTPRequestHandler):
    server: FeedServer

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        state = self.server.state
        path = urlparse(self.path).path
        with state.lock:
            state.urls.append(self.path)
            wrong = {k: self.headers.get(k) for k, v in state.required_headers.items()
                     if self.headers.get(k) != v}
            cached = state.cdn_cache.get(self.path) if state.cdn_cache is not None else None
            if wrong or cached is not None:
                state.requests.append((path, "forbidden" if wrong else "cdn-hit",
                                       dict(self.headers)))
                state.cdn_hits += cached is not None and not wrong
        if wrong:
            self.send_error(403, f"missing or wrong header(s) {sorted(wrong)}")
            return
        if cached is not None:
            self.send_response(200)
            self.send_header("Content-Type", "application/javascript")
            self.send_header("Content-Length", str(len(cached)))
            self.send_header("X-Cache", "Hit from cloudfront")
            self.end_headers()
            self.wfile.write(cached)
            return
        with state.lock:
            queue = state.faults.get(path)
            fault = queue.popleft() if queue else None
            state.requests.append((path, fault or "ok", dict(self.headers)))
            if state.script is not None and state.builder is not None \
                    and path == FEED_PATHS[state.layout][0]:
                state.clock = state.script[min(state.script_index, len(state.script) - 1)]
                state.script_index += 1
            clock = state.clock
        if fault == "500":
            self.send_error(500, "injected server error")
            return
        if fault == "404":
            self.send_error(404)
            return
        if fault == "reset":
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
            self.close_connection = True
            self.request.close()
            return
        if fault == "timeout":
            time.sleep(state.timeout_sleep_s)
        if fault == "stale":
            clock = max(0.0, clock - state.stale_back_s)
        body = state.served.get(path) if fault == "duplicate" else None
        if body is None:
            body = state.body(path, clock)
        if body is None:
            self.send_error(404)
            return
        if fault not in ("stale", "truncated"):
            state.served[path] = body
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'
        if fault is None and self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        if fault == "truncated":  # a complete HTTP answer whose JSON is cut short
            body = body[: len(body) // 2]
        if state.cdn_cache is not None and fault != "short-read":
            with state.lock:  # the CDN keeps what the origin answered for this URL
                state.cdn_cache[self.path] = body
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if path.endswith("/") else
                         "application/json")
        self.send_header("ETag", etag)
        if fault == "short-read":  # announces the full length, sends half, hangs up
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FeedServer(ThreadingHTTPServer):
    """A real HTTP server on 127.0.0.1 (ephemeral port) in a daemon thread."""

    daemon_threads = True

    def __init__(self, state: FeedState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # injected resets make the handler's socket unusable: expected

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class CachingFeedServer(FeedServer):
    """The feed server behind a CDN as IMSA's 2026 host is: a repeated URL (same path and
    query) gets the body first served for it, whatever the origin shows now; only a fresh
    cache-buster (``_=<ms>``) reaches the origin. Requests without the official page's
    Referer/Origin are refused (403)."""

    def __init__(self, state: FeedState,
                 required_headers: dict[str, str] | None = None) -> None:
        state.cdn_cache = {} if state.cdn_cache is None else state.cdn_cache
        state.required_headers = dict(IMSA_HEADERS if required_headers is None
                                      else required_headers)
        super().__init__(state)


def cache_busters(state: FeedState, path: str) -> list[str | None]:
    """The ``_`` query value of every request of ``path`` the server saw, in order (None
    when the request had none)."""
    out: list[str | None] = []
    for url in state.urls:
        parts = urlparse(url)
        if parts.path == path:
            out.append(parse_qs(parts.query).get("_", [None])[-1])
    return out


# -- driving and checking --------------------------------------------------------------------
def poll_times(builder: FeedBuilder, step_s: float, end_s: float) -> list[float]:
    """Poll times ``step_s`` apart (race time), lossless: never two laps of a car or a whole
    pit visit between consecutive polls."""
    times, t = [0.0], 0.0
    while t < end_s:
        t = min(builder.next_time(t, step_s), end_s)
        times.append(t)
    return times


def flag_windows(builder: FeedBuilder, times: list[float]) -> list[tuple[float, float]]:
    """Race-time windows between two consecutive polls across which the flag changed: a
    poll cannot tell whether a crossing inside one came before or after the change."""
    flags = [builder.flag(t) for t in times]
    return [(times[i - 1], times[i]) for i in range(1, len(times)) if flags[i] != flags[i - 1]]


def assert_matches_official(store, race_id: str, frames: dict[str, pd.DataFrame],
                            end_s: float | None = None, pit_tolerance_s: float = 30.0,
                            windows: list[tuple[float, float]] = ()) -> dict:
    """Every official lap (up to ``end_s``) stored exactly once with its exact time and
    ELAPSED, the same in/out laps, stints, pit stops (pit-lane time within the tolerance: it
    is measured between polls) and final order, and the same flag periods.

    Flags are shown per poll, so a crossing inside a ``windows`` interval (a flag change
    between two polls) may carry the flag of either side; the periods' bounds may then move
    within that window, and only laps touching a window may differ in neutralised/clean.
    Returns figures for the report.
    """
    from race.analysis.flags import rebuild_flag_periods
    from race.analysis.stints import pit_stops

    official = frames["laps"]
    periods = frames["flag_periods"]
    if end_s is not None:
        official = official[official["elapsed_s"] <= end_s].reset_index(drop=True)
        periods = rebuild_flag_periods(official)
    live = store.table("laps", race_id)
    assert not live.duplicated(["number", "lap_number"]).any(), "a lap stored twice"
    key = ["number", "lap_number"]
    merged = official.merge(live, on=key, how="outer", suffixes=("_o", "_l"), indicator=True)
    missing = merged[merged["_merge"] != "both"]
    assert missing.empty, f"laps missing or extra:\n{missing[[*key, '_merge']].head(20)}"
    assert len(live) == len(official)
    assert live["lap_time_s"].notna().all(), "a lap stored without its time"
    assert np.array_equal(np.round(merged["lap_time_s_o"] * 1000),
                          np.round(merged["lap_time_s_l"] * 1000)), "a lap time differs"
    assert np.array_equal(np.round(merged["elapsed_s_o"] * 1000),
                          np.round(merged["elapsed_s_l"] * 1000)), "an ELAPSED differs"
    for column in ("crossing_in_pit", "in_lap", "out_lap", "stint_number", "lap_in_stint",
                   "driver_name"):
        diff = merged[column + "_o"].astype(str) != merged[column + "_l"].astype(str)
        assert not diff.any(), f"{column} differs:\n{merged.loc[diff, key].head()}"
    # Flags: exact outside the windows of a flag change between two polls.
    crossing = merged["elapsed_s_o"].to_numpy()
    start = merged["start_s_o"].to_numpy()
    in_window = np.zeros(len(merged), dtype=bool)
    touches = np.zeros(len(merged), dtype=bool)
    median_lap = float(np.nanmedian(official["lap_time_s"]))
    for lo, hi in windows:
        in_window |= (crossing > lo) & (crossing <= hi)
        touches |= (crossing > lo) & (start <= hi + median_lap)
    flag_diff = merged["flag_o"].astype(str) != merged["flag_l"].astype(str)
    assert not (flag_diff & ~in_window).any(), merged.loc[flag_diff & ~in_window, key]
    for column in ("neutralised", "restart_lap", "clean"):
        diff = merged[column + "_o"].astype(str) != merged[column + "_l"].astype(str)
        assert not (diff & ~touches).any(), (column, merged.loc[diff & ~touches, key])
    stored_periods = store.table("flag_periods", race_id)
    assert len(stored_periods) == len(periods)
    assert (stored_periods["flag"].to_numpy() == periods["flag"].to_numpy()).all()
    widest = max((hi - lo for lo, hi in windows), default=0.0)
    bound_error = np.abs(stored_periods[["start_s", "end_s"]].to_numpy(dtype=float)
                         - periods[["start_s", "end_s"]].to_numpy(dtype=float))
    assert (bound_error <= widest + 1e-6).all(), bound_error
    stops = store.table("pit_stops", race_id)
    expected_stops = pit_stops(official) if end_s is not None else frames["pit_stops"]
    cols = ["number", "stop_number", "in_lap", "out_lap", "driver_in", "driver_out"]
    a = stops[cols].astype(str).sort_values(cols).reset_index(drop=True)
    b = expected_stops[cols].astype(str).sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    both = stops.merge(expected_stops, on=["number", "stop_number"], suffixes=("_l", "_o"))
    pit_error = (both["pit_time_s_l"] - both["pit_time_s_o"]).abs()
    assert (pit_error <= pit_tolerance_s).all(), pit_error.max()
    order_live, _ = standings_at(prepare_laps(live, stored_periods))
    order_official, _ = standings_at(prepare_laps(official, periods))
    assert order_live["number"].tolist() == order_official["number"].tolist()
    markers = store.backfill_markers(race_id)
    assert set(markers["reason"]) <= {"pit_time_estimated"}, markers["reason"].value_counts()
    return {"laps": len(live), "stops": len(stops), "periods": len(stored_periods),
            "flag_windows": len(windows), "crossings_in_windows": int(in_window.sum()),
            "flags_differing": int(flag_diff.sum()),
            "period_bound_error_max_s": float(bound_error.max()) if bound_error.size else 0.0,
            "pit_error_max_s": float(pit_error.max()) if len(pit_error) else 0.0,
            "pit_error_median_s": float(pit_error.median()) if len(pit_error) else 0.0}
