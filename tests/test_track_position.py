"""Track position (race.analysis.track_position) on synthetic laps where the truth is known,
and on a real race against the plain baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from race.analysis.track_position import (
    DEFAULT_NEUTRAL_RATIO,
    MAX_FRACTION,
    POSITION_COLUMNS,
    positions_at,
    track_basis,
    track_positions,
)
from tests.conftest import REALDATA, requires_realdata


def car_laps(number: str, cls: str, lap_s: float, laps: int, *, shares=(0.3, 0.4, 0.3),
             offset_s: float = 0.0, flags: dict[int, str] | None = None,
             lap_times: dict[int, float] | None = None, in_laps=(), pit_s: dict | None = None,
             s1_extra_s: dict[int, float] | None = None) -> list[dict]:
    """One car's laps at a constant pace (lap 1 ``offset_s`` longer), sectors in ``shares``;
    ``lap_times`` overrides single laps, ``in_laps`` are B crossings, the next lap carries
    ``pit_s`` as PIT_TIME; ``s1_extra_s`` adds time to a lap's S1 (a stop)."""
    rows, elapsed = [], 0.0
    for lap in range(1, laps + 1):
        time_s = (lap_times or {}).get(lap, lap_s + (offset_s if lap == 1 else 0.0))
        extra = (s1_extra_s or {}).get(lap, 0.0)
        driven = time_s - extra
        elapsed += time_s
        pit = (pit_s or {}).get(lap)
        rows.append({
            "number": number, "class": cls, "lap_number": lap, "lap_time_s": time_s,
            "s1_s": driven * shares[0] + extra, "s2_s": driven * shares[1],
            "s3_s": driven * (1 - shares[0] - shares[1]), "elapsed_s": elapsed,
            "pit_time_s": pit, "flag": (flags or {}).get(lap, "GF"),
            "in_lap": lap in in_laps, "out_lap": pit is not None or (lap - 1) in in_laps,
        })
    return rows


def frame(*cars: list[dict]) -> pd.DataFrame:
    laps = pd.DataFrame([r for car in cars for r in car])
    # clean as the import derives it (no lap 1, no pit lap, green at the line here)
    laps["clean"] = ((laps["lap_number"] > 1) & ~laps["in_lap"] & ~laps["out_lap"]
                     & laps["flag"].eq("GF"))
    return laps


def row(positions: pd.DataFrame, number: str) -> pd.Series:
    return positions.set_index("number").loc[number]


def test_green_lap_is_where_the_constant_pace_puts_it() -> None:
    laps = frame(car_laps("1", "GTP", 100.0, 10), car_laps("2", "GTP", 100.0, 10,
                                                           offset_s=37.0))
    t = 1000.0 + 45.0  # car 1 crossed lap 10 at 1000 s
    out = track_positions(laps, t)
    assert list(out.columns) == POSITION_COLUMNS
    one = row(out, "1")
    assert one["fraction"] == pytest.approx(0.45)
    assert one["laps_completed"] == 10 and one["status"] == "track" and not one["in_pit"]
    two = row(out, "2")  # crossed lap 10 at 1037 s: 8 s into lap 11
    assert two["laps_completed"] == 10
    assert two["fraction"] == pytest.approx(0.08)
    assert not two["lapped"] and two["laps_down"] == 0


def test_sector_shape_places_the_car_between_the_boundaries() -> None:
    # The field reaches S1 at 30 % of its lap; car 3 at 20 % (a slower first sector for it
    # would be the opposite): 10 s into a 100 s lap it is halfway through S1, at 15 %.
    field = [car_laps(str(n), "GTP", 100.0, 10) for n in (1, 2, 4, 5)]
    laps = frame(*field, car_laps("3", "GTP", 100.0, 10, shares=(0.2, 0.5, 0.3)))
    out = track_positions(laps, 1010.0)
    assert row(out, "3")["fraction"] == pytest.approx(0.15)
    assert row(out, "1")["fraction"] == pytest.approx(0.10)
    # 60 s in: car 3 is 60 − 20 = 40 s into its 50 s S2 (30 % → 70 % of the lap): 62 %.
    assert row(track_positions(laps, 1060.0), "3")["fraction"] == pytest.approx(0.62)


def test_only_the_previous_laps_sectors_known_set_the_shape() -> None:
    laps = frame(*(car_laps(str(n), "GTP", 100.0, 6) for n in (1, 2, 4)),
                 car_laps("3", "GTP", 100.0, 2, shares=(0.2, 0.5, 0.3)))
    laps.loc[(laps["number"] == "3"), "clean"] = False  # no clean lap: only lap 2's sectors
    out = track_positions(laps, 200.0 + 10.0)
    assert row(out, "3")["fraction"] == pytest.approx(0.15)


def test_rows_after_t_are_ignored() -> None:
    laps = frame(car_laps("1", "GTP", 100.0, 10), car_laps("2", "GTD", 110.0, 10))
    t = 555.0
    assert track_positions(laps, t).equals(track_positions(laps[laps["elapsed_s"] <= t], t))


def test_fraction_stays_below_one_until_the_crossing_then_the_car_is_stopped() -> None:
    laps = frame(car_laps("1", "GTP", 100.0, 5), car_laps("2", "GTP", 100.0, 8))
    late = track_positions(laps, 500.0 + 150.0)
    assert row(late, "1")["fraction"] == MAX_FRACTION
    assert row(late, "1")["status"] == "track"
    gone = track_positions(laps, 500.0 + 301.0)  # 3 expected laps without a crossing
    assert row(gone, "1")["status"] == "stopped"
    assert not row(gone, "1")["lapped"]  # a stopped car is not counted as lapped


def test_lapped_cars_are_marked_against_their_class_leader() -> None:
    laps = frame(car_laps("1", "GTP", 100.0, 20), car_laps("2", "GTP", 110.0, 18),
                 car_laps("3", "GTD", 110.0, 18))
    out = track_positions(laps, 2010.0)
    assert not row(out, "1")["lapped"]
    # car 1: 20 laps + 10 %; car 2: 18 laps + 30/110: 1.8 laps behind
    assert row(out, "2")["lapped"] and row(out, "2")["laps_down"] == 1
    assert not row(out, "3")["lapped"]  # the leader of its own class


def test_pit_lane_until_the_stop_is_over_then_the_out_lap() -> None:
    # Earlier stops of 60 s in the pit lane, out-laps 50 s longer in S1 (the stop).
    stops = {5: 60.0, 10: 60.0}
    times = {5: 150.0, 10: 150.0}
    extra = {5: 50.0, 10: 50.0}
    other = car_laps("2", "GTP", 100.0, 14, in_laps=(4, 9), pit_s=stops, lap_times=times,
                     s1_extra_s=extra)
    car = car_laps("1", "GTP", 100.0, 12, in_laps=(4, 9, 12), pit_s=stops, lap_times=times,
                   s1_extra_s=extra)
    laps = frame(car, other)
    crossed = float(laps.loc[(laps["number"] == "1"), "elapsed_s"].max())  # the in-lap B
    boxed = row(track_positions(laps[laps["elapsed_s"] <= crossed + 30], crossed + 30), "1")
    assert boxed["in_pit"] and boxed["status"] == "pit"
    assert boxed["expected_lap_s"] == pytest.approx(150.0)
    # The out-lap: S1 is 30 s + the 50 s stop = 80 s to the S1 boundary (30 %): 30 s in, the
    # car is at 30/80 of S1; 100 s in, it is 20 s into its 40 s S2.
    assert boxed["fraction"] == pytest.approx(0.3 * 30 / 80)
    out = row(track_positions(laps[laps["elapsed_s"] <= crossed + 100], crossed + 100), "1")
    assert not out["in_pit"] and out["status"] == "track"
    assert out["fraction"] == pytest.approx(0.3 + 0.4 * 20 / 40)


def test_a_long_repair_stays_in_the_pits() -> None:
    laps = frame(car_laps("1", "GTP", 100.0, 6, in_laps=(6,)), car_laps("2", "GTP", 100.0, 20))
    crossed = 600.0
    garage = row(track_positions(laps, crossed + 900), "1")
    assert garage["in_pit"] and garage["status"] == "pit"


def test_neutralisation_uses_the_neutralised_pace_of_the_field() -> None:
    # Every car under FCY from lap 6 on, laps of 160 s wholly inside the period.
    fcy = {lap: "FCY" for lap in range(6, 11)}
    slow = {lap: 160.0 for lap in range(6, 11)}
    cars = [car_laps(str(n), "GTP", 100.0, 10, offset_s=n, flags=fcy, lap_times=slow)
            for n in (1, 2, 3)]
    laps = frame(*cars)
    last = float(laps.loc[laps["number"] == "1", "elapsed_s"].max())
    one = row(track_positions(laps, last + 40), "1")
    assert one["fraction"] == pytest.approx(0.3 * 40 / 48)  # 40 s of a 160 s lap: in S1


def test_neutralisation_starting_mid_lap_slows_the_rest_of_the_lap() -> None:
    # Cars 2 and 3 cross under FCY 50 s after car 1's green crossing: the period starts
    # halfway between; no lap wholly inside it yet → the default FCY ratio.
    cars = [car_laps("1", "GTP", 100.0, 10),
            car_laps("2", "GTP", 100.0, 10, offset_s=50.0, flags={10: "FCY"}),
            car_laps("3", "GTP", 100.0, 10, offset_s=51.0, flags={10: "FCY"})]
    laps = frame(*cars)
    period_start = (1000.0 + 1050.0) / 2
    t = 1060.0
    green = period_start - 1000.0
    expected_s = green + (t - period_start) / DEFAULT_NEUTRAL_RATIO["FCY"]  # at green pace
    one = row(track_positions(laps, t), "1")
    share = expected_s / 100.0  # past S1 (30 %), in S2 where the shape is linear here
    assert one["fraction"] == pytest.approx(share)
    assert one["fraction"] < 0.60  # the plain estimate would say 60 %


def test_finished_cars_are_at_the_line() -> None:
    laps = frame(car_laps("1", "GTP", 100.0, 10, flags={10: "FF"}),
                 car_laps("2", "GTP", 100.0, 10, offset_s=20.0))
    out = track_positions(laps, 1010.0)
    assert row(out, "1")["status"] == "finished" and row(out, "1")["fraction"] == 0.0
    assert row(out, "2")["status"] == "track"


def test_basis_then_positions_equals_the_whole_estimate() -> None:
    laps = frame(car_laps("1", "GTP", 100.0, 10), car_laps("2", "GTD", 110.0, 9))
    basis = track_basis(laps)
    for t in (1000.0, 1020.5, 1099.0):
        assert positions_at(basis, t).equals(track_positions(laps, t))


def test_no_sector_times_and_no_flags_is_linear() -> None:
    laps = frame(car_laps("1", "GTP", 100.0, 10), car_laps("2", "GTP", 100.0, 10))
    laps[["s1_s", "s2_s", "s3_s"]] = np.nan
    laps["flag"] = None
    assert row(track_positions(laps, 1037.0), "1")["fraction"] == pytest.approx(0.37)


def test_empty_laps_give_no_rows() -> None:
    laps = frame(car_laps("1", "GTP", 100.0, 3))
    out = track_positions(laps, 50.0)
    assert out.empty and list(out.columns) == POSITION_COLUMNS
    import plotly.graph_objects as go

    from ui.track_chart import ring_figure
    go.Figure(ring_figure(out, (0.3, 0.7), t_s=50.0))  # the ring with no car yet


@requires_realdata
@pytest.mark.realdata
def test_beats_the_plain_baseline_on_a_real_race() -> None:
    import sys

    from tests.conftest import ROOT
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import track_position as bench

    folder = REALDATA / "wec" / "2025" / "spa-6h"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    laps = bench.load_race(folder)
    measured, _ = bench.measure("spa", laps, 150, np.random.default_rng(14))
    assert len(measured) > 2000
    assert measured["error"].median() < measured["baseline_error"].median()
    green = measured[measured["green"]]
    assert green["error"].median() < green["baseline_error"].median()


def test_the_ring_draws_pit_lane_lapped_focus_and_followed_cars() -> None:
    import plotly.graph_objects as go

    from ui.track_chart import PIT_R, ring_figure

    stops = {5: 60.0}
    laps = frame(car_laps("1", "GTP", 100.0, 20), car_laps("2", "GTP", 110.0, 18),
                 car_laps("3", "GTD", 110.0, 12, in_laps=(4, 12), pit_s=stops),
                 car_laps("4", "GTD", 110.0, 12), car_laps("5", "GTD", 100.0, 3))
    t = 2010.0
    positions = track_positions(laps, t)
    spec = ring_figure(positions, (0.3, 0.7), t_s=t, focus="2", followed=("3",))
    go.Figure(spec)  # a valid Plotly figure as it is
    cars = [tr for tr in spec["data"] if tr.get("mode") == "markers" and "hovertext" in tr]
    assert sorted(tr["name"] for tr in cars) == ["GTD", "GTP"]
    legend = [tr["name"] for tr in spec["data"] if tr.get("showlegend", True)]
    assert legend == ["GTP", "GTD"]  # filled class entries, fastest class first
    gtp = next(tr for tr in cars if tr["name"] == "GTP")
    at = dict(zip(gtp["hovertext"], range(len(gtp["x"])), strict=True))
    two = next(i for h, i in at.items() if h.startswith("<b>#2<"))
    assert gtp["marker"]["color"][two] == "rgba(0,0,0,0)"  # lapped: hollow
    assert gtp["marker"]["size"][two] == 15  # the focus car, larger
    gtd = next(tr for tr in cars if tr["name"] == "GTD")
    three = next(i for i, h in enumerate(gtd["hovertext"]) if h.startswith("<b>#3<"))
    assert "pit lane" in gtd["hovertext"][three]
    assert np.hypot(gtd["x"][three], gtd["y"][three]) == pytest.approx(PIT_R, abs=1e-3)
    assert not any("#5<" in h for tr in cars for h in tr["hovertext"])  # stopped: not drawn
    labels = [tr for tr in spec["data"] if tr.get("mode") == "text" and tr["text"] in
              (["2", "3"], ["3", "2"])]
    assert labels, "the focus and the followed car are labelled"


def test_the_ring_follows_the_live_clock_between_polls() -> None:
    from datetime import datetime, timedelta

    from race.present.track import MAX_EXTRAPOLATION_S, as_of_s

    now = datetime(2026, 6, 14, 12, 0, 0)
    live = {"active": True, "last_poll_at": now - timedelta(seconds=4), "clock_s": 3600.0}
    assert as_of_s(None, 3590.0, live, now) == pytest.approx(3604.0)
    assert as_of_s(1200.0, 3590.0, live, now) == 1200.0  # a replay's moment
    assert as_of_s(None, 3590.0, None, now) == 3590.0  # not live: the latest crossing
    stale = {**live, "last_poll_at": now - timedelta(hours=1)}
    assert as_of_s(None, 3590.0, stale, now) == pytest.approx(3600.0 + MAX_EXTRAPOLATION_S)
    no_clock = {**live, "clock_s": None}
    assert as_of_s(None, 3590.0, no_clock, now) == pytest.approx(3594.0)
