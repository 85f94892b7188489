"""Rebuilt vs official classification: every mismatch gets its reason (synthetic rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from race.analysis.official import compare_classification


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
