"""Replays: a stored race or a lap file played through the live path loses nothing, at any
speed, with pause, resume and seek (backwards restarts the replay race)."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest

from race.errors import NotFoundError, RaceDataError
from race.importer import import_lap_file
from race.live.replay import Replay, parse_speed
from race.store import RaceStore
from tests.lapfixture import render
from tests.live_helpers import assert_matches_official, official_frames, synthetic_rows


@pytest.fixture
def lap_file(tmp_path: Path) -> Path:
    path = tmp_path / "wec" / "2026" / "replay-6h" / "laps.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(render(synthetic_rows()))
    return path


def test_speeds() -> None:
    assert parse_speed("max") == math.inf and parse_speed("100x") == 100.0
    assert parse_speed(1) == 1.0 and parse_speed("1000") == 1000.0
    for bad in ("0", "2000", "fast", "-3"):
        with pytest.raises(RaceDataError):
            parse_speed(bad)


def test_a_stored_race_replays_exactly(store: RaceStore, lap_file: Path) -> None:
    race_id = import_lap_file(store, lap_file, series="WEC").race_id
    status = Replay(store, race_id, speed=math.inf).run()
    assert status.done and status.error is None
    frames = official_frames(lap_file.read_bytes())
    # polls placed so nothing is lost: every lap exactly, flags exact at these polls
    assert_matches_official(store, f"replay-{race_id}", frames, pit_tolerance_s=120.0,
                            windows=[(0.0, math.inf)])
    live = store.live_state(f"replay-{race_id}")
    assert not live["active"] and store.race(f"replay-{race_id}")["laps"] == len(
        frames["laps"])
    with pytest.raises(NotFoundError, match="no race 'missing'"):
        Replay(store, "missing")


def test_pause_resume_and_seek(store: RaceStore, lap_file: Path) -> None:
    clock = {"slept": 0.0}

    def fake_sleep(seconds: float) -> None:  # wall time passes instantly
        clock["slept"] += seconds

    replay = Replay(store, str(lap_file), speed=100.0, race_id="replayed", sleep=fake_sleep)
    status = replay.run(until_s=900.0)
    assert status.race_time_s == pytest.approx(900.0)
    # 900 s of race at 100×: 9 s of wall time, less the time the polls took themselves;
    # a poll every ~10 s of race time
    assert 2.0 < clock["slept"] <= 9.05 and status.polls >= 85
    laps_at_900 = len(store.table("laps", "replayed"))
    replay.seek(300.0)  # backwards: the replay race starts again and catches up to 300 s
    status = replay.run(until_s=600.0)
    laps = store.table("laps", "replayed")
    assert laps["elapsed_s"].max() <= 600.0 and 0 < len(laps) < laps_at_900
    assert not laps.duplicated(["number", "lap_number"]).any()


def test_pause_holds_the_race(store: RaceStore, lap_file: Path) -> None:
    replay = Replay(store, str(lap_file), speed=1000.0, race_id="paused")
    thread = threading.Thread(target=replay.run, daemon=True)
    replay.pause()
    thread.start()
    time.sleep(0.5)
    assert replay.status().paused and replay.status().polls == 0
    replay.resume()
    deadline = time.monotonic() + 30
    while replay.status().polls < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    replay.stop()
    thread.join(timeout=30)
    assert replay.status().done and replay.status().polls >= 3
