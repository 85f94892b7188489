"""The synthetic sample race: file format, the real files' invariants, race realism, CLI."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from race.importer import build_race_frames
from race.sample import (
    generate_sample_race,
    load_sample_race,
    sample_event,
    simulate_sample_laps,
    write_sample_race,
)
from race.sources.lapfile import parse_lap_file
from race.synthetic.entries import build_entries, series_spec
from race.synthetic.simulate import RaceSimulation

ROOT = Path(__file__).resolve().parent.parent
HOURS = 6.0


def _ms(series: pd.Series) -> np.ndarray:
    return np.round(series.to_numpy(dtype=float) * 1000).astype(np.int64)


@pytest.fixture(scope="module")
def wec_bytes() -> bytes:
    return generate_sample_race(HOURS, 1, "WEC")


@pytest.fixture(scope="module")
def wec(wec_bytes: bytes) -> dict[str, pd.DataFrame]:
    return build_race_frames(parse_lap_file(wec_bytes, "sample.csv"))


@pytest.fixture(scope="module")
def imsa_bytes() -> bytes:
    return generate_sample_race(3.0, 2, "IMSA")


# -- format ------------------------------------------------------------------------------
def test_wec_file_is_variant_b(wec_bytes: bytes) -> None:
    assert wec_bytes.startswith(b"\xef\xbb\xbf")
    lines = wec_bytes[3:].split(b"\r\n")
    assert lines[-1] == b"" and all(b"\n" not in line for line in lines)
    header = [h.strip() for h in lines[0].decode().split(";")]
    assert len(header) == 30 and header[-1] == ""
    assert header[25:29] == ["FLAG_AT_FL", "S1_SECONDS", "S2_SECONDS", "S3_SECONDS"]
    assert all(line.endswith(b";") for line in lines[:-1])
    laps = parse_lap_file(wec_bytes, "sample.csv")
    assert laps["s1_seconds_s"].notna().all()
    assert (_ms(laps["s1_seconds_s"]) == _ms(laps["s1_s"])).all()
    assert (_ms(laps["s2_large_s"]) == _ms(laps["s2_s"])).all()


def test_imsa_file_is_variant_c(imsa_bytes: bytes) -> None:
    assert imsa_bytes.startswith(b"\xef\xbb\xbf") and b"\r\n" not in imsa_bytes
    header = imsa_bytes[3:].split(b"\n")[0].decode()
    assert header.startswith("NUMBER, DRIVER_NUMBER,") and header.endswith("FLAG_AT_FL,")
    assert b'"' in imsa_bytes  # a team name with a comma is quoted
    laps = parse_lap_file(imsa_bytes, "sample.csv")
    assert laps["s1_seconds_s"].isna().all() and laps["top_speed_kph"].isna().all()
    assert set(laps["flag"]) <= {"GF", "FCY", "FF"}  # IMSA shows safety cars as FCY
    assert laps["team"].str.contains(",").any()
    assert laps["class"].nunique() == 4


def test_deterministic_for_a_seed() -> None:
    a = generate_sample_race(1.5, 7, "WEC")
    assert a == generate_sample_race(1.5, 7, "WEC")
    assert a != generate_sample_race(1.5, 8, "WEC")
    assert generate_sample_race(1.0, 3, "IMSA") == generate_sample_race(1.0, 3, "IMSA")


@pytest.mark.parametrize(("hours", "seed", "series"), [
    (0, 1, "WEC"), (-1, 1, "WEC"), (30.5, 1, "WEC"), (float("nan"), 1, "WEC"),
    (6, -1, "WEC"), (6, 1, "F1"),
])
def test_bad_arguments_raise(hours: float, seed: int, series: str) -> None:
    from race.errors import ValidationError
    with pytest.raises(ValidationError):
        generate_sample_race(hours, seed, series)


# -- invariants of the real files ----------------------------------------------------------
def test_times_add_up_exactly(wec: dict[str, pd.DataFrame]) -> None:
    laps = wec["laps"]
    lap = _ms(laps["lap_time_s"])
    assert (_ms(laps["s1_s"]) + _ms(laps["s2_s"]) + _ms(laps["s3_s"]) == lap).all()
    elapsed = _ms(laps["elapsed_s"])
    first = laps["lap_number"].to_numpy() == 1
    assert (elapsed[first] == lap[first]).all()
    step = np.diff(elapsed)
    same_car = laps["number"].to_numpy()[1:] == laps["number"].to_numpy()[:-1]
    assert (step[same_car] == lap[1:][same_car]).all()
    starts = laps.groupby("number", sort=False)["lap_number"].agg(["min", "max", "size"])
    assert (starts["min"] == 1).all() and (starts["max"] == starts["size"]).all()
    hour0 = (_ms(laps["hour_of_day_s"]) - elapsed) % 86_400_000
    assert len(np.unique(hour0)) == 1


def test_speed_matches_track_length(wec: dict[str, pd.DataFrame]) -> None:
    laps = wec["laps"]
    length = series_spec("WEC", HOURS).track.length_km
    expected = length * 3600 / laps["lap_time_s"]
    assert (laps["speed_kph"] - expected).abs().max() <= 0.051
    green = laps[laps["clean"]]
    assert green["top_speed_kph"].between(240, 330).all()
    assert laps.loc[laps["lap_number"] == 1, "top_speed_kph"].isna().all()


def test_improvement_markers(wec: dict[str, pd.DataFrame]) -> None:
    laps = wec["laps"]
    assert (laps.loc[laps["lap_number"] == 1, ["lap_improvement", "s1_improvement",
                                               "s2_improvement", "s3_improvement"]] == 0
            ).all().all()
    counted = laps[laps["lap_number"] > 1]
    marked = counted[counted["lap_improvement"] > 0]
    assert marked.groupby("number").size().eq(1).all()
    assert set(marked["number"]) == set(laps["number"][laps["lap_number"] > 1])
    best = counted.groupby("number")["lap_time_s"].min()
    assert (marked.set_index("number")["lap_time_s"] == best.loc[marked["number"]]).all()
    session = marked[marked["lap_improvement"] == 3]
    assert len(session) == 1 and session["lap_time_s"].iloc[0] == counted["lap_time_s"].min()
    for k in (1, 2, 3):
        marks = counted[f"s{k}_improvement"]
        assert (marks == 3).sum() == 1
        assert counted.loc[marks == 3, f"s{k}_s"].iloc[0] == counted[f"s{k}_s"].min()
        car_best = counted[marks >= 2].groupby("number").size()
        assert car_best.eq(1).all()
        assert set(marks.unique()) <= {0, 1, 2, 3} and (marks == 1).any()


def test_field_shape(wec: dict[str, pd.DataFrame]) -> None:
    laps, drivers = wec["laps"], wec["drivers"]
    assert 2 <= laps["class"].nunique() <= 4
    assert 20 <= laps["number"].nunique() <= 60
    finishers = laps.loc[laps["flag"] == "FF", "number"]
    per_car = drivers.groupby("number").size()
    assert per_car.between(1, 3).all() and per_car[finishers].between(2, 3).all()
    assert (per_car == 3).mean() > 0.5
    numbers = laps["number"].unique()
    assert any(n.startswith("0") for n in numbers)
    assert laps["team"].notna().all() and laps["manufacturer"].notna().all()


def test_class_pace_and_licences() -> None:
    laps, _spec, entries = simulate_sample_laps(HOURS, 1, "WEC")
    frames = build_race_frames(parse_lap_file(generate_sample_race(HOURS, 1, "WEC"), "s"))
    clean = frames["laps"][frames["laps"]["clean"]]
    median = clean.groupby("class")["lap_time_s"].median()
    assert 93 < median["HYPERCAR"] < median["LMP2"] < median["LMGT3"] < 112
    assert median["LMGT3"] - median["HYPERCAR"] > 9
    licence = {(e.number, i + 1): d.licence for e in entries for i, d in enumerate(e.drivers)}
    gt = clean[clean["class"] == "LMGT3"]
    level = [licence[(n, d)] for n, d in zip(gt["number"], gt["driver_number"], strict=True)]
    by_level = gt.groupby(np.array(level))["lap_time_s"].median()
    assert by_level["Bronze"] - by_level["Platinum"] > 1.0
    assert by_level["Platinum"] < by_level["Silver"] < by_level["Bronze"]
    assert len(laps) == len(frames["laps"])


def test_noise_and_tyre_fade(wec: dict[str, pd.DataFrame]) -> None:
    clean = wec["laps"][wec["laps"]["clean"]]
    residual = clean["lap_time_s"] - clean.groupby(["number", "stint_number"])[
        "lap_time_s"].transform("median")
    sigma = 1.4826 * (residual - residual.median()).abs().median()
    assert 0.4 <= sigma <= 1.2
    slope = np.polyfit(clean["lap_in_stint"], residual, 1)[0]
    assert 0.005 < slope < 0.06  # tyres fade faster than the fuel load lightens the car


def test_stints_end_in_stops_and_drivers_change_only_there(
        wec: dict[str, pd.DataFrame]) -> None:
    laps, stops, stints = wec["laps"], wec["pit_stops"], wec["stints"]
    prev_same = laps["number"].eq(laps["number"].shift())
    change = prev_same & laps["driver_number"].ne(laps["driver_number"].shift())
    assert change.any() and laps.loc[change, "pit_time_s"].notna().all()
    has_pit = laps["pit_time_s"].notna()
    # PIT_TIME on the out-lap, after a B in-lap; a B lap is followed by the stop unless it
    # is the car's last row (retired in the pits).
    assert (has_pit & prev_same).eq(has_pit).all()
    assert laps["crossing_in_pit"].shift().fillna(False).astype(bool)[has_pit].all()
    next_same = laps["number"].eq(laps["number"].shift(-1))
    assert has_pit.shift(-1).fillna(False).astype(bool)[laps["crossing_in_pit"]
                                                        & next_same].all()
    assert 60 <= stops["pit_time_s"].median() <= 100
    assert stops["pit_time_s"].quantile(0.9) <= 100
    assert stops["driver_change"].any() and not stops["driver_change"].all()
    full = stints[stints["ended_in_pit"].astype(bool)]
    assert 20 <= full["laps"].median() <= 35
    assert (stops.groupby("number").size() >= 4).mean() > 0.8


def test_incidents(wec: dict[str, pd.DataFrame]) -> None:
    laps, stops = wec["laps"], wec["pit_stops"]
    last = laps.groupby("number", sort=False).tail(1)
    retired = last[last["flag"] != "FF"]
    assert len(retired) >= 1
    assert (stops["pit_time_s"] > 300).any()  # a long repair
    # A spin: a green racing lap 5–25 s off the car's stint pace.
    racing = laps[(laps["lap_number"] > 1) & ~laps["in_lap"] & ~laps["out_lap"]
                  & ~laps["neutralised"] & ~laps["restart_lap"]]
    off = racing["lap_time_s"] - racing.groupby(["number", "stint_number"])[
        "lap_time_s"].transform("median")
    assert off.between(5, 25).any()


def test_flags_are_consistent_across_cars(wec: dict[str, pd.DataFrame]) -> None:
    laps, periods = wec["laps"], wec["flag_periods"]
    assert len(periods) >= 2 and {"FCY", "SF"} <= set(periods["flag"])
    neutral = laps[laps["flag"].isin(["FCY", "SF"])]
    for row in periods.itertuples():
        inside = laps[(laps["elapsed_s"] > row.start_s) & (laps["elapsed_s"] < row.end_s)]
        assert (inside["flag"] == row.flag).all()
        running = laps[(laps["start_s"] < row.start_s)]["number"].nunique()
        if row.end_s - row.start_s > 300:  # longer than any lap: every running car saw it
            assert inside["number"].nunique() >= 0.8 * running
    covered = np.zeros(len(neutral), dtype=bool)
    for row in periods.itertuples():
        covered |= ((neutral["elapsed_s"] >= row.start_s) & (neutral["elapsed_s"] <= row.end_s)
                    & (neutral["flag"] == row.flag)).to_numpy()
    assert covered.all()
    share = laps["neutralised"].mean()
    assert 0.03 <= share <= 0.4
    sc_laps = laps[laps["flag"].eq("SF") & laps["neutralised"] & ~laps["in_lap"]
                   & ~laps["out_lap"] & (laps["start_s"] > periods["start_s"].min())]
    hyper_green = laps.loc[laps["clean"] & laps["class"].eq("HYPERCAR"), "lap_time_s"]
    assert sc_laps["lap_time_s"].median() > 1.4 * hyper_green.median()


def test_chequered_flag(wec: dict[str, pd.DataFrame]) -> None:
    laps = wec["laps"]
    ff = laps[laps["flag"] == "FF"]
    first = ff.loc[ff["elapsed_s"].idxmin()]
    assert first["elapsed_s"] >= HOURS * 3600
    assert first["lap_number"] == laps["lap_number"].max()  # the leader finishes first
    assert not laps.loc[laps["elapsed_s"] > first["elapsed_s"], "flag"].ne("FF").any()
    assert ff.groupby("number").size().eq(1).all()
    last = laps.groupby("number", sort=False).tail(1)
    assert (last.loc[last["flag"] == "FF"].index == ff.index).all() or set(
        ff.index) <= set(last.index)
    assert ff["elapsed_s"].max() - first["elapsed_s"] < 3 * 60
    before_time = laps[laps["elapsed_s"] < HOURS * 3600]
    assert (before_time["flag"] != "FF").all()


def test_prototypes_lose_time_in_gt_traffic() -> None:
    spec = series_spec("WEC", 2.0)
    entries = build_entries(spec, random.Random(5), 2.0)
    protos = [e for e in entries if e.cls.name != "LMGT3"]

    def hypercar_median(field: list) -> float:
        laps = RaceSimulation(spec, field, [], [], 7200.0, random.Random(9)).run()
        hyper = np.array([field[c].cls.name == "HYPERCAR" for c in laps["car"]])
        racing = (hyper & (laps["lap_number"] > 2) & ~laps["in_pit"].astype(bool)
                  & laps["pit_ms"].isna())
        return float(((laps["end_ms"] - laps["start_ms"])[racing] / 1000).median())

    assert hypercar_median(entries) - hypercar_median(protos) > 0.25


def test_night_is_slower_in_a_24_hour_race() -> None:
    frames = build_race_frames(parse_lap_file(generate_sample_race(24, 1, "WEC"), "s"))
    laps = frames["laps"]
    clean = laps[laps["clean"] & laps["class"].eq("HYPERCAR")]
    hour = (clean["hour_of_day_s"] // 3600).astype(int)
    night = clean.loc[hour.isin([0, 1, 2, 3]), "lap_time_s"].median()
    day = clean.loc[hour.isin([10, 11, 12, 13]), "lap_time_s"].median()
    assert night - day > 1.0
    assert 20 <= laps["number"].nunique() <= 60


# -- loading and the command line ----------------------------------------------------------
def test_load_sample_race_imports_into_duckdb(store, tmp_path: Path) -> None:
    calls: list[tuple[float, str]] = []
    result = load_sample_race(store, hours=2.0, seed=3, series="WEC",
                              progress=lambda f, t: calls.append((f, t)), folder=tmp_path)
    assert result.race_id == "wec-2025-sample-2h-seed3-race" and not result.unchanged
    assert (tmp_path / f"wec-{sample_event(2.0, 3)}.csv").exists()
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(calls) >= 3
    races = store.races()
    assert result.race_id in set(races["race_id"])
    laps = store.table("laps", result.race_id)
    assert len(laps) == result.laps and laps["neutralised"].any()
    again = load_sample_race(store, hours=2.0, seed=3, series="WEC", folder=tmp_path)
    assert again.unchanged


def test_write_sample_race(tmp_path: Path) -> None:
    path = write_sample_race(tmp_path / "sub" / "s.csv", hours=1, seed=2, series="IMSA")
    assert path.read_bytes() == generate_sample_race(1, 2, "IMSA")


def _cli(*args: str, env_db: Path | None = None) -> subprocess.CompletedProcess:
    import os
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if env_db is not None:
        env["RACE_DB"] = str(env_db)
    return subprocess.run([sys.executable, "-m", "race", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)


def test_cli_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    done = _cli("sample", "--hours", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == generate_sample_race(1, 1, "WEC")
    assert not (tmp_path / "race.duckdb").exists()


def test_cli_imports_and_prints_the_race_id(tmp_path: Path) -> None:
    db = tmp_path / "race.duckdb"
    done = _cli("sample", "--hours", "1", "--seed", "4", "--series", "IMSA",
                "--out", str(tmp_path / "i.csv"), "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "imsa-2025-sample-1h-seed4-race" in done.stdout
    listed = _cli("races", "--db", str(db), "--json")
    assert "imsa-2025-sample-1h-seed4-race" in listed.stdout


@pytest.mark.parametrize("args", [["--hours", "0"], ["--hours", "31"], ["--hours", "x"],
                                  ["--seed", "-2"], ["--series", "F1"]])
def test_cli_bad_values(args: list[str], tmp_path: Path) -> None:
    done = _cli("sample", *args, "--out", str(tmp_path / "x.csv"))
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


def test_cli_help() -> None:
    done = _cli("sample", "--help")
    assert done.returncode == 0 and "--hours" in done.stdout and "--seed" in done.stdout
