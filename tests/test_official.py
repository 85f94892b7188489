"""Rebuilt vs official classification: every mismatch gets its reason; red-flag countback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from race.analysis.official import compare_classification
from race.analysis.standings import final_order_time_s
from race.importer import import_lap_file
from race.present.queries import load_prepared, race_state
from race.store import RaceStore
from tests.lapfixture import render, rows


def _official(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["number", "class", "position", "laps", "total_time_s",
                                        "status"])
    frame["class_position"] = frame.sort_values("position").groupby("class").cumcount() + 1
    return frame


def _rebuilt(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["number", "class", "laps", "last_crossing_s"])
    frame = frame.sort_values(["laps", "last_crossing_s"], ascending=[False, True])
    frame["class_position"] = frame.groupby("class").cumcount() + 1
    return frame


def test_time_penalty_and_displaced_car() -> None:
    # #2 finished first on the road but got +30 s: officially second.
    official = _official([("1", "GTD", 1, 100, 3601.0, "Classified"),
                          ("2", "GTD", 2, 100, 3630.5, "Classified"),
                          ("3", "GTD", 3, 99, 3650.0, "Classified")])
    rebuilt = _rebuilt([("1", "GTD", 100, 3601.0), ("2", "GTD", 100, 3600.5),
                        ("3", "GTD", 99, 3650.0)])
    out = compare_classification(official, rebuilt).set_index("number")
    assert out["match"].tolist() == [False, False, True]
    assert out.loc["2", "reason"].startswith("time penalty +30.0 s")
    assert out.loc["1", "reason"] == "displaced by a penalty to #2"


def test_position_penalty_zero_lap_entry_and_not_classified() -> None:
    official = _official([("7", "GTP", 1, 50, 3000.0, "Classified"),
                          ("8", "GTP", 2, 50, 3010.0, "Classified"),
                          ("9", "GTP", 3, 51, 3005.0, "Classified"),   # moved to the back
                          ("10", "GTP", 4, 0, np.nan, "Classified"),   # never crossed
                          ("11", "GTP", 5, 0, np.nan, "Not started")])
    rebuilt = _rebuilt([("7", "GTP", 50, 3000.0), ("8", "GTP", 50, 3010.0),
                        ("9", "GTP", 51, 3005.0)])
    out = compare_classification(official, rebuilt).set_index("number")
    assert "11" not in out.index, "only classified cars are compared"
    assert out.loc["9", "reason"].startswith("position penalty")
    assert out.loc["7", "reason"] == "displaced by a penalty to #9"
    assert out.loc["10", "reason"].startswith("zero-lap entry")
    assert int(out.loc["10", "rebuilt_laps"]) == 0


def test_all_match() -> None:
    official = _official([("1", "A", 1, 10, 600.0, "Classified"),
                          ("2", "B", 2, 9, 610.0, "Classified")])
    rebuilt = _rebuilt([("1", "A", 10, 600.0), ("2", "B", 9, 610.0)])
    out = compare_classification(official, rebuilt)
    assert out["match"].all()
    assert (out["reason"] == "").all()


def test_red_flag_countback(tmp_path: Path) -> None:
    """A race ending under a red flag is classified at the last green crossing."""
    table = rows(laps=8)
    for row in table:
        lap = int(row["LAP_NUMBER"])
        row["FLAG_AT_FL"] = "RF" if lap >= 7 else "GF"  # stopped on lap 7, never restarted
    path = tmp_path / "wec" / "2025" / "red-race" / "laps.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(render(table))
    with RaceStore(tmp_path / "race.duckdb") as store:
        race_id = import_lap_file(store, path).race_id
        prepared = load_prepared(store, race_id)
        t = final_order_time_s(prepared)
        periods = store.table("flag_periods", race_id)
        assert periods["flag"].iloc[-1] == "RF" and t == periods["start_s"].iloc[-1]
        final = race_state(store, race_id, t, prepared).standings
        assert final["laps"].max() == 6, "laps completed before the red flag"
        end = race_state(store, race_id).standings
        assert end["laps"].max() == 8
    # Without a red flag at the end, the final order is taken at the last crossing.
    green = tmp_path / "wec" / "2025" / "green-race" / "laps.csv"
    green.parent.mkdir(parents=True)
    green.write_bytes(render(rows(laps=8)))
    with RaceStore(tmp_path / "race.duckdb") as store:
        prepared = load_prepared(store, import_lap_file(store, green).race_id)
        assert final_order_time_s(prepared) == float(prepared.laps["elapsed_s"].max())
