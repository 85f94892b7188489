"""How backtest rows are scored (ML.md §3, §4): labels from the whole race, after the fact.

* Next pit lap: at 10, 5 and 2 laps before each real stop that ends a stint of ≥ 8 laps with
  no neutralised lap, the predicted in-lap against the real in-lap. Baseline: the car's last
  full (≥ 8 laps, green) stint repeated. A missing prediction counts as late.
* Stop cost: at the lap before the in-lap of each routine green stop.
* Class position 2 laps after the out-lap: at the same points as the pit lap; baseline "no
  change" (the class position at the scoring lap).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from race.strategy.stop_cost import mark_routine, measure_stops
from race.strategy.tracks import class_keys

LEADS = (10, 5, 2)
MIN_SCORED_STINT = 8


def class_positions(laps: pd.DataFrame) -> pd.Series:
    """Class position of each car at the moment it completes each lap (DATA.md §2 order).

    Position = 1 + the number of class cars that completed the same lap number earlier; a
    car with more laps completed that lap earlier too, a lapped car did not.
    """
    key = class_keys(laps["class"])
    work = pd.DataFrame({"ck": key, "lap": laps["lap_number"], "t": laps["elapsed_s"]},
                        index=laps.index)
    return (work.groupby(["ck", "lap"])["t"].rank(method="first").astype(int))


def scored_stints(laps: pd.DataFrame) -> pd.DataFrame:
    """Stints that end with a stop, have ≥ 8 laps and no neutralised lap (whole-race flags).

    Args:
        laps: derived laps (``neutralised`` from ``derive_laps``) sorted by car then lap.
    """
    g = laps.groupby(["number", "stint_number"], sort=False)
    st = g.agg(cls=("class", "first"), first_lap=("lap_number", "min"),
               in_lap=("lap_number", "max"), ended=("in_lap", "last"),
               neutral=("neutralised", "sum")).reset_index()
    st["laps"] = st["in_lap"] - st["first_lap"] + 1
    # the stop's out-lap must be green too (a stop begun under green but served under caution
    # is an opportunistic one)
    nxt = laps[["number", "lap_number", "neutralised"]].rename(
        columns={"lap_number": "out_lap", "neutralised": "out_neutral"})
    st["out_lap"] = st["in_lap"] + 1
    st = st.merge(nxt, on=["number", "out_lap"], how="left")
    keep = (st["ended"] & (st["laps"] >= MIN_SCORED_STINT) & (st["neutral"] == 0)
            & ~st["out_neutral"].fillna(False).astype(bool))
    return st[keep].reset_index(drop=True)


def last_green_stint_baseline(laps: pd.DataFrame) -> pd.DataFrame:
    """Per stint: the length of the car's last full green stint completed before it began."""
    st = laps.groupby(["number", "stint_number"], sort=False).agg(
        first_lap=("lap_number", "min"), in_lap=("lap_number", "max"),
        ended=("in_lap", "last"), neutral=("neutralised", "sum")).reset_index()
    st["laps"] = st["in_lap"] - st["first_lap"] + 1
    full = st["ended"] & (st["laps"] >= MIN_SCORED_STINT) & (st["neutral"] == 0)
    st["full_len"] = st["laps"].where(full)
    st["baseline_len"] = st.groupby("number", sort=False)["full_len"].transform(
        lambda s: s.shift(1).ffill())
    return st[["number", "stint_number", "baseline_len"]]


def score_pit_laps(pred: pd.DataFrame, laps: pd.DataFrame) -> pd.DataFrame:
    """One row per (scored stop, lead): actual and predicted in-laps and the baseline.

    Args:
        pred: backtest rows ``number, at_lap, pit_earliest_lap, pit_expected_lap,
            pit_latest_lap`` (+ ``class_position_after_stop`` when present).
        laps: the race's derived laps.
    """
    st = scored_stints(laps).merge(last_green_stint_baseline(laps),
                                   on=["number", "stint_number"], how="left")
    rows = []
    for lead in LEADS:
        s = st.assign(lead=lead, at_lap=st["in_lap"] - lead)
        s = s[(s["at_lap"] >= s["first_lap"] - 1) & (s["at_lap"] >= 1)]
        rows.append(s)
    points = pd.concat(rows, ignore_index=True)
    points = points.merge(pred, on=["number", "at_lap"], how="left")
    points["baseline_lap"] = points["first_lap"] + points["baseline_len"] - 1
    points["error"] = (points["pit_expected_lap"] - points["in_lap"]).abs()
    points["baseline_error"] = (points["baseline_lap"] - points["in_lap"]).abs()
    points["hit1"] = points["error"] <= 1
    points["late"] = ~(points["in_lap"] <= points["pit_latest_lap"])
    points["early"] = points["in_lap"] < points["pit_earliest_lap"]
    return points


def score_positions(pred: pd.DataFrame, laps: pd.DataFrame) -> pd.DataFrame:
    """Class position when the car completes the 2nd lap after its out-lap, predicted at the
    scored points, against "no change" (the class position at the scoring lap)."""
    pos = laps[["number", "lap_number"]].assign(class_position=class_positions(laps))
    st = scored_stints(laps)
    rows = []
    for lead in LEADS:
        s = st.assign(lead=lead, at_lap=st["in_lap"] - lead, target_lap=st["in_lap"] + 3)
        rows.append(s[(s["at_lap"] >= 1)])
    points = pd.concat(rows, ignore_index=True)
    points = points.merge(pos.rename(columns={"lap_number": "target_lap",
                                              "class_position": "actual"}),
                          on=["number", "target_lap"], how="inner")
    points = points.merge(pos.rename(columns={"lap_number": "at_lap",
                                              "class_position": "now"}),
                          on=["number", "at_lap"], how="left")
    points = points.merge(pred[["number", "at_lap", "class_position_after_stop"]],
                          on=["number", "at_lap"], how="left")
    guess = points["class_position_after_stop"].fillna(points["now"])
    points["error"] = (guess - points["actual"]).abs()
    points["baseline_error"] = (points["now"] - points["actual"]).abs()
    return points


def score_costs(pred: pd.DataFrame, laps: pd.DataFrame) -> pd.DataFrame:
    """Routine green stops: predicted cost at the lap before the in-lap against the real one
    and the class rolling median (of the class's earlier routine stops in the race)."""
    from race.strategy.causal import causal_lap_facts
    facts, _ = causal_lap_facts(laps)
    stops = measure_stops(facts)
    stops["routine"] = mark_routine(stops)
    stops = stops.sort_values("known_s", kind="stable").reset_index(drop=True)
    baseline = np.full(len(stops), np.nan)
    for _, s in stops.groupby("class_key", sort=False):
        known = s["known_s"].to_numpy()
        cost = s["cost_s"].to_numpy()
        ok = s["routine"].to_numpy()
        for j, idx in enumerate(s.index):
            before = ok & (known < s.at[idx, "in_s"])
            before[j:] = False
            if before.any():
                baseline[idx] = float(np.median(cost[before]))
    stops["baseline_cost_s"] = baseline
    scored = stops[stops["routine"]].assign(at_lap=lambda d: d["in_lap"] - 1)
    cols = ["number", "at_lap", "stop_cost_s"] + [
        c for c in ("stop_cost_low80_s", "stop_cost_high80_s") if c in pred]
    scored = scored.merge(pred[cols], on=["number", "at_lap"], how="left")
    if "stop_cost_low80_s" in scored:   # a missing bound is a miss
        scored["covered80"] = ((scored["cost_s"] >= scored["stop_cost_low80_s"])
                               & (scored["cost_s"] <= scored["stop_cost_high80_s"]))
    scored["error"] = (scored["stop_cost_s"] - scored["cost_s"]).abs()
    scored["baseline_error"] = (scored["baseline_cost_s"] - scored["cost_s"]).abs()
    return scored
