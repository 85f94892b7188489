"""Every real lap file imports, and the derived tables follow DATA.md §2 on real quirks.

Expected values are recomputed here straight from the CSV with the ``csv`` module (an
independent reading), then compared with what the importer stored: per-car lap counts,
stint numbers (1 + PIT_TIME rows so far), pit stops (a pit-lane start is not a stop, a car
retiring in the pits has no stop, IMSA red-flag rows carry B and PIT_TIME on one long lap),
driver changes on PIT_TIME rows, and flag periods (neutralised laps overlap one, clean laps
never do, no period without a flag column unless inferred).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from race.importer import import_lap_file
from race.present.queries import official_comparison
from race.store import RaceStore
from tests.conftest import real_file_id, real_lap_files, requires_realdata

pytestmark = [pytest.mark.realdata, requires_realdata]

FILES = real_lap_files()
# IMSA red-flag stoppages written as B and PIT_TIME on one very long lap (DATA.md §1).
RED_FLAG_FILES = {"imsa/2021/13-weathertech-240---wgi",
                  "imsa/2022/11-watkins-glen-international",
                  "imsa/2024/12-watkins-glen-international"}
RED_FLAG_LAP_S = 600.0  # a lap this long with B + PIT_TIME is a stoppage, not a racing lap


@dataclass
class CarRows:
    """One car's rows as the file has them (independent of the project's parser)."""

    laps: list[int] = field(default_factory=list)
    in_pit: list[bool] = field(default_factory=list)
    pit_time: list[bool] = field(default_factory=list)
    driver: list[int] = field(default_factory=list)
    lap_time: list[str] = field(default_factory=list)


def read_csv_rows(path: Path) -> dict[str, CarRows]:
    """Rows per NUMBER, read with the csv module (separator from the header)."""
    text = path.read_bytes().decode("utf-8-sig")
    header = text.split("\n", 1)[0]
    sep = ";" if header.count(";") > header.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    names = [n.strip() for n in next(reader)]
    col = {n: i for i, n in enumerate(names)}
    cars: dict[str, CarRows] = defaultdict(CarRows)
    for row in reader:
        if not any(v.strip() for v in row):
            continue
        car = cars[row[col["NUMBER"]].strip()]
        car.laps.append(int(row[col["LAP_NUMBER"]]))
        car.in_pit.append(row[col["CROSSING_FINISH_LINE_IN_PIT"]].strip() == "B")
        car.pit_time.append(row[col["PIT_TIME"]].strip() != "")
        car.driver.append(int(row[col["DRIVER_NUMBER"]]))
        car.lap_time.append(row[col["LAP_TIME"]].strip())
    return dict(cars)


@dataclass
class Imported:
    race_id: str
    has_flag_column: bool
    csv_cars: dict[str, CarRows]
    laps: pd.DataFrame
    stops: pd.DataFrame
    stints: pd.DataFrame
    periods: pd.DataFrame
    cars: pd.DataFrame


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory):
    with RaceStore(tmp_path_factory.mktemp("realdata") / "race.duckdb") as store:
        yield store


@pytest.fixture(scope="module")
def imported_cache() -> dict[Path, Imported]:
    return {}


@pytest.fixture
def imported(request: pytest.FixtureRequest, real_store: RaceStore,
             imported_cache: dict[Path, Imported]) -> Imported:
    """The parametrised file, imported once per module, with its tables read back."""
    return load(request.param, real_store, imported_cache)


def load(path: Path, real_store: RaceStore, imported_cache: dict[Path, Imported]) -> Imported:
    """Import ``path`` into the module's store unless done already; read back its tables."""
    if path not in imported_cache:
        result = import_lap_file(real_store, path)
        rid = result.race_id
        header = path.read_bytes()[:2000].decode("utf-8-sig", "replace").split("\n", 1)[0]
        imported_cache[path] = Imported(
            race_id=rid, has_flag_column="FLAG_AT_FL" in header,
            csv_cars=read_csv_rows(path),
            laps=real_store.table("laps", rid),
            stops=real_store.table("pit_stops", rid),
            stints=real_store.table("stints", rid),
            periods=real_store.table("flag_periods", rid),
            cars=real_store.table("cars", rid))
    return imported_cache[path]


def by_file(test):
    """Parametrise a test over every real lap file, with ids like ``imsa/2023/12-…``."""
    return pytest.mark.parametrize("imported", FILES, ids=[real_file_id(p) for p in FILES],
                                   indirect=True)(test)


@by_file
def test_per_car_lap_counts_equal_the_file(imported: Imported) -> None:
    stored = imported.laps.groupby("number").size().to_dict()
    expected = {n: len(c.laps) for n, c in imported.csv_cars.items()}
    assert stored == expected
    cars = imported.cars.set_index("number")["laps"].to_dict()
    assert cars == {n: max(c.laps) for n, c in imported.csv_cars.items()}
    # Car numbers stay text: "07" and "7" are different cars.
    assert set(imported.laps["number"]) == set(imported.csv_cars)


@by_file
def test_stint_number_counts_pit_time_rows(imported: Imported) -> None:
    laps = imported.laps.set_index(["number", "lap_number"])
    for number, car in imported.csv_cars.items():
        # 1 + PIT_TIME rows so far; PIT_TIME on the car's first row is a pit-lane start.
        stops = np.array(car.pit_time, dtype=int)
        stops[0] = 0
        expected = 1 + np.cumsum(stops)
        stored = laps.loc[number, "stint_number"].loc[car.laps].to_numpy()
        assert (stored == expected).all(), f"car {number}"
        assert bool(imported.cars.set_index("number").loc[number, "pit_lane_start"]) == (
            car.pit_time[0]), f"car {number}"


@by_file
def test_pit_stops_follow_the_rules(imported: Imported) -> None:
    stops = imported.stops
    for number, car in imported.csv_cars.items():
        mine = stops[stops["number"] == number].sort_values("stop_number")
        out_laps = [lap for i, lap in enumerate(car.laps) if i > 0 and car.pit_time[i]]
        assert mine["out_lap"].tolist() == out_laps, f"car {number}"
        assert mine["stop_number"].tolist() == list(range(1, len(out_laps) + 1))
        index = {lap: i for i, lap in enumerate(car.laps)}
        for stop in mine.itertuples():
            i = index[stop.out_lap]
            if car.in_pit[i - 1]:
                assert stop.in_lap == car.laps[i - 1], f"car {number} stop {stop.stop_number}"
            elif car.in_pit[i]:  # B and PIT_TIME on one lap: in and out on the same row
                assert stop.in_lap == stop.out_lap, f"car {number} stop {stop.stop_number}"
            else:
                assert pd.isna(stop.in_lap), f"car {number} stop {stop.stop_number}"
            assert bool(stop.driver_change) == (car.driver[i] != car.driver[i - 1])
        # A car retiring in the pits: last row B, no stop after it.
        if car.in_pit[-1] and not car.pit_time[-1]:
            assert car.laps[-1] not in set(mine["in_lap"].dropna()), f"car {number}"
    assert stops["pit_time_s"].gt(0).all()


@by_file
def test_driver_changes_happen_at_stops(imported: Imported) -> None:
    changes = off_stop = 0
    for car in imported.csv_cars.values():
        for i in range(1, len(car.laps)):
            if car.driver[i] != car.driver[i - 1]:
                changes += 1
                off_stop += not car.pit_time[i]
    # 6,924 of 6,934 changes across the real files are on PIT_TIME rows (DATA.md §1).
    assert off_stop <= max(2, changes // 50)
    assert int(imported.stops["driver_change"].sum()) == changes - off_stop


@by_file
def test_stints_partition_each_car(imported: Imported) -> None:
    stints = imported.stints.sort_values(["number", "stint_number"])
    for number, car in imported.csv_cars.items():
        mine = stints[stints["number"] == number]
        assert mine["stint_number"].tolist() == list(range(1, len(mine) + 1))
        assert len(mine) == 1 + sum(car.pit_time[1:]), f"car {number}"
        assert mine["laps"].sum() == len(car.laps)
        assert mine["first_lap"].iloc[0] == car.laps[0]
        assert mine["last_lap"].iloc[-1] == car.laps[-1]
        assert (mine["first_lap"].iloc[1:].to_numpy()
                == mine["last_lap"].iloc[:-1].to_numpy() + 1).all()
    assert (stints["clean_laps"] <= stints["laps"]).all()


@by_file
def test_flag_periods_and_neutralised_laps(imported: Imported) -> None:
    periods, laps = imported.periods, imported.laps
    if not imported.has_flag_column:
        assert periods["inferred"].all(), "a file without flags may only have inferred periods"
    else:
        assert not periods["inferred"].any()
        if laps["flag"].isin(["GF", "FF"]).all():
            assert periods.empty
    starts, ends = periods["start_s"].to_numpy(), periods["end_s"].to_numpy()
    assert (starts <= ends).all()
    assert (starts[1:] >= ends[:-1]).all(), "periods are sorted and disjoint"

    def overlaps(frame: pd.DataFrame) -> np.ndarray:
        s = frame["start_s"].to_numpy()[:, None]
        e = frame["elapsed_s"].to_numpy()[:, None]
        return ((starts[None, :] < e) & (ends[None, :] > s)).any(axis=1)

    neutral = laps[laps["neutralised"]]
    assert overlaps(neutral).all(), "every neutralised lap overlaps a period"
    clean = laps[laps["clean"]]
    assert not overlaps(clean).any(), "no clean lap overlaps a period"
    assert not (clean["in_lap"] | clean["out_lap"] | clean["lap_number"].eq(1)).any()
    # Every non-green crossing lies inside the period rebuilt around it.
    if imported.has_flag_column:
        red = laps[laps["flag"].notna() & ~laps["flag"].isin(["GF", "FF"])]
        t = red["elapsed_s"].to_numpy()[:, None]
        assert ((starts[None, :] <= t) & (ends[None, :] >= t)).any(axis=1).all()


@pytest.mark.parametrize("imported", [p for p in FILES if real_file_id(p) in RED_FLAG_FILES],
                         ids=lambda p: real_file_id(p), indirect=True)
def test_imsa_red_flag_rows_are_one_stop(imported: Imported) -> None:
    """B and PIT_TIME on one very long lap: one stop, in-lap = out-lap, neutralised."""
    laps = imported.laps
    red = laps[laps["crossing_in_pit"] & laps["pit_time_s"].notna() & laps["lap_number"].gt(1)
               & laps["lap_time_s"].gt(RED_FLAG_LAP_S)]
    assert len(red) >= 5, "the red-flag quirk is in this file"
    stops = imported.stops.set_index(["number", "out_lap"])
    for row in red.itertuples():
        stop = stops.loc[(row.number, row.lap_number)]
        # In-lap = this row, unless the car already crossed in the pit lane the lap before.
        assert stop["in_lap"] in (row.lap_number, row.lap_number - 1)
        assert bool(stop["neutralised"])
    assert red["neutralised"].all()
    assert red["stint_number"].gt(1).all()


def test_official_classification_matches(real_store: RaceStore,
                                         imported_cache: dict[Path, Imported]) -> None:
    """Final order rebuilt from laps vs official IMSA results: ≥ 95 % of classified cars
    have the official class position and laps; every mismatch has a named reason."""
    imsa = [p for p in FILES if p.parts[-4] == "imsa"
            and any(q.name.lower().endswith("results.csv") for q in p.parent.iterdir())]
    frames = []
    for path in imsa:
        race_id = load(path, real_store, imported_cache).race_id
        frames.append(official_comparison(real_store, race_id).assign(race_id=race_id))
    rows = pd.concat(frames, ignore_index=True)
    assert rows["race_id"].nunique() == len(imsa)
    rate = rows["match"].mean()
    assert rate >= 0.95, f"{rows['match'].sum()}/{len(rows)} = {rate:.2%}"
    assert not rows.loc[~rows["match"], "reason"].isin(["", "unexplained"]).any()
