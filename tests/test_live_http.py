"""Live ingestion over real HTTP (127.0.0.1) with injected faults: every lap exactly once
with its exact time, the flag periods, the pit stops and the final order of the official
file — for the IMSA (before 2026 and 2026, behind a caching CDN), WEC 2017–2021, WEC ≤ 2025
and WEC 2026 layouts, on a synthetic race of ours and (when ../shared/realdata is present) on
real races."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from race.live.session import LiveConfig, LiveSession
from race.sources.fetch import Fetcher, RawRecorder, read_recording
from race.sources.replay import FeedBuilder
from race.store import RaceStore
from tests.conftest import REALDATA, requires_realdata
from tests.live_helpers import (
    FEED_PATHS,
    CachingFeedServer,
    FeedServer,
    FeedState,
    assert_matches_official,
    cache_busters,
    flag_windows,
    official_frames,
    poll_times,
    synthetic_lap_file,
)

LAYOUTS = ("imsa", "imsa-2026", "wec-2017", "wec-current", "wec-2026")
CALLBACKS = {"imsa-2026": ("?callback=jsonpRaceResults", "?callback=jsonpRaceData")}
# One poll in every few gets a fault; faults that make a whole poll fail are injected on
# extra polls between two good ones, as a flaky network would (the race clock moves on).
RECOVERED = ("500", "timeout", "reset", "short-read")  # the retry gets the payload
LOST = ("500x3", "truncated", "stale", "duplicate", "reset-x3")  # the poll yields nothing


def _fetcher() -> Fetcher:
    return Fetcher(timeout_s=0.25, attempts=3, retry_delay_s=0.01, min_interval_s=0.0)


def run_feed(store: RaceStore, frames: dict, layout: str, *, step_s: float = 10.0,
             end_s: float | None = None, fault_every: int = 5, recorder=False) -> dict:
    """Serve the race over HTTP poll by poll, faults included; returns what happened."""
    builder = FeedBuilder(frames["laps"], frames["flag_periods"], event="Fault Test")
    end = builder.end_s + 30 if end_s is None else end_s
    state = FeedState(builder=builder, layout=layout, timeout_sleep_s=0.5)
    main, flag = FEED_PATHS[layout]
    main_query, flag_query = CALLBACKS.get(layout, ("", ""))
    statuses: dict[str, int] = {}
    # IMSA 2026: the feed sits behind a CDN that answers a repeated URL from its cache
    server_class = CachingFeedServer if layout == "imsa-2026" else FeedServer
    with server_class(state) as server:
        source = "imsa" if layout.startswith("imsa") else "wec"
        session = LiveSession(store, LiveConfig(
            source=source, url=server.url(main) + main_query,
            flag_url=server.url(flag) + flag_query if flag else None,
            race_id=f"live-{layout}"), fetcher=_fetcher(), recorder=recorder)
        times = poll_times(builder, step_s, end)
        for i, t in enumerate(times):
            if i and i % fault_every == 0:
                # an extra poll between the previous good one and this one, which fails
                state.clock = (times[i - 1] + t) / 2
                kind = LOST[(i // fault_every) % len(LOST)]
                before = store.table("laps", session.race_id) if session.race_id else None
                if kind == "500x3":
                    state.add_fault(main, "500", "500", "500")
                elif kind == "reset-x3":
                    state.add_fault(main, "reset", "reset", "reset")
                else:
                    state.add_fault(main, kind)
                result = session.poll_once()
                statuses[kind + ":" + result.status] = statuses.get(
                    kind + ":" + result.status, 0) + 1
                if before is not None:  # a lost poll leaves the stored laps as they were
                    after = store.table("laps", session.race_id)
                    assert len(after) == len(before)
            state.clock = t
            if i % fault_every == 2:
                state.add_fault(main, RECOVERED[(i // fault_every) % len(RECOVERED)])
            if flag and i % fault_every == 3:
                state.add_fault(flag, "500")
            result = session.poll_once()
            statuses[result.status] = statuses.get(result.status, 0) + 1
            assert result.status in ("ok", "unchanged", "duplicate"), (t, result)
        # the same payload again: answered 304 (conditional request) or skipped
        result = session.poll_once()
        assert result.status in ("unchanged", "duplicate")
    if layout == "imsa-2026":
        check_cdn_requests(state, (main, flag))
    return {"session": session, "statuses": statuses, "polls": len(times),
            "requests": len(state.requests), "end": end,
            "windows": flag_windows(builder, times), "cdn_hits": state.cdn_hits}


def check_cdn_requests(state: FeedState, paths: tuple[str, ...]) -> None:
    """Every request to the CDN had the official page's headers, no-cache headers and a
    cache-buster never sent before on that path (retries included): none was a cache hit."""
    assert not any(kind == "forbidden" for _, kind, _ in state.requests)
    assert state.cdn_hits == 0
    for _, _, headers in state.requests:
        assert headers.get("Cache-Control") == "no-cache" and headers.get("Pragma") == "no-cache"
    for path in paths:
        busters = cache_busters(state, path)
        assert busters and None not in busters
        assert len(set(busters)) == len(busters)
        assert [int(b) for b in busters] == sorted(int(b) for b in busters)


def assert_names_repaired(store: RaceStore, race_id: str) -> None:
    """No stored text carries the 2026 feed's mojibake ("Ã©" for "é")."""
    laps = store.table("laps", race_id)
    cars = store.table("cars", race_id)
    values = [*laps["driver_name"], *laps["class"], *laps["team"],
              *(v for column in cars for v in cars[column])]
    texts = [v for v in values if isinstance(v, str)]
    assert texts and not [t for t in texts if "Ã" in t or "Â" in t]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_synthetic_race_with_faults(store: RaceStore, layout: str) -> None:
    frames = official_frames(synthetic_lap_file(accents=layout == "imsa-2026"))
    run = run_feed(store, frames, layout)
    figures = assert_matches_official(store, f"live-{layout}", frames, pit_tolerance_s=12.0,
                                      windows=run["windows"])
    statuses = run["statuses"]
    # every kind of lost poll happened and was handled as it should
    assert statuses.get("500x3:fetch-error") and statuses.get("reset-x3:fetch-error")
    assert statuses.get("truncated:bad-payload")
    assert statuses.get("stale:stale") and statuses.get("duplicate:duplicate")
    log = store.ingest_log()
    assert {"fetch-error", "bad-payload", "stale"} <= set(log["status"])
    assert figures["laps"] == 257 and figures["stops"] == 20
    if layout == "imsa-2026":  # the accented names arrived mojibaked and were repaired
        assert_names_repaired(store, f"live-{layout}")
        names = set(store.table("laps", f"live-{layout}")["driver_name"])
        assert {"André Négrão 0", "Jörg Müller 1", "Łukasz Wiśniewski 4"} <= names
    # single lost polls between good ones are not layout drift
    assert not isinstance(store.live_state(f"live-{layout}")["problem"], str)
    if layout == "wec-2026":  # the weather of every poll that wrote, with its race time
        # flags at the line from the feed's own history: the periods' bounds are exact
        assert figures["period_bound_error_max_s"] == 0.0
        weather = store.table("weather", f"live-{layout}")
        assert len(weather) > 100 and weather["elapsed_s"].is_monotonic_increasing
        assert not run["session"].problem


def test_layout_drift_over_http(store: RaceStore) -> None:
    """A feed served over HTTP whose payloads keep changing while the tracker finds nothing
    new in them: after three polls the live state says the layout is not understood; a
    missing field says so at once."""
    from tests.test_live_wec2026 import payload

    state = FeedState()
    path = FEED_PATHS["wec-2026"][0]
    with FeedServer(state) as server:
        session = LiveSession(store, LiveConfig(source="wec", url=server.url(path),
                                                race_id="drift"), fetcher=_fetcher(),
                              recorder=False)
        state.files[path] = json.dumps(payload(3600.0)).encode()
        assert session.poll_once().status == "ok" and session.problem is None
        for i in range(3):
            frozen = payload(3600.0)
            frozen["params"]["airTemp"] = 25.0 + i  # new bytes, the same timing content
            state.files[path] = json.dumps(frozen).encode()
            result = session.poll_once()
            assert result.status == "duplicate"
        assert result.problem and result.problem.startswith("layout not understood: 3 ")
        assert store.live_state("drift")["problem"] == result.problem
        moved = payload(3700.0, laps=(31, 29))
        del moved["progressFlagState"]
        state.files[path] = json.dumps(moved).encode()
        result = session.poll_once()
        assert result.status == "ok" and result.laps == 2
        assert result.problem == "layout not understood: missing progressFlagState"
        assert store.live_state("drift")["problem"] == result.problem


def test_recording_replays_to_the_same_race(store: RaceStore, tmp_path: Path) -> None:
    """Every fetched payload is recorded; replaying the recording rebuilds the race."""
    from race.live.replay import Replay

    frames = official_frames(synthetic_lap_file())
    recorder = RawRecorder(tmp_path / "raw")
    run_feed(store, frames, "imsa", fault_every=1000, recorder=recorder)
    folder = recorder.folder("live-imsa")
    records = list(read_recording(folder))
    assert len(records) >= run_feed.__defaults__[0] if False else len(records) > 100
    assert all(set(r.payloads) == {"main", "flag"} for r in records)
    replay = Replay(store, str(folder), speed=float("inf"), race_id="replayed")
    status = replay.run()
    assert status.error is None and status.done
    live = store.table("laps", "live-imsa")
    again = store.table("laps", "replayed")
    cols = ["number", "lap_number", "lap_time_s", "elapsed_s", "in_lap", "stint_number"]
    assert live[cols].equals(again[cols])


REAL_SEGMENTS = {
    # (race, layout, end of the segment in s, poll step in s)
    "imsa": ("imsa/2021/14-lime-rock-park", "imsa", None, 15.0),
    "imsa-2026": ("imsa/2024/08-weathertech-raceway-laguna-seca", "imsa-2026", None, 15.0),
    "wec-current": ("wec/2025/cota-6h", "wec-current", 5400.0, 15.0),
    "wec-2017": ("wec/2024/fuji-6h", "wec-2017", 5400.0, 15.0),
    "wec-2026": ("wec/2025/spa-6h", "wec-2026", 5400.0, 15.0),
}


@pytest.mark.realdata
@requires_realdata
@pytest.mark.parametrize("name", sorted(REAL_SEGMENTS))
def test_real_race_with_faults(store: RaceStore, name: str) -> None:
    race, layout, end, step = REAL_SEGMENTS[name]
    path = REALDATA / race / "laps.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    frames = official_frames(path.read_bytes(), str(path))
    run = run_feed(store, frames, layout, step_s=step, end_s=end)
    figures = assert_matches_official(store, f"live-{layout}", frames, end_s=run["end"],
                                      pit_tolerance_s=step + 2, windows=run["windows"])
    if layout == "imsa-2026":
        assert_names_repaired(store, f"live-{layout}")
    if layout == "wec-2026":  # ``speed`` is the top speed: stored as the lap's top speed
        live = store.table("laps", f"live-{layout}").set_index(["number", "lap_number"])
        official = frames["laps"].set_index(["number", "lap_number"]).loc[live.index]
        assert (live["top_speed_kph"].round(2).fillna(-1)
                == official["top_speed_kph"].round(2).fillna(-1)).all()
        assert live["speed_kph"].isna().all()  # no lap average in the 2026 layout
    print(f"\n{race} [{layout}] {run['polls']} polls, {run['requests']} requests, "
          f"statuses {run['statuses']}, {figures}")
