"""The strategy picture at one race time, for the Strategy page and the command line.

``build_snapshot`` runs the engine on the laps up to ``t_s`` (causal by construction) and
returns, per car: pit window, stop cost (green and under neutralisation), the chance of an
opportunistic stop under a caution, where it would rejoin if it stopped now, its class
position after its next stop with P(ahead) of the nearest rivals, and the finish projection;
per driver: drive time and rule status. ``what_if`` moves one car's stop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from race.analysis.flags import flag_at
from race.strategy.drive_time import drive_time_status, driver_summary
from race.strategy.engine import (
    EngineParams,
    PreparedRace,
    car_crossings,
    field_from_rows,
    predict_rows,
    prepare_race,
)
from race.strategy.finish import finish_projection
from race.strategy.history import History
from race.strategy.rejoin import ClassField, Projection, project_after_stop
from race.strategy.tracks import class_group

# Cost of a stop under FCY / safety car relative to a green stop, against the cars that stay
# out (measured on real races, median: IMSA 0.53; WEC 1.05 — safety-car trains and closed
# pit entries in WEC leave no gain, so WEC keeps the green cost).
NEUTRAL_COST_RATIO = {"IMSA": 0.53, "WEC": 1.0}
NEUTRAL_FLAGS = ("FCY", "SF", "SC", "VSC")


@dataclass
class StrategySnapshot:
    """Everything the Strategy page shows at race time ``t_s``."""

    t_s: float
    flag: str
    series: str
    end_s: float | None
    cars: pd.DataFrame
    drivers: pd.DataFrame
    race: PreparedRace
    pred: pd.DataFrame               # predict_rows of the latest row per car
    fields: dict[str, ClassField]    # per class key, the field at t_s
    positions: dict[object, tuple[str, int]]   # car → (class key, index in its field)


def current_flag(periods: pd.DataFrame, laps: pd.DataFrame, t_s: float) -> str:
    """Track state at ``t_s`` from the crossings up to then: a period whose last crossing is
    the latest one is still open (its end is only known at the next green crossing)."""
    flags = laps["flag"] if "flag" in laps else pd.Series(dtype=object)
    if flags.eq("FF").any():
        return "FF"
    found = flag_at(periods, t_s)
    if found:
        return found
    if not periods.empty and len(laps):
        last = periods.iloc[-1]
        if last["end_s"] >= float(laps["elapsed_s"].max()) and last["start_s"] <= t_s:
            return str(last["flag"])
    return "GF"


def _caution_probability(history: History, groups: pd.Series, progress: np.ndarray,
                         ) -> np.ndarray:
    """P(pit during a caution) per car from its stint progress (history, by class group)."""
    out = np.full(len(progress), np.nan)
    for group in groups.unique():
        table = history.caution_table(group)
        if table.empty or table["n"].sum() == 0:
            continue
        mask = (groups == group).to_numpy()
        idx = np.clip(np.searchsorted(table["hi"].to_numpy(), progress[mask], side="right"), 0,
                      len(table) - 1)
        out[mask] = table["p"].to_numpy()[idx]
    return out


def build_snapshot(laps: pd.DataFrame, history: History, *, track: str, series: str,
                   end_s: float | None, t_s: float | None = None, draws: int = 200,
                   ratings: pd.Series | None = None, params: EngineParams | None = None,
                   roster: pd.DataFrame | None = None, seed: int = 0) -> StrategySnapshot:
    """The strategy picture of a race at ``t_s`` (None = after the latest crossing).

    Args:
        laps: derived laps of the race (stored ``laps`` table), sorted by car then lap.
        history: past races (``race.present.queries.strategy_history``).
        track: ``tracks.track_key``; series: ``WEC``/``IMSA``; end_s: scheduled end (s).
        draws: Monte Carlo draws for the rejoin projections.
        ratings: FIA rating per (number, driver_number), for drive-time rules.
        roster: every entered driver (``number, driver_number, driver_name``), so a driver
            who has not driven yet is listed (owing all of the minimum).
    """
    if t_s is None:
        t_s = float(laps["elapsed_s"].max()) if len(laps) else 0.0
    laps = laps[laps["elapsed_s"] <= t_s]
    race = prepare_race(laps, history, track=track, series=series, end_s=end_s)
    prepared = race.laps
    last_rows = np.flatnonzero(~prepared["number"].duplicated(keep="last").to_numpy())
    pred_last = predict_rows(race, history, last_rows, params)
    # aligned with prepared rows for field_from_rows
    pred = pd.DataFrame(np.nan, index=range(len(prepared)), columns=pred_last.columns)
    pred = pred.astype({"number": object})
    pred.iloc[last_rows] = pred_last.to_numpy()
    for col in ("pit_earliest_lap", "pit_expected_lap", "pit_latest_lap", "stop_cost_s",
                "full_tank_laps", "laps_to_flag", "stop_cost_low80_s", "stop_cost_high80_s"):
        pred[col] = pred[col].astype(float)
    crossings = car_crossings(prepared)
    flag = current_flag(race.periods, prepared, t_s)
    rng = np.random.default_rng(seed)
    rows_by_class: dict[str, np.ndarray] = {}
    ck = prepared["class_key"].to_numpy()
    for key in pd.unique(ck[last_rows]):
        rows_by_class[key] = last_rows[ck[last_rows] == key]
    fields: dict[str, ClassField] = {}
    positions: dict[object, tuple[str, int]] = {}
    records = []
    for key, rows in rows_by_class.items():
        cf = field_from_rows(prepared, pred, rows, t_s, crossings)
        fields[key] = cf
        order = np.lexsort((cf.last_s, -cf.laps))
        class_pos = np.empty(len(rows), dtype=np.int64)
        class_pos[order] = np.arange(1, len(rows) + 1)
        for j in range(len(rows)):
            positions[cf.number[j]] = (key, j)
            rec = {"number": cf.number[j], "class_position": int(class_pos[j]),
                   "running": bool(cf.running[j])}
            if cf.running[j] and np.isfinite(cf.pace_s[j]):
                now = project_after_stop(cf, j, int(cf.laps[j]) + 1, laps_after=1, draws=draws,
                                         rng=rng)
                rec.update(_duel_columns("rejoin", cf, j, now))
                if np.isfinite(cf.stop_lap[j]):
                    after = project_after_stop(cf, j, int(cf.stop_lap[j]), draws=draws, rng=rng)
                    rec.update(_duel_columns("after_stop", cf, j, after))
            records.append(rec)
    cars = _car_table(prepared, pred, last_rows, pd.DataFrame(records), history, track, series,
                      flag, end_s)
    drivers = driver_summary(prepared, t_s, roster=roster)
    if len(drivers):
        classes = prepared.groupby("number", sort=False)["class"].last()
        hours = (end_s / 3600.0) if end_s else float(t_s / 3600.0)
        drivers = drive_time_status(drivers, series=series, classes=classes, race_hours=hours,
                                    t_s=t_s, end_s=end_s, ratings=ratings)
    return StrategySnapshot(float(t_s), flag, series, end_s, cars, drivers, race, pred,
                            fields, positions)


def _duel_columns(prefix: str, cf: ClassField, j: int, proj: Projection) -> dict[str, object]:
    """Projected position, and the nearest rivals ahead and behind with gap and P(ahead)."""
    gap = proj.gap_s.copy()
    gap[j] = np.nan
    ahead = np.where(gap < 0, gap, -np.inf)
    behind = np.where(gap > 0, gap, np.inf)
    out: dict[str, object] = {f"{prefix}_position": proj.position,
                              f"{prefix}_lap": proj.target_lap}
    if np.isfinite(ahead).any():
        k = int(np.argmax(ahead))
        out.update({f"{prefix}_ahead": cf.number[k], f"{prefix}_gap_ahead_s": -gap[k],
                    f"{prefix}_p_ahead_of_ahead": proj.p_ahead[k]})
    if np.isfinite(behind).any():
        k = int(np.argmin(behind))
        out.update({f"{prefix}_behind": cf.number[k], f"{prefix}_gap_behind_s": gap[k],
                    f"{prefix}_p_ahead_of_behind": proj.p_ahead[k]})
    return out


def _car_table(prepared: pd.DataFrame, pred: pd.DataFrame, last_rows: np.ndarray,
               projections: pd.DataFrame, history: History, track: str, series: str,
               flag: str,
               end_s: float | None) -> pd.DataFrame:
    last = prepared.iloc[last_rows]
    p = pred.iloc[last_rows]
    cars = pd.DataFrame({
        "number": last["number"].to_numpy(), "class": last["class"].to_numpy(),
        "team": last["team"].to_numpy() if "team" in last else None,
        "driver": last["driver_name"].to_numpy(),
        "laps": last["lap_number"].to_numpy(), "last_s": last["elapsed_s"].to_numpy(),
        "pace_s": last["pace_s"].to_numpy(), "in_pit": last["in_lap"].to_numpy(dtype=bool),
        "stint_laps": np.where(last["in_lap"], 0, last["lap_number"] - last["next_first_lap"]
                               + 1),
        "fuel_used_laps": last["next_units"].to_numpy(),
        "pit_earliest_lap": p["pit_earliest_lap"].to_numpy(),
        "pit_expected_lap": p["pit_expected_lap"].to_numpy(),
        "pit_latest_lap": p["pit_latest_lap"].to_numpy(),
        "full_tank_laps": p["full_tank_laps"].to_numpy(),
        "stop_cost_s": p["stop_cost_s"].to_numpy(),
        "stop_cost_low80_s": p["stop_cost_low80_s"].to_numpy(),
        "stop_cost_high80_s": p["stop_cost_high80_s"].to_numpy(),
    })
    cars["laps_left"] = cars["pit_expected_lap"] - cars["laps"]
    cars["recent_lap_s"] = expected_lap_times(cars, history, track, series)
    ratio = NEUTRAL_COST_RATIO.get(series.upper(), 1.0)
    cars["stop_cost_neutral_s"] = cars["stop_cost_s"] * ratio
    progress = (cars["fuel_used_laps"] / cars["full_tank_laps"]).to_numpy(dtype=float)
    cars["p_caution_stop"] = _caution_probability(history, cars["class"].map(class_group),
                                                  np.nan_to_num(progress, nan=0.0))
    cars["neutralised_now"] = flag in NEUTRAL_FLAGS
    cars = cars.merge(projections, on="number", how="left")
    finish = finish_projection(cars, end_s=end_s, series=series)
    cars = cars.merge(finish.drop(columns=["class"]), on="number", how="left")
    return cars.sort_values(["class", "class_position"], kind="stable").reset_index(drop=True)


HISTORY_SHARE = 0.5   # laps to the flag: weight of history's caution rate vs this race's


def expected_lap_times(cars: pd.DataFrame, history: History, track: str,
                       series: str) -> np.ndarray:
    """Per car: the mean lap (s) to expect until the flag, stops and cautions included.

    Cautions come at random: this race's average so far (last crossing / laps) is blended
    with the car's clean pace × the lap inflation of past races at the track (series).
    """
    so_far = (cars["last_s"] / cars["laps"].where(cars["laps"] > 0)).to_numpy(dtype=float)
    inflation = history.lap_inflation(track, series)
    past = cars["pace_s"].to_numpy(dtype=float) * inflation
    return np.where(np.isfinite(past), HISTORY_SHARE * past + (1 - HISTORY_SHARE) * so_far,
                    so_far)


def what_if(snapshot: StrategySnapshot, number: object, in_laps: int, *, draws: int = 400,
            seed: int = 1) -> pd.DataFrame:
    """Class position 2 laps after the out-lap if ``number`` stops ``in_laps`` laps from now.

    Returns:
        One row per class rival: ``number, p_ahead`` (P(the car is ahead of it)), ``gap_s``
        (rival's crossing − the car's, median; > 0 = the rival is behind), plus the car's
        own row with its projected ``position`` and ``target_lap`` in ``attrs``.
    """
    if number not in snapshot.positions:
        raise KeyError(f"car {number} is not in the race at this time")
    key, j = snapshot.positions[number]
    cf = snapshot.fields[key]
    stop_lap = int(cf.laps[j]) + max(int(in_laps), 1)
    proj = project_after_stop(cf, j, stop_lap, draws=draws, rng=np.random.default_rng(seed))
    table = pd.DataFrame({"number": cf.number, "p_ahead": proj.p_ahead, "gap_s": proj.gap_s,
                          "stop_lap": cf.stop_lap})
    table = table[table["number"] != number].sort_values("gap_s", kind="stable")
    table.attrs.update({"position": proj.position, "target_lap": proj.target_lap,
                        "stop_lap": stop_lap})
    return table.reset_index(drop=True)


def stint_plan(snapshot: StrategySnapshot, number: object) -> pd.DataFrame:
    """The car's stints to the flag: the current one to its expected stop, then full tanks,
    the last one filled just enough (green running assumed)."""
    car = snapshot.cars[snapshot.cars["number"] == number]
    if car.empty:
        return pd.DataFrame(columns=["stint", "from_lap", "in_lap", "laps", "fill"])
    c = car.iloc[0]
    rows = []
    to_flag = c.get("laps_to_flag", np.nan)
    end_lap = c["laps"] + to_flag if np.isfinite(to_flag) else np.nan
    start = c["laps"] - c["stint_laps"] + 1
    stop = c["pit_expected_lap"]
    tank = c["full_tank_laps"]
    k = 0
    while np.isfinite(stop) and np.isfinite(end_lap) and stop < end_lap and k < 60:
        rows.append({"stint": k + 1, "from_lap": int(start), "in_lap": int(stop),
                     "laps": int(stop - start + 1), "fill": "full" if k else "current"})
        start = stop + 1
        remaining = end_lap - stop
        if not np.isfinite(tank) or tank <= 0:
            break
        stop = stop + tank if remaining > tank else np.inf
        k += 1
    if np.isfinite(end_lap):
        rows.append({"stint": k + 1, "from_lap": int(start), "in_lap": None,
                     "laps": int(max(end_lap - start + 1, 0)), "fill": "to the flag"})
    return pd.DataFrame(rows)
