"""Routine green stops (race.strategy.stop_cost): the field-pace condition and the counts.

Synthetic laps only: four cars lapping at 100 s; car 1 stops on a normal green lap, car 2
stops while a shower slows the whole field by 25 % with the flag still green.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from race.strategy.stop_cost import (
    FIELD_SLOW,
    lap_pace_ratio,
    mark_routine,
    measure_stops,
    routine_counts,
)

LAPS = 30
SHOWER = (1990.0, 2400.0)    # race time (s) during which every lap is 25 % slower


def _car(number: str, offset_s: float, stop_lap: int | None) -> pd.DataFrame:
    rows = []
    t = offset_s
    for lap in range(1, LAPS + 1):
        lap_time = 100.0 + 0.1 * (lap % 3)
        if SHOWER[0] <= t < SHOWER[1]:
            lap_time *= 1.25
        pit = np.nan
        if stop_lap is not None and lap == stop_lap:
            lap_time += 8.0                     # in-lap: pit-lane entry
        if stop_lap is not None and lap == stop_lap + 1:
            pit = 70.0
            lap_time += pit - 5.0               # out-lap: PIT_TIME minus the bypassed track
        t += lap_time
        rows.append({"number": number, "lap_number": lap, "lap_time_s": lap_time,
                     "elapsed_s": t, "start_s": t - lap_time, "pit_time_s": pit,
                     "in_lap": stop_lap is not None and lap == stop_lap,
                     "out_lap": stop_lap is not None and lap == stop_lap + 1,
                     "driver_number": 1 if stop_lap is None or lap <= stop_lap else 2,
                     "class": "LMP2"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def laps() -> pd.DataFrame:
    frame = pd.concat([_car("1", 0.0, 10), _car("2", 3.0, 20), _car("3", 6.0, None),
                       _car("4", 9.0, None)], ignore_index=True)
    frame["neutral_c"] = False              # the shower never shows in the flag column
    frame["clean_c"] = ((frame["lap_number"] > 1) & ~frame["in_lap"] & ~frame["out_lap"])
    return frame


def test_lap_pace_ratio(laps: pd.DataFrame) -> None:
    ratio = lap_pace_ratio(laps)
    lap = laps["lap_number"].to_numpy()
    assert np.isnan(ratio[lap == 1]).all()
    assert np.isnan(ratio[laps["in_lap"] | laps["out_lap"]]).all()
    steady = (lap >= 4) & (laps["elapsed_s"] < SHOWER[0]).to_numpy()
    assert np.nanmax(np.abs(ratio[steady] - 1.0)) < 0.01


def test_field_slowdown_makes_a_stop_not_routine(laps: pd.DataFrame) -> None:
    stops = measure_stops(laps).set_index("number")
    assert stops["green"].all()                       # no flag says otherwise
    assert stops.at["1", "field_ratio"] == pytest.approx(1.0, abs=0.01)
    assert stops.at["2", "field_ratio"] > FIELD_SLOW
    # the shower, not the pit lane, made car 2's stop expensive
    assert stops.at["2", "offset_s"] > stops.at["1", "offset_s"] + 20.0
    routine = mark_routine(stops.reset_index()).to_numpy()
    assert routine.tolist() == [True, False]


def test_field_pace_uses_only_laps_completed_by_the_out_lap(laps: pd.DataFrame) -> None:
    stops = measure_stops(laps)
    cut = laps[laps["elapsed_s"] <= stops["known_s"].max()]
    again = measure_stops(cut.reset_index(drop=True))
    assert again["field_ratio"].to_numpy() == pytest.approx(stops["field_ratio"].to_numpy())


def test_routine_counts_add_up(laps: pd.DataFrame) -> None:
    counts = routine_counts(measure_stops(laps))
    assert counts["stops"] == 2
    assert counts["field slow"] == 1
    assert counts["routine"] == 1
    removed = sum(v for k, v in counts.items() if k not in ("stops", "routine"))
    assert removed + counts["routine"] == counts["stops"]
