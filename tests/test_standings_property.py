"""``classification --at t`` is consistent at arbitrary race times (seeded random t).

At every t: positions are a permutation of 1..N, class positions a permutation per class,
gaps never decrease down the order (compared as (laps behind, seconds)), no car has more laps
than the leader, and a car a lap or more down shows "N lap(s)". Runs on a synthetic race
written here (lapped cars, stops, a retirement, a yellow) and on several real races.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from race.importer import import_lap_file
from race.present.queries import load_prepared, race_state
from race.store import RaceStore
from tests.conftest import REALDATA, real_file_id, requires_realdata
from tests.lapfixture import fmt, render

REAL_RACES = ["wec/2019/le-mans-24h", "wec/2025/cota-6h", "imsa/2024/12-watkins-glen-international",
              "imsa/2023/08-long-beach-street-circuit", "imsa/2022/19-road-atlanta"]
SAMPLES_SYNTHETIC = 200
SAMPLES_REAL = 60


def synthetic_rows(seed: int = 7) -> list[dict[str, str]]:
    """12 cars in 3 classes, ~40 min: noise, stops, a long repair, a retirement, a yellow."""
    rng = random.Random(seed)
    classes = {"GTP": 92_000, "LMP2": 97_000, "GTD": 104_000}
    out = []
    for i in range(12):
        cls = list(classes)[i % 3]
        number = f"{i + 1:02d}" if i % 4 == 0 else str(i + 1)
        elapsed, driver, laps = 0, 1, 26 if i != 5 else 11  # car 6 retires
        pit_at = rng.randint(8, 14)
        for lap in range(1, laps + 1):
            lap_ms = classes[cls] + rng.randint(-600, 900) + (8_000 if lap == 1 else 0)
            flag = "FCY" if 1_300_000 < elapsed < 1_500_000 else "GF"
            if flag == "FCY":
                lap_ms += 25_000
            in_pit = "B" if lap == pit_at else ""
            pit = ""
            if lap == pit_at + 1:
                pit_ms = 70_000 + (400_000 if i == 4 else 0)  # car 5: long repair
                lap_ms += pit_ms
                pit, driver = fmt(pit_ms, hours=True), 2
            elapsed += lap_ms
            if elapsed > 2_460_000 and lap > 1:
                break  # the clock ran out: this car's race is over
            out.append({"NUMBER": number, "DRIVER_NUMBER": str(driver), "LAP_NUMBER": str(lap),
                        "LAP_TIME": fmt(lap_ms), "LAP_IMPROVEMENT": "0",
                        "CROSSING_FINISH_LINE_IN_PIT": in_pit, "S1": "", "S1_IMPROVEMENT": "0",
                        "S2": "", "S2_IMPROVEMENT": "0", "S3": "", "S3_IMPROVEMENT": "0",
                        "KPH": "150.0", "ELAPSED": fmt(elapsed),
                        "HOUR": fmt(36_000_000 + elapsed, hours=True), "S1_LARGE": "",
                        "S2_LARGE": "", "S3_LARGE": "", "TOP_SPEED": "",
                        "DRIVER_NAME": f"Driver {number}-{driver}", "PIT_TIME": pit,
                        "CLASS": cls, "GROUP": "", "TEAM": f"Team {number}",
                        "MANUFACTURER": "Make", "FLAG_AT_FL": flag})
    return out


def check_consistent(standings: pd.DataFrame, t_s: float) -> None:
    """The invariants of a running order at one time."""
    n = len(standings)
    where = f"at t={t_s:.3f}"
    assert sorted(standings["position"]) == list(range(1, n + 1)), where
    assert standings["position"].tolist() == list(range(1, n + 1)), where
    for cls, group in standings.groupby("class"):
        assert sorted(group["class_position"]) == list(range(1, len(group) + 1)), (cls, where)
        assert group["class_position"].is_monotonic_increasing, (cls, where)
    laps = standings["laps"].to_numpy()
    assert (laps <= laps[0]).all(), where
    assert (np.diff(laps) <= 0).all(), where
    _check_gaps(standings, "gap_to_leader", "gap_to_leader_s", laps[0], where)
    for cls, group in standings.groupby("class", sort=False):
        _check_gaps(group, "class_gap", "class_gap_s", group["laps"].iloc[0], f"{cls} {where}")
    for text in standings["interval"]:  # None/NaN (leader, no lap yet), "N laps" or ≥ 0 s
        assert pd.isna(text) or _is_laps_text(text) or (isinstance(text, float) and text >= 0)


def _is_laps_text(value: object) -> bool:
    if not isinstance(value, str):
        return False
    count, _, word = value.partition(" ")
    return count.isdigit() and word == ("lap" if count == "1" else "laps")


def _check_gaps(rows: pd.DataFrame, text_col: str, seconds_col: str, leader_laps: int,
                where: str) -> None:
    running = rows[rows["laps"] > 0]
    behind = leader_laps - running["laps"].to_numpy()
    seconds = running[seconds_col].to_numpy(dtype=float)
    assert not np.isnan(seconds).any(), where
    key = list(zip(behind, seconds, strict=True))
    assert all(a <= b for a, b in itertools.pairwise(key)), (text_col, where)
    for n_behind, s, text in zip(behind, seconds, running[text_col], strict=True):
        if n_behind >= 1:
            assert text == (f"{n_behind} lap" if n_behind == 1 else f"{n_behind} laps"), where
        else:
            assert isinstance(text, float) and text >= 0 and abs(text - round(s, 3)) < 1e-9
    assert rows.loc[rows["laps"] == 0, text_col].isna().all(), where


def sample_times(end_s: float, count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    fixed = [0.0, 0.001, end_s / 2, end_s, end_s + 100.0]
    return fixed + [rng.uniform(0.0, end_s) for _ in range(count)]


@pytest.fixture(scope="module")
def synthetic_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[RaceStore, str]:
    path = tmp_path_factory.mktemp("prop") / "imsa" / "2024" / "property-race" / "laps.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(render(synthetic_rows()))
    with RaceStore(path.parent / "race.duckdb") as store:
        yield store, import_lap_file(store, path).race_id


def test_synthetic_race_has_the_cases(synthetic_store: tuple[RaceStore, str]) -> None:
    store, race_id = synthetic_store
    final = race_state(store, race_id).standings
    assert final["laps"].iloc[0] - final["laps"].min() >= 2, "lapped cars"
    assert (final["status"] == "retired").any()
    assert store.table("flag_periods", race_id).shape[0] >= 1


def test_synthetic_race_consistent_at_any_time(synthetic_store: tuple[RaceStore, str]) -> None:
    store, race_id = synthetic_store
    prepared = load_prepared(store, race_id)
    end = float(prepared.laps["elapsed_s"].max())
    for t in sample_times(end, SAMPLES_SYNTHETIC, seed=1):
        check_consistent(race_state(store, race_id, t, prepared).standings, t)


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> RaceStore:
    with RaceStore(tmp_path_factory.mktemp("prop-real") / "race.duckdb") as store:
        yield store


@requires_realdata
@pytest.mark.realdata
@pytest.mark.parametrize("race", REAL_RACES)
def test_real_race_consistent_at_any_time(race: str, real_store: RaceStore) -> None:
    path = REALDATA / race / "laps.csv"
    if not path.exists():
        pytest.skip(f"{race} is not in the real data")
    race_id = import_lap_file(real_store, path).race_id
    prepared = load_prepared(real_store, race_id)
    end = float(prepared.laps["elapsed_s"].max())
    for t in sample_times(end, SAMPLES_REAL, seed=hash(real_file_id(Path(path))) % 1000):
        check_consistent(race_state(real_store, race_id, t, prepared).standings, t)
