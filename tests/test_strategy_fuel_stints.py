"""Fuel stints: a stop that adds no fuel (drive-through, stop-and-go) does not end the stint
whose consumption the fuel window counts (race.strategy.fuel.fuel_stint_numbers). Small
synthetic laps written here, no real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from race.strategy.fuel import fuel_stint_numbers, stint_progress, stint_records
from race.strategy.history import History, RaceSummary

LAP_S = 100.0


def _car(number: str, stops: dict[int, float], laps: int = 40, cls: str = "LMP2",
         t0: float = 0.0) -> pd.DataFrame:
    """One car's laps; ``stops`` maps an in-lap number to the PIT_TIME (s) of that stop."""
    rows = []
    t = t0
    stint = 1
    pending = None
    for lap in range(1, laps + 1):
        pit = np.nan
        lap_s = LAP_S
        if pending is not None:
            pit, lap_s, pending = pending, LAP_S + pending, None
            stint += 1
        t += lap_s
        rows.append({"number": number, "class": cls, "manufacturer": "M", "lap_number": lap,
                     "lap_time_s": lap_s, "elapsed_s": t, "start_s": t - lap_s,
                     "stint_number": stint, "pit_time_s": pit, "in_lap": lap in stops,
                     "neutral_c": False, "clean_c": pit != pit and lap not in stops})
        if lap in stops:
            pending = stops[lap]
    return pd.DataFrame(rows)


def _field(*cars: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(cars, ignore_index=True)


def test_drive_through_does_not_end_the_fuel_stint() -> None:
    laps = _field(_car("1", {12: 70.0, 20: 30.0, 30: 72.0}))
    fuel = fuel_stint_numbers(laps, {"LMP2": 70.0})
    by_lap = dict(zip(laps["lap_number"], fuel, strict=True))
    assert by_lap[12] == 1 and by_lap[13] == 2      # a routine stop refuels
    assert by_lap[21] == 2                           # the 30 s stop did not
    assert by_lap[31] == 3


def test_every_stop_refuels_without_a_reference() -> None:
    laps = _field(_car("1", {12: 70.0, 20: 30.0}))
    fuel = fuel_stint_numbers(laps)      # no history and fewer than 5 stops in the race
    assert fuel.tolist() == laps["stint_number"].tolist()


def test_in_race_reference_once_enough_stops() -> None:
    cars = [_car(str(n), {10: 70.0 + n, 25: 71.0}) for n in range(5)]
    late = _car("9", {20: 69.0, 30: 28.0}, t0=500.0)
    laps = _field(*cars, late)
    fuel = fuel_stint_numbers(laps)
    mine = dict(zip(laps.loc[laps["number"] == "9", "lap_number"],
                    fuel[(laps["number"] == "9").to_numpy()], strict=True))
    assert mine[31] == mine[30] == 2


def test_early_repairs_do_not_make_the_reference() -> None:
    # two long repair stops first: alone they would make a routine 62 s stop look short
    a = _car("1", {2: 200.0, 4: 1000.0}, laps=40)
    b = _car("2", {31: 62.0}, laps=40, t0=3000.0)
    laps = _field(a, b)
    fuel = fuel_stint_numbers(laps, {"LMP2": 65.0})
    b_fuel = fuel[(laps["number"] == "2").to_numpy()]
    assert b_fuel[31] == 2       # lap 32, the out-lap of the 62 s stop: refuelled


def test_units_carry_over_from_the_out_lap_and_records_merge() -> None:
    laps = _field(_car("1", {12: 70.0, 20: 30.0, 30: 72.0}))
    laps["fuel_stint"] = fuel_stint_numbers(laps, {"LMP2": 70.0})
    units = np.ones(len(laps))
    prog = stint_progress(laps, units).set_index(laps["lap_number"])
    assert prog.loc[20, "next_units"] == 0.0     # at the in-lap the stop type is unknown
    assert prog.loc[21, "next_units"] == 9.0     # laps 13–21 since the refuel
    assert prog.loc[30, "next_units"] == 0.0
    rec = stint_records(laps, units)
    assert rec["laps"].tolist() == [12, 18]      # 1–12, then 13–30 (through the 30 s stop)
    out_lap_s = laps.loc[laps["lap_number"] == 31, "elapsed_s"].item()
    assert rec["known_s"].iloc[-1] == out_lap_s  # known once the stop is seen to refuel


def test_fuel_stints_are_causal() -> None:
    laps = _field(*(_car(str(n), {10 + n: 70.0, 18 + n: 29.0, 28: 71.0}, t0=7.0 * n)
                    for n in range(6)))
    laps = laps.sort_values(["number", "lap_number"]).reset_index(drop=True)
    full = fuel_stint_numbers(laps)
    for t in (1500.0, 2100.0, 2900.0):
        keep = (laps["elapsed_s"] <= t).to_numpy()
        cut = fuel_stint_numbers(laps[keep].reset_index(drop=True))
        assert cut.tolist() == full[keep].tolist(), t


def _summary(series: str, race_id: str, fraction: float) -> RaceSummary:
    """Stints of cars that each run to a 20-unit tank, neutralised laps costing ``fraction``."""
    rows = []
    for car in range(6):
        for k, neutral in enumerate((0, 6, 10, 14, 0, 8)):
            laps = round(20 + neutral * (1 - fraction))
            rows.append({"race_id": race_id, "number": str(car), "class_key": "LMP2",
                         "stint_number": k + 1, "laps": laps, "neutral_laps": neutral,
                         "units": float(laps), "green_end": True, "pace_s": 100.0})
    stints = pd.DataFrame(rows)
    return RaceSummary(race_id, series, "ring", stints, pd.DataFrame(), pd.DataFrame())


def test_neutral_fraction_per_series_of_a_shared_class_name() -> None:
    history = History.from_summaries([_summary("IMSA", "a", 0.5), _summary("WEC", "b", 0.9)])
    assert history.fraction("LMP2", "IMSA") == pytest.approx(0.5, abs=0.051)
    assert history.fraction("LMP2", "WEC") == pytest.approx(0.9, abs=0.051)
    # a series without its own measurement falls back to the class over all series
    assert history.fraction("LMP2", "ELMS") == history.fraction("LMP2")


def _first_short(series: str, race_id: str, cls: str, deficit: int,
                 track: str = "ring") -> RaceSummary:
    """Six cars whose later stints run 30 laps and whose first stint is ``deficit`` shorter."""
    rows = [{"race_id": race_id, "number": str(car), "class_key": cls, "stint_number": k,
             "laps": 30 - (deficit if k == 1 else 0), "neutral_laps": 0,
             "units": float(30 - (deficit if k == 1 else 0)), "green_end": True,
             "pace_s": 100.0} for car in range(6) for k in (1, 2, 3)]
    stops = pd.DataFrame(columns=["class_key", "cost_s", "pit_time_s", "offset_s", "routine"])
    return RaceSummary(race_id, series, track, pd.DataFrame(rows), stops, pd.DataFrame())


def test_start_units_learned_for_fuel_limited_classes_only() -> None:
    history = History.from_summaries([
        _first_short("WEC", "a", "LMP2", 2), _first_short("WEC", "b", "LMP2", 1),
        _first_short("IMSA", "c", "LMP2", 4), _first_short("IMSA", "d", "GTD", 3)])
    assert history.start_units("LMP2", "WEC") == 1.5     # median of its series' races
    assert history.start_units("LMP2", "IMSA") == 4.0
    assert history.start_units("LMP2", "ELMS") == 2.0    # the class over all series
    assert history.start_units("GTD", "IMSA") == 0.0     # energy/BoP: not applied
    # a first stint's consumption then counts the formation laps: a full tank again
    units = history.stint_evidence("ring", "LMP2", "WEC")[0]
    assert units.min() >= 29.5 and units.max() <= 30.5


def test_start_units_of_the_track_first() -> None:
    """Units are laps of the track: the track's own races of the series come first."""
    history = History.from_summaries([
        _first_short("WEC", "a", "LMP2", 2, "le-mans"),
        _first_short("WEC", "b", "LMP2", 1, "le-mans"),
        *[_first_short("WEC", k, "LMP2", 6, "spa") for k in "cde"]])
    assert history.start_units("LMP2", "WEC", track="le-mans") == 1.5
    assert history.start_units("LMP2", "WEC", track="spa") == 6.0
    assert history.start_units("LMP2", "WEC") == 6.0          # the series' median
    assert history.start_units("LMP2", "WEC", track="monza") == 6.0


def test_first_stint_counts_start_units_in_the_race() -> None:
    from race.strategy.engine import prepare_race
    history = History.from_summaries([_first_short("IMSA", "a", "LMP2", 2),
                                      _first_short("IMSA", "b", "LMP2", 2)])
    laps = _car("1", {12: 70.0, 30: 72.0})
    laps = laps.assign(driver_number=1, flag=None, restart_lap=False, neutralised=False,
                       out_lap=laps["pit_time_s"].notna(), lap_in_stint=1)
    race = prepare_race(laps, history, track="ring", series="IMSA")
    used = race.laps.set_index("lap_number")["next_units"]
    assert used[5] == 7.0          # 5 laps + 2 units of formation laps
    assert used[15] == 3.0         # the next stint starts from a full tank
    first = race.stints[race.stints["stint_number"] == 1]
    assert first["units"].item() == 14.0
