"""The starting driver's handover stop (race/strategy/handover.py) on small synthetic laps
written here, and its effect on the engine's window (tests/strategy_fixture.py race)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from race.analysis.laps import derive_laps
from race.sources.lapfile import parse_lap_file
from race.strategy.engine import predict_rows, prepare_race
from race.strategy.handover import (
    applies,
    handover_laps,
    starter_columns,
    starter_minimum,
    starter_totals,
)
from race.strategy.history import History, summarise_race
from race.strategy.tracks import class_keys
from tests.strategy_fixture import lap_file_bytes


def _laps() -> pd.DataFrame:
    # car 7: driver 1 for 3 laps, driver 2 for 2, driver 1 again; car 9: one driver only
    return pd.DataFrame({
        "number": ["7"] * 6 + ["9"] * 3,
        "class": ["LMP2"] * 9,
        "driver_number": [1, 1, 1, 2, 2, 1, 3, 3, 3],
        "lap_time_s": [100.0, 90.0, 90.0, 95.0, 95.0, 90.0, 100.0, np.nan, 100.0],
        "elapsed_s": [100.0, 190.0, 280.0, 375.0, 470.0, 560.0, 100.0, 200.0, 300.0],
    })


def test_starter_columns_are_cumulative_per_driver() -> None:
    out = starter_columns(_laps())
    assert out["drive_s"].tolist() == [100, 190, 280, 95, 190, 370, 100, 100, 200]
    assert out["starter_driving"].tolist() == [True, True, True, False, False, True,
                                               True, True, True]
    # causal: a cut-off race gives the same values for the laps it has
    cut = _laps().iloc[[0, 1, 2, 3, 6, 7]]
    assert starter_columns(cut)["drive_s"].tolist() == [100, 190, 280, 95, 100, 100]


def test_starter_columns_without_driver_columns() -> None:
    laps = _laps().drop(columns=["driver_number"])
    assert not starter_columns(laps)["starter_driving"].any()


def test_starter_totals_skip_single_driver_cars() -> None:
    laps = _laps()
    totals = starter_totals(laps, class_keys(laps["class"]))
    assert totals["number"].tolist() == ["7"]
    assert totals["starter_s"].tolist() == [370.0]
    assert totals["race_s"].tolist() == [560.0]


def test_starter_minimum_uses_races_of_similar_length() -> None:
    totals = pd.DataFrame({"class_key": "LMP2", "number": [str(i) for i in range(8)],
                           "starter_s": [5000.0, 5100, 5200, 5300, 5400, 9000, 9000, 9000],
                           "race_s": [21600.0] * 5 + [36000.0] * 3})
    assert starter_minimum(totals, 21600.0, quantile=0.5) == pytest.approx(5200.0)
    assert starter_minimum(totals, 6.1 * 3600.0, quantile=0.0) == pytest.approx(5000.0)
    assert np.isnan(starter_minimum(totals, 36000.0))       # 3 cars: too few
    assert np.isnan(starter_minimum(totals, 3 * 3600.0))    # no race of that length


def test_handover_laps() -> None:
    assert handover_laps(20.0, 1000.0, 1450.0, 100.0) == 5.0   # passes it in 4.5 laps
    assert np.isnan(handover_laps(5.0, 1000.0, 1450.0, 100.0))  # the fuel stop comes first
    assert handover_laps(20.0, 1600.0, 1450.0, 100.0) == 1.0   # already past: next lap
    assert np.isnan(handover_laps(20.0, 1000.0, np.nan, 100.0))
    assert np.isnan(handover_laps(np.nan, 1000.0, 1450.0, 100.0))
    assert applies("imsa", "LMP3") and not applies("IMSA", "GTD") and not applies("WEC", "LMP2")


def _history(minimum_s: float | None) -> History:
    past = derive_laps(parse_lap_file(lap_file_bytes(hours=2.0, fcy=None), "past.csv"))[0]
    summary = summarise_race(past, race_id="past", series="IMSA", track="testring")
    if minimum_s is None:
        summary.starters = summary.starters.iloc[0:0]
    else:
        summary.starters = pd.DataFrame({"class_key": "LMP2",
                                         "number": [str(i) for i in range(6)],
                                         "starter_s": minimum_s, "race_s": 3 * 3600.0})
    return History.from_summaries([summary])


@pytest.mark.parametrize("series", ["IMSA", "WEC"])
def test_engine_pulls_the_starters_stop_to_the_minimum(series: str) -> None:
    laps = derive_laps(parse_lap_file(lap_file_bytes(fcy=None), "race.csv"))[0]
    learned, unknown = _history(2500.0), _history(None)
    with_rule = prepare_race(laps, learned, track="testring", series=series, end_s=3 * 3600.0)
    without = prepare_race(laps, unknown, track="testring", series=series, end_s=3 * 3600.0)
    # car 2, early in its second stint: the starter (driver 1) passes 2500 s mid-stint
    rows = np.flatnonzero((with_rule.laps["number"] == "2").to_numpy()
                          & (with_rule.laps["stint_number"] == 2).to_numpy())
    row = rows[1:2]
    a = predict_rows(with_rule, learned, row)
    b = predict_rows(without, unknown, row)
    assert bool(with_rule.laps["starter_driving"].iloc[row[0]])
    if series == "WEC":   # no handover rule for WEC: same window
        pd.testing.assert_frame_equal(a, b)
        return
    lap = with_rule.laps.iloc[row[0]]
    due = lap["lap_number"] + np.ceil((2500.0 - lap["drive_s"]) / lap["pace_s"])
    assert learned.starter_minimum("IMSA", "LMP2", 3 * 3600.0) == 2500.0
    assert a["pit_expected_lap"].iloc[0] == due < b["pit_expected_lap"].iloc[0]
    assert a["pit_earliest_lap"].iloc[0] <= due
    assert a["pit_latest_lap"].iloc[0] == b["pit_latest_lap"].iloc[0]
