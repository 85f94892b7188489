"""``python -m race probe``: one payload, from a file or through the real fetch path, and
what the project understood of it — checked against the truth it was made from."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from race.cli import main
from race.sources.replay import FeedBuilder
from tests.live_helpers import (
    FEED_PATHS,
    IMSA_HEADERS,
    CachingFeedServer,
    FeedState,
    cache_busters,
    official_frames,
    synthetic_lap_file,
)
from tests.test_live_wec2026 import START, payload

NEUTRAL = ("FCY", "SF", "RF")


def run_probe(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(["probe", *args])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, body: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(body)
    return str(path)


def test_probe_hand_written_wec_2026_payload(tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    file = write(tmp_path, "data.json", json.dumps(payload()).encode())
    code, out, err = run_probe(capsys, "--source", "wec", file, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == {"source", "layout", "session", "cars", "missing", "warnings"}
    assert report["source"] == "wec" and report["layout"] == "wec-2026"
    session = report["session"]
    assert session["elapsed_s"] == 3605.25 and session["remaining_s"] == 21600 - 3605.25
    assert session["session"] == "Race" and session["flag"] == "SF"
    assert session["weather"]["airTemp"] == 21.5 and session["weather"]["windDirection"] == 225
    periods = session["flag_periods"]
    assert [p for p in periods if p["flag"] in NEUTRAL] == [
        {"flag": "FCY", "start_s": 1200.0, "end_s": 1500.5},
        {"flag": "SF", "start_s": 3000.0, "end_s": None}]
    assert periods[-1]["end_s"] is None  # the open period
    cars = {c["number"]: c for c in report["cars"]}
    assert cars["7"] == {"number": "7", "class": "HYPERCAR", "position": 1,
                         "class_position": 1, "laps": 30, "driver": "Kamui KOBAYASHI",
                         "team": "Toyota Gazoo Racing", "last_lap_s": 209.0,
                         "best_lap_s": 207.1, "pit_stops": 2, "in_pit": False,
                         "state": "Run"}
    assert cars["51"]["driver"] == "Alessandro PIER GUIDI"  # driverId 1 is no one: the text
    assert cars["51"]["in_pit"] is True and cars["51"]["class_position"] == 1
    assert report["missing"] == []
    assert any("driverId" in w for w in report["warnings"])


def test_probe_table_is_readable(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    file = write(tmp_path, "data.json", json.dumps(payload()).encode())
    code, out, _ = run_probe(capsys, "--source", "wec", file)
    assert code == 0
    assert "layout wec-2026" in out and "elapsed 1:00:05" in out
    assert "FCY 0:20:00–0:25:00" in out and "SF 0:50:00–now" in out
    row = next(line for line in out.splitlines() if "Kamui KOBAYASHI" in line)
    assert "3:29.000" in row and "3:27.100" in row and "HYPERCAR" in row
    assert "2 cars" in out


def _truth_at(frames: dict[str, pd.DataFrame], t: float) -> pd.DataFrame:
    """Each car at race time t, from its laps alone: laps, last and best lap, driver, stops
    (in-laps crossed), position and class position by laps then earlier last crossing."""
    laps = frames["laps"]
    done = laps[laps["elapsed_s"] <= t].sort_values(["number", "lap_number"])
    rows = []
    now = laps[laps["elapsed_s"] > t].sort_values(["number", "lap_number"])
    driving = now.groupby("number")["driver_name"].first()  # the lap under way
    for number, car in done.groupby("number"):
        times = car["lap_time_s"].to_numpy(dtype=float)
        rows.append({"number": number, "class": car["class"].iloc[-1], "laps": len(car),
                     "last": times[-1], "best": np.nanmin(times[1:]) if len(car) > 1
                     else math.nan, "driver": car["driver_name"].iloc[-1],
                     "driving": driving.get(number, car["driver_name"].iloc[-1]),
                     "crossed": car["elapsed_s"].iloc[-1],
                     "stops": int(car["in_lap"].sum())})
    truth = pd.DataFrame(rows).sort_values(["laps", "crossed"], ascending=[False, True])
    truth["position"] = np.arange(1, len(truth) + 1)
    truth["class_position"] = truth.groupby("class").cumcount() + 1
    return truth.set_index("number")


@pytest.mark.parametrize("t", [700.0, 1300.0, 2100.0])
def test_probe_every_car_right_on_a_built_wec_2026_payload(
        tmp_path: Path, capsys: pytest.CaptureFixture, t: float) -> None:
    """A 2026 payload built from a synthetic race: laps, positions, driver (First LAST),
    last and best lap and stops right for every car, each neutral period at its time."""
    frames = official_frames(synthetic_lap_file(seed=7))
    builder = FeedBuilder(frames["laps"], frames["flag_periods"], event="Probe Test",
                          start_epoch_ms=START)
    file = write(tmp_path, "data.json", builder.payloads(t, "wec-2026")["main"])
    code, out, err = run_probe(capsys, "--source", "wec", file, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["session"]["elapsed_s"] == pytest.approx(t, abs=1e-3)
    truth = _truth_at(frames, t)
    cars = {c["number"]: c for c in report["cars"]}
    assert set(cars) >= set(truth.index)
    for number, want in truth.iterrows():
        got = cars[number]
        assert got["laps"] == want["laps"], number
        assert got["position"] == want["position"], number
        assert got["class_position"] == want["class_position"], number
        # after a driver change the feed names the new driver from the pit stop on
        assert got["driver"] in (want["driver"], want["driving"]), number
        assert got["last_lap_s"] == pytest.approx(want["last"], abs=1e-3), number
        if not math.isnan(want["best"]):
            assert got["best_lap_s"] == pytest.approx(want["best"], abs=1e-3), number
        # the feed counts a stop from the pit entry, a few seconds before the in-lap ends
        assert got["pit_stops"] in (want["stops"], want["stops"] + 1), number
    neutral = [p for p in report["session"]["flag_periods"] if p["flag"] in NEUTRAL]
    stored = frames["flag_periods"]
    started = stored[stored["start_s"] <= t]
    assert len(neutral) == len(started)
    for period, (_, row) in zip(neutral, started.iterrows(), strict=True):
        assert period["flag"] == row["flag"]
        assert period["start_s"] == pytest.approx(row["start_s"], abs=1e-3)


def test_probe_through_the_fetch_path_behind_the_imsa_cdn(
        capsys: pytest.CaptureFixture) -> None:
    """A URL goes through the live session's fetch path: the IMSA CDN gets its headers and
    a fresh cache-buster, and the 2026 layout is recognised."""
    frames = official_frames(synthetic_lap_file(accents=True))
    builder = FeedBuilder(frames["laps"], frames["flag_periods"], event="Probe Test")
    state = FeedState(builder=builder, layout="imsa-2026", clock=1500.0)
    main_path, flag_path = FEED_PATHS["imsa-2026"]
    with CachingFeedServer(state, required_headers=IMSA_HEADERS) as server:
        code, out, err = run_probe(
            capsys, "--source", "imsa", server.url(main_path) + "?callback=jsonpRaceResults",
            "--flag-url", server.url(flag_path) + "?callback=jsonpRaceData", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["layout"] == "imsa-2026"
    assert not any(c["number"].startswith("Tx") for c in report["cars"])
    drivers = {c["driver"] for c in report["cars"]}
    assert not any("Ã" in (d or "") for d in drivers)
    assert cache_busters(state, main_path) and None not in cache_busters(state, main_path)


@pytest.mark.parametrize("body", [b"", b"<html>502 Bad Gateway</html>", b"[1, 2]",
                                  b'{"params": {}, "entries": {"a": 1}}', b"\xff\xfe\x00junk"])
def test_probe_unreadable_payload_exits_2_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture, body: bytes) -> None:
    file = write(tmp_path, "bad.json", body)
    code, out, err = run_probe(capsys, "--source", "wec", file)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) <= 300


def test_probe_missing_file_and_missing_fields(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_probe(capsys, "--source", "wec", str(tmp_path / "none.json"))
    assert code == 2 and err.startswith("error: ") and "none.json" in err
    moved = payload()
    del moved["progressFlagState"]
    file = write(tmp_path, "moved.json", json.dumps(moved).encode())
    code, out, _ = run_probe(capsys, "--source", "wec", file, "--json")
    assert code == 1  # read, but not fully understood
    assert "progressFlagState" in json.loads(out)["missing"]
