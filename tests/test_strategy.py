"""Strategy engine on our own synthetic race (tests/strategy_fixture.py): windows, costs,
rejoin, drive time, finish, causality, and a small end-to-end backtest through the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from race.analysis.laps import derive_laps
from race.sources.lapfile import parse_lap_file
from race.strategy.backtest import OUTPUT_COLUMNS, scheduled_end_s
from race.strategy.causal import causal_lap_facts
from race.strategy.drive_time import drive_time_status, driver_summary, load_rules, rule_for
from race.strategy.engine import EngineParams, prepare_race, replay
from race.strategy.finish import stops_to_flag
from race.strategy.fuel import (
    WindowParams,
    final_stop_adjust,
    measure_neutral_fraction,
    window_from_candidates,
)
from race.strategy.history import History, summarise_race
from race.strategy.live import build_snapshot, stint_plan, what_if
from race.strategy.rejoin import ClassField, project_after_stop
from race.strategy.scoring import class_positions, score_pit_laps
from race.strategy.stop_cost import measure_stops, splash_factor
from race.strategy.tracks import class_group, class_key, track_key
from tests.strategy_fixture import CarSpec, lap_file_bytes

NO_PLAN = EngineParams(window=WindowParams(plan_stops=0))


def _race(**kwargs: object) -> pd.DataFrame:
    laps = parse_lap_file(lap_file_bytes(**kwargs), "synthetic.csv")
    return derive_laps(laps)[0]


@pytest.fixture(scope="module")
def race_laps() -> pd.DataFrame:
    return _race()


@pytest.fixture(scope="module")
def history() -> History:
    past = _race(hours=2.0, fcy=(2000.0, 2600.0))
    return History.from_summaries([summarise_race(past, race_id="past", series="IMSA",
                                                  track="testring")])


@pytest.fixture(scope="module")
def replayed(race_laps: pd.DataFrame, history: History) -> pd.DataFrame:
    race = prepare_race(race_laps, history, track="testring", series="IMSA", end_s=3 * 3600.0)
    # the synthetic teams run to the fuel limit: no planning of the last stops
    return replay(race, history, NO_PLAN, draws=20)


def test_keys() -> None:
    assert track_key("12-6h---watkins-glen-international") == track_key("13-weathertech-240---wgi")
    assert track_key("05-sebring-international-raceway") == "sebring"
    assert track_key("le-mans-24h") == "le-mans"
    assert class_key("GTD PRO") == class_key("GTDPRO") == "GTDPRO"
    assert class_group("LMP3") == "fuel-limited"
    assert class_group("Hypercar") == "energy/BoP"
    assert class_group("DPi") == "other"


def test_causal_facts_equal_on_truncated_race(race_laps: pd.DataFrame) -> None:
    full, _ = causal_lap_facts(race_laps)
    for t in (1800.0, 3700.0, 4300.0, 9000.0):
        cut, _ = causal_lap_facts(race_laps[race_laps["elapsed_s"] <= t])
        mine = full[full["elapsed_s"] <= t].reset_index(drop=True)
        for col in ("neutral_c", "restart_c", "clean_c"):
            assert mine[col].tolist() == cut[col].tolist(), (t, col)


def test_causal_facts_without_flags_equal_on_truncated_race(race_laps: pd.DataFrame) -> None:
    laps = race_laps.assign(flag=None)
    full, periods = causal_lap_facts(laps)
    assert len(periods) >= 1 and periods["inferred"].all()
    # a trailing window sees the field slow down a little late: most neutral laps, not all
    assert full.loc[full["neutralised"], "neutral_c"].mean() > 0.6
    assert full.loc[~full["neutralised"], "neutral_c"].mean() < 0.05
    for t in (3700.0, 4300.0):
        cut, _ = causal_lap_facts(laps[laps["elapsed_s"] <= t])
        mine = full[full["elapsed_s"] <= t].reset_index(drop=True)
        assert mine["neutral_c"].tolist() == cut["neutral_c"].tolist()


def test_neutral_fraction_is_measured(history: History) -> None:
    stints = history.stints()
    assert stints["neutral_laps"].sum() > 0
    assert measure_neutral_fraction(stints) == pytest.approx(0.5, abs=0.1)


def test_window_from_candidates_conditions_on_fuel_used() -> None:
    params = WindowParams()
    values = np.array([10.0, 20.0, 20.0, 20.0, 21.0])
    weights = np.ones(5)
    assert window_from_candidates(5.0, values, weights, params)[1] == 15.0
    lo, mid, hi = window_from_candidates(12.0, values, weights, params)   # the 10 is gone
    assert (lo, mid, hi) == (8.0, 8.0, 9.0)
    assert window_from_candidates(25.0, values, weights, params) == (1.0, 1.0, 3.0)
    assert np.isnan(window_from_candidates(5.0, np.zeros(0), np.zeros(0), params)[1])


def test_last_stop_pulled_to_where_a_full_tank_reaches_the_flag() -> None:
    params = WindowParams(final_pull=1.0)
    # 30 laps to the flag, fuel for 15 more, tank 20: one more stop; from lap 10 a full
    # tank reaches the flag
    assert final_stop_adjust((12.0, 15.0, 16.0), 30.0, 20.0, params)[1] == 10.0
    assert final_stop_adjust((12.0, 15.0, 16.0), 30.0, 20.0, params, plan_stops=0)[1] == 15.0
    assert final_stop_adjust((12.0, 15.0, 16.0), 14.0, 20.0, params)[1] == 15.0  # no stop due


def test_pit_windows_exact_on_regular_stints(replayed: pd.DataFrame,
                                             race_laps: pd.DataFrame) -> None:
    points = score_pit_laps(replayed, race_laps)
    assert len(points) > 20
    assert points["pit_expected_lap"].notna().all()
    assert points["error"].mean() <= 0.5
    assert points["hit1"].mean() >= 0.9
    assert points["late"].mean() <= 0.05


def test_stop_cost_definition(race_laps: pd.DataFrame) -> None:
    facts, _ = causal_lap_facts(race_laps)
    stops = measure_stops(facts)
    first = stops.iloc[0]
    car = facts[facts["number"] == first["number"]].set_index("lap_number")
    before = [car.at[k, "lap_time_s"] for k in range(first["in_lap"] - 6, first["in_lap"])
              if car.at[k, "clean_c"]]
    expected = (car.at[first["in_lap"], "lap_time_s"] + car.at[first["in_lap"] + 1,
                                                             "lap_time_s"]
                - 2 * float(np.median(before)))
    assert first["cost_s"] == pytest.approx(expected)
    green = stops[stops["green"]]
    # in-lap +8 s, out-lap carries PIT_TIME: cost ≈ PIT_TIME + 8 ± the lap wobble
    assert (green["offset_s"] - 8.0).abs().max() < 1.0


def test_stop_cost_predictions_close(replayed: pd.DataFrame, race_laps: pd.DataFrame) -> None:
    from race.strategy.scoring import score_costs
    costs = score_costs(replayed, race_laps)
    assert len(costs) > 10
    assert costs["error"].median() < 3.0


def test_splash_factor() -> None:
    assert splash_factor("WEC", 0.1) < splash_factor("WEC", 0.4) < 1.0
    assert splash_factor("IMSA", 2.0) == 1.0
    assert splash_factor("IMSA", np.nan) == 1.0


def _field(pace: list[float], last: list[float], laps: list[int], stop: list[float],
           cost: float = 60.0) -> ClassField:
    n = len(pace)
    crossings = [np.cumsum(np.full(laps[i], pace[i])) + (last[i] - pace[i] * laps[i])
                 for i in range(n)]
    return ClassField(number=np.array([str(i) for i in range(n)], dtype=object),
                      laps=np.array(laps), last_s=np.array(last, dtype=float),
                      pace_s=np.array(pace, dtype=float), stop_lap=np.array(stop, dtype=float),
                      earliest_lap=np.array(stop, dtype=float),
                      latest_lap=np.array(stop, dtype=float), cost_s=np.full(n, cost),
                      pending_s=np.zeros(n), running=np.ones(n, dtype=bool),
                      crossings=crossings)


def test_rejoin_projection_counts_rivals_stops() -> None:
    # car 0 leads car 1 by 10 s at equal pace; car 0 stops at lap 11 (cost 60 s)
    field = _field([100.0, 100.0], [1000.0, 1010.0], [10, 10], [11, np.inf])
    proj = project_after_stop(field, 0, 11, draws=1)
    assert proj.position == 2.0 and proj.p_ahead[1] == 0.0
    assert proj.gap_s[1] == pytest.approx(-50.0)
    # if car 1 also stops before lap 14, car 0 stays ahead
    field = _field([100.0, 100.0], [1000.0, 1010.0], [10, 10], [11, 12])
    assert project_after_stop(field, 0, 11, draws=1).position == 1.0
    mc = project_after_stop(field, 0, 11, draws=400, rng=np.random.default_rng(3))
    assert 0.5 < mc.p_ahead[1] <= 1.0
    # a retired rival with fewer laps is behind whatever happens
    field = _field([100.0, 100.0], [1000.0, 500.0], [10, 5], [11, np.inf])
    field.running[1] = False
    assert project_after_stop(field, 0, 11, draws=50).position == 1.0


def test_class_positions_from_crossings() -> None:
    laps = pd.DataFrame({"number": ["a", "b", "a", "b"], "class": ["X"] * 4,
                         "lap_number": [1, 1, 2, 2], "elapsed_s": [100.0, 99.0, 200.0, 201.0]})
    assert class_positions(laps).tolist() == [2, 1, 1, 2]


def test_drive_time_sums_laps(race_laps: pd.DataFrame) -> None:
    t = float(race_laps["elapsed_s"].max())
    summary = driver_summary(race_laps, t)
    laps = race_laps.groupby(["number", "driver_number"])["lap_time_s"].sum()
    for row in summary.to_dict("records"):
        assert row["drive_time_s"] == pytest.approx(laps[(row["number"], row["driver_number"])])
    per_car = summary.groupby("number")["drive_time_s"].sum()
    final = race_laps.groupby("number")["elapsed_s"].max()
    assert np.allclose(per_car.sort_index(), final.sort_index(), atol=0.01)
    assert (summary.groupby("number")["driving"].sum() == 1).all()


def test_drive_time_rules_and_risk(race_laps: pd.DataFrame) -> None:
    rules = load_rules()
    assert rule_for(rules, "IMSA", "GTD", 2.67, "Bronze")[0] == 45 * 60
    assert rule_for(rules, "IMSA", "GTD", 2.67, "Platinum")[0] == 10 * 60
    assert rule_for(rules, "WEC", "LMP2", 6.0, None) == (75 * 60, 210 * 60)
    assert np.isnan(rule_for(rules, "XYZ", "GTD", 6.0, None)[0])
    # A driver listed without a licence (NaN in the results) gets the "any" rule.
    assert rule_for(rules, "IMSA", "GTD", 2.67, float("nan")) == \
        rule_for(rules, "IMSA", "GTD", 2.67, None)
    roster = race_laps.groupby(["number", "driver_number"], as_index=False)["driver_name"].first()
    summary = driver_summary(race_laps, 1200.0, roster=roster)
    assert len(summary) == len(roster)          # driver 2 has not driven yet: listed at 0
    classes = race_laps.groupby("number")["class"].last()
    ratings = pd.Series({(n, 2): "Bronze" for n in classes.index})
    status = drive_time_status(summary, series="IMSA", classes=classes, race_hours=3.0,
                               t_s=1200.0, end_s=3000.0, ratings=ratings)
    assert set(status["status"]) <= {"met", "owes", "at risk", "missed", "over max", "no rule"}
    # 20 minutes in, 30 minutes left: the bronze drivers still owe 45 minutes each
    assert (status.loc[status["driver_number"] == 2, "status"] == "at risk").all()
    assert (status.loc[status["driver_number"] == 1, "status"] == "met").all()
    late = drive_time_status(summary, series="IMSA", classes=classes, race_hours=3.0,
                             t_s=3000.0, end_s=3000.0, ratings=ratings)
    assert "missed" in set(late["status"])


def test_stops_to_flag() -> None:
    stops, fill = stops_to_flag(np.array([50.0, 10.0, 30.0]), np.array([5.0, 12.0, 10.0]),
                                np.array([20.0, 20.0, 20.0]))
    assert stops.tolist() == [3.0, 0.0, 1.0]
    assert fill[0] == 5.0 and np.isnan(fill[1]) and fill[2] == 20.0


def test_scheduled_end() -> None:
    laps = pd.DataFrame({"elapsed_s": [100.0, 10_950.0], "flag": ["GF", "FF"]})
    assert scheduled_end_s("bahrain-8h", laps) == 8 * 3600.0
    assert scheduled_end_s("19-road-atlanta", laps) == 10_800.0


def test_snapshot_and_what_if(race_laps: pd.DataFrame, history: History) -> None:
    snap = build_snapshot(race_laps, history, track="testring", series="IMSA",
                          end_s=3 * 3600.0, t_s=5000.0, draws=50)
    assert len(snap.cars) == 7 and snap.flag == "GF"
    assert snap.cars["pit_expected_lap"].notna().all()
    assert (snap.cars["pit_earliest_lap"] <= snap.cars["pit_expected_lap"]).all()
    assert (snap.cars["pit_expected_lap"] <= snap.cars["pit_latest_lap"]).all()
    assert snap.cars["after_stop_position"].between(1, 4).all()
    assert snap.cars["stops_needed"].ge(1).all()
    lead = snap.cars[snap.cars["class"] == "LMP2"].iloc[0]["number"]
    table = what_if(snap, lead, 2)
    assert len(table) == 3 and table["p_ahead"].between(0, 1).all()
    assert table.attrs["stop_lap"] == int(snap.cars.set_index("number").at[lead, "laps"]) + 2
    plan = stint_plan(snap, lead)
    assert plan.iloc[-1]["fill"] == "to the flag"
    fcy = build_snapshot(race_laps, history, track="testring", series="IMSA",
                         end_s=3 * 3600.0, t_s=3900.0, draws=10)
    assert fcy.flag == "FCY" and fcy.cars["neutralised_now"].all()
    assert fcy.cars["stop_cost_neutral_s"].lt(fcy.cars["stop_cost_s"]).all()


def test_replay_is_causal(race_laps: pd.DataFrame, history: History,
                          replayed: pd.DataFrame) -> None:
    """Rows up to t are the same whether the race is cut at t or not."""
    t = 5200.0
    cut = race_laps[race_laps["elapsed_s"] <= t]
    race = prepare_race(cut, history, track="testring", series="IMSA", end_s=3 * 3600.0)
    early = replay(race, history, NO_PLAN, draws=20)
    full = replayed[replayed["at_s"] <= t].reset_index(drop=True)
    cols = ["number", "at_lap", "pit_earliest_lap", "pit_expected_lap", "pit_latest_lap",
            "stop_cost_s"]
    pd.testing.assert_frame_equal(full[cols], early[cols])


def test_backtest_strategy_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from race.cli import main
    train = tmp_path / "train" / "2023" / "testring-3h"
    test = tmp_path / "test" / "2024" / "testring-3h"
    train.mkdir(parents=True)
    test.mkdir(parents=True)
    (train / "laps.csv").write_bytes(lap_file_bytes(hours=3.0, fcy=(1500.0, 2000.0)))
    cars = (*[CarSpec(c.number, c.cls, c.pace_s + 0.4, c.tank, c.pit_s)
              for c in lap_file_bytes.__defaults__[0]],)
    (test / "laps.csv").write_bytes(lap_file_bytes(cars, hours=3.0))
    out = tmp_path / "out.csv"
    assert main(["backtest", "strategy", "--train", str(train), "--test",
                 str(test / "laps.csv"), "--out", str(out)]) == 0
    rows = pd.read_csv(out, dtype={"number": str})
    assert rows.columns.tolist() == OUTPUT_COLUMNS
    laps = parse_lap_file((test / "laps.csv").read_bytes(), "t")
    assert len(rows) == len(laps)
    printed = capsys.readouterr().out
    assert "fuel-limited" in printed and "energy/BoP" in printed
    assert main(["backtest", "strategy", "--train", str(test), "--test",
                 str(test / "laps.csv"), "--out", str(out)]) == 2


def test_strategy_never_imports_streamlit() -> None:
    import subprocess
    code = ("import sys, race.strategy.live, race.strategy.backtest; "
            "assert 'streamlit' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parent.parent)
