"""The strategy engine's guard (this race's own stints win over history) and the stop-cost
80 % interval, on synthetic data written here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from race.analysis.laps import derive_laps
from race.sources.lapfile import parse_lap_file
from race.strategy.engine import (
    EngineParams,
    _repeat_guard,
    predict_rows,
    prepare_race,
    repeat_evidence,
)
from race.strategy.fuel import WindowParams
from race.strategy.history import History, summarise_race
from race.strategy.scoring import score_costs, score_pit_laps
from race.strategy.stop_cost import interval_offsets
from race.strategy.views import cost_range
from tests.strategy_fixture import CarSpec, lap_file_bytes

NO_PLAN = WindowParams(plan_stops=0)
OFF = WindowParams(plan_stops=0, repeat_min_pairs=0)


def _stints(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["number", "class_key", "stint_number", "laps",
                                       "neutral_laps", "green_end", "known_s"])


def test_repeat_evidence_pairs_full_green_stints_after_the_first() -> None:
    st = _stints([
        ("1", "LMP2", 1, 9, 0, True, 100.0),     # first stint: formation laps, not full
        ("1", "LMP2", 2, 11, 0, True, 200.0),
        ("1", "LMP2", 3, 12, 3, True, 300.0),    # neutralised laps: not full
        ("1", "LMP2", 4, 11, 0, True, 400.0),
        ("1", "LMP2", 5, 10, 0, True, 500.0),
        ("2", "LMP2", 2, 11, 0, True, 250.0),
        ("2", "LMP2", 3, 6, 0, True, 350.0),     # short (< 8 laps)
        ("2", "LMP2", 4, 11, 0, False, 450.0),   # ended under caution
    ]).sort_values("known_s")
    per_class, per_car = repeat_evidence(st)
    assert per_car["1"][1].tolist() == [11.0, 11.0, 10.0]
    assert per_car["2"][1].tolist() == [11.0]
    assert per_class["LMP2"]["known_s"].tolist() == [400.0, 500.0]
    assert per_class["LMP2"]["cum_err"].tolist() == [0.0, 1.0]


class _Race:
    def __init__(self, stints: pd.DataFrame) -> None:
        self.repeat_class, self.repeat_car = repeat_evidence(stints)


def test_repeat_guard_needs_a_regular_class() -> None:
    regular = _stints([(n, "LMP2", k, 11, 0, True, 100.0 * k + int(n))
                       for n in ("1", "2", "3") for k in range(2, 5)]).sort_values("known_s")
    race = _Race(regular)
    wp = WindowParams()
    # after 6 pairs of identical stints: the car repeats its 11 laps (lap 40 of a stint
    # begun on lap 35: in-lap 45, 5 laps ahead)
    assert _repeat_guard(race, "LMP2", "1", 1000.0, 35.0, 40.0, wp, np.nan) == 5.0
    # before the class has 3 pairs, no guard without history, a guard with a regular one
    assert np.isnan(_repeat_guard(race, "LMP2", "1", 250.0, 35.0, 40.0, wp, np.nan))
    assert _repeat_guard(race, "LMP2", "1", 250.0, 35.0, 40.0, wp, 0.2) == 5.0
    assert np.isnan(_repeat_guard(race, "LMP2", "1", 250.0, 35.0, 40.0, wp, 2.0))
    # past the repeated length: the fuel window decides
    assert np.isnan(_repeat_guard(race, "LMP2", "1", 1000.0, 35.0, 46.0, wp, np.nan))
    irregular = _stints([(n, "GTD", k, 10 + 4 * (k % 2), 0, True, 100.0 * k + int(n))
                         for n in ("1", "2", "3") for k in range(2, 6)]).sort_values("known_s")
    assert np.isnan(_repeat_guard(_Race(irregular), "GTD", "1", 1e4, 35.0, 40.0, wp, np.nan))


def _laps(cars: tuple[CarSpec, ...], **kwargs: object) -> pd.DataFrame:
    return derive_laps(parse_lap_file(lap_file_bytes(cars, **kwargs), "synthetic.csv"))[0]


def test_this_races_stints_win_over_a_different_tank_in_history() -> None:
    """History ran 14-lap tanks at the track; this year's cars run 20 laps. Once the class
    has repeated its stints, every scored prediction is the repeated stint."""
    past = _laps(tuple(CarSpec(n, "LMP2", 100.0 + k / 2, 14) for k, n in
                       enumerate(("2", "8", "11", "52"))), hours=3.0)
    history = History.from_summaries(
        summarise_race(past, race_id=f"past{k}", series="WEC", track="testring")
        for k in range(3))
    now = _laps(tuple(CarSpec(n, "LMP2", 100.0 + k / 2, 20) for k, n in
                      enumerate(("2", "8", "11", "52"))), hours=4.0)
    race = prepare_race(now, history, track="testring", series="WEC", end_s=4 * 3600.0)
    rows = np.arange(len(race.laps))
    guarded = score_pit_laps(predict_rows(race, history, rows, EngineParams(window=NO_PLAN)),
                             now)
    plain = score_pit_laps(predict_rows(race, history, rows, EngineParams(window=OFF)), now)
    late = guarded["stint_number"] >= 4
    assert late.sum() > 20
    assert guarded.loc[late, "error"].max() == 0
    assert guarded.loc[late, "late"].sum() == 0
    assert guarded["error"].mean() <= plain["error"].mean()


def test_interval_offsets_cover_about_80_percent_and_adapt() -> None:
    rng = np.random.default_rng(4)
    history = rng.normal(0.0, 2.0, 300)
    race = rng.normal(0.0, 6.0, 400)            # this race's stops scatter 3× more
    out = interval_offsets(history, race)
    assert out.shape == (401, 2)
    covered = (out[:-1, 0] <= race) & (race <= out[:-1, 1])
    assert 0.75 <= covered.mean() <= 0.85
    # the history-only interval is about ±1.28 σ of history; it widens to the race's
    assert out[0, 1] - out[0, 0] == pytest.approx(2 * 1.28 * 2.0, rel=0.25)
    assert out[-1, 1] - out[-1, 0] == pytest.approx(2 * 1.28 * 6.0, rel=0.25)
    # nothing known yet: a fixed fallback, never NaN
    assert np.isfinite(interval_offsets(np.zeros(0), np.zeros(0))).all()


def test_cost_interval_in_the_rows_and_scored() -> None:
    cars = (CarSpec("2", "LMP2", 100.0, 20), CarSpec("8", "LMP2", 100.6, 20, 62.0),
            CarSpec("11", "LMP2", 101.1, 20, 58.0), CarSpec("52", "LMP2", 101.5, 20, 66.0))
    laps = _laps(cars, hours=4.0)
    history = History()
    race = prepare_race(laps, history, track="testring", series="IMSA", end_s=4 * 3600.0)
    pred = predict_rows(race, history, np.arange(len(race.laps)))
    ok = pred["stop_cost_s"].notna()
    assert ok.any()
    assert (pred.loc[ok, "stop_cost_low80_s"] <= pred.loc[ok, "stop_cost_s"]).all()
    assert (pred.loc[ok, "stop_cost_high80_s"] >= pred.loc[ok, "stop_cost_s"]).all()
    costs = score_costs(pred, laps)
    assert "covered80" in costs and len(costs) > 10


def test_cost_range_text() -> None:
    assert cost_range(61.6, 78.2) == "62–78 s"
    assert cost_range(np.nan, 70.0) == "—"
    assert cost_range(None, None) == "—"
