"""Running order at any race time t (DATA.md §2), the data behind the live leaderboard.

Order: more laps first, then earlier crossing of the last completed lap. Gaps come from
ELAPSED: gap to leader = this car's crossing of its lap k − the leader's crossing of lap k;
when the car has fewer laps than the car it is compared with, the gap is "N lap(s)".
Only crossings at or before t are used, so the same function serves replays and live races.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from race.analysis.flags import flag_at

# A car with no crossing for this many of its own median laps is taken as stopped (retired),
# unless it is in the pits, where long repairs are normal and the limit is PIT_RETIRE_S.
RETIRE_AFTER_LAPS = 3.0
PIT_RETIRE_S = 3600.0
STANDING_COLUMNS = [
    "number", "class", "position", "class_position", "laps", "gap_to_leader", "interval",
    "class_gap", "class_interval", "gap_to_leader_s", "class_gap_s", "last_lap_s",
    "best_lap_s", "s1_s", "s2_s", "s3_s", "pit_stops", "laps_in_stint", "last_pit_time_s",
    "driver", "team", "manufacturer", "status", "last_crossing_s", "personal_best_last",
    "overall_best_last",
]


@dataclass(frozen=True)
class PreparedLaps:
    """Laps of one race with the per-car running columns standings need, computed once.

    Build with ``prepare_laps``; reuse it for every ``standings_at`` call on the same data.
    """

    laps: pd.DataFrame
    periods: pd.DataFrame
    chequered_s: float | None  # first FF crossing (the winner's finish), if any
    car_median_lap_s: pd.Series
    # Entered cars with no lap in the file (``number, class, team``): listed last, 0 laps.
    entries: pd.DataFrame | None = None
    # Per-car lookups every call needs, computed once by ``prepare_laps``: each row's car,
    # the cars in order (with their first row's class, team, …) and each car's crossings.
    numbers: np.ndarray | None = None
    cars: pd.DataFrame | None = None
    crossings: dict[str, np.ndarray] | None = None


def prepare_laps(laps: pd.DataFrame, periods: pd.DataFrame,
                 entries: pd.DataFrame | None = None) -> PreparedLaps:
    """Precompute running best lap, last stop duration and stop counts per car.

    Args:
        laps: stored laps of one race sorted by car and lap (``race.store`` returns them so).
        periods: the race's flag periods.
        entries: the entry list when known (``number, class`` and optionally ``team``, e.g.
            the official classification); entered cars that never completed a lap are then
            listed with 0 laps, as the official classification lists them.
    """
    laps = laps.sort_values(["number", "lap_number"], kind="stable").reset_index(drop=True)
    if laps["elapsed_s"].isna().any():
        # Laps a live feed missed (time unknown until backfilled) were crossed no later than
        # the car's next known crossing: order them there so each car keeps one last lap.
        laps["elapsed_s"] = laps.groupby("number", sort=False)["elapsed_s"].bfill()
    by_car = laps.groupby("number", sort=False)
    stop_row = laps["pit_time_s"].notna() & laps["lap_number"].gt(1)
    laps = laps.assign(
        best_so_far_s=by_car["lap_time_s"].cummin(),
        last_pit_time_s=laps["pit_time_s"].where(stop_row).groupby(laps["number"]).ffill(),
        stops_so_far=stop_row.astype(int).groupby(laps["number"]).cumsum(),
    )
    flags = laps["flag"] if "flag" in laps else pd.Series(dtype=object)
    ff = laps.loc[flags.eq("FF"), "elapsed_s"]
    medians = by_car["lap_time_s"].median()
    missing = None
    if entries is not None and len(entries):
        missing = entries[~entries["number"].isin(laps["number"])]
        missing = missing.reindex(columns=["number", "class", "team"]).drop_duplicates(
            "number").reset_index(drop=True)
    missing = missing if missing is not None and len(missing) else None
    numbers, cars, crossings = _car_lookups(laps, missing)
    return PreparedLaps(laps, periods, float(ff.min()) if len(ff) else None, medians,
                        missing, numbers, cars, crossings)


def _car_lookups(laps: pd.DataFrame, entries: pd.DataFrame | None,
                 ) -> tuple[np.ndarray, pd.DataFrame, dict[str, np.ndarray]]:
    """Each row's car, one row per car (first-row identity, then entries without laps) and
    each car's crossing times from its first lap on (rows are sorted by car then lap)."""
    numbers = laps["number"].to_numpy(dtype=object)
    first = np.ones(len(numbers), dtype=bool)
    first[1:] = numbers[1:] != numbers[:-1]
    first_rows = np.flatnonzero(first)
    cars = laps.iloc[first_rows][["number", "class", "team", "manufacturer", "driver_name"]]
    if entries is not None:
        cars = pd.concat([cars, entries], ignore_index=True)
    elapsed = laps["elapsed_s"].to_numpy()
    return numbers, cars, {numbers[i]: elapsed[i:] for i in first_rows}


def final_order_time_s(prepared: PreparedLaps) -> float:
    """The race time at which the final classification is taken (s).

    The last crossing, except for a race that ends under a red flag (its last flag period is
    RF and no green crossing follows it): then the order is counted back to the last green
    crossing, i.e. taken at the start of that red period.
    """
    elapsed = prepared.laps["elapsed_s"]
    end = float(elapsed.max()) if len(elapsed) else 0.0
    periods = prepared.periods
    if len(periods):
        last = periods.sort_values("start_s").iloc[-1]
        if last["flag"] == "RF" and float(last["end_s"]) >= end:
            return float(last["start_s"])
    return end


def _gap_strings(laps_behind: np.ndarray, gap_s: np.ndarray) -> list[object]:
    out: list[object] = []
    for n, g in zip(laps_behind, gap_s, strict=True):
        if n >= 1:
            out.append(f"{int(n)} lap" if n == 1 else f"{int(n)} laps")
        elif np.isnan(g):
            out.append(None)
        else:
            out.append(round(float(g), 3))
    return out


def _gaps(order: pd.DataFrame, lap_times: dict[str, np.ndarray], group: np.ndarray,
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gap to the group leader and to the car ahead in the group (laps behind, seconds)."""
    n = len(order)
    laps = order["laps"].to_numpy()
    crossing = order["last_crossing_s"].to_numpy()
    numbers = order["number"].to_numpy()
    lead_laps = np.zeros(n)
    lead_gap = np.full(n, np.nan)
    ahead_laps = np.zeros(n)
    ahead_gap = np.full(n, np.nan)
    leader_of: dict[object, int] = {}
    prev_of: dict[object, int] = {}
    for i in range(n):
        g = group[i]
        if laps[i] == 0:
            prev_of[g] = i
            continue
        if g not in leader_of:
            leader_of[g] = i
            lead_gap[i] = 0.0
        else:
            j = leader_of[g]
            lead_laps[i] = laps[j] - laps[i]
            lead_gap[i] = crossing[i] - lap_times[numbers[j]][laps[i] - 1]
            k = prev_of[g]
            ahead_laps[i] = laps[k] - laps[i]
            ahead_gap[i] = crossing[i] - lap_times[numbers[k]][laps[i] - 1]
        prev_of[g] = i
    return lead_laps, lead_gap, ahead_laps, ahead_gap


def standings_at(prepared: PreparedLaps, t_s: float | None = None) -> tuple[pd.DataFrame, str]:
    """The running order at race time ``t_s`` (None = after the last crossing).

    Returns:
        (one row per car with ``STANDING_COLUMNS``, the flag in force: GF, FCY, SF, RF, FF)
    """
    laps = prepared.laps
    elapsed = laps["elapsed_s"].to_numpy()
    if t_s is None:
        t_s = float(elapsed.max()) if len(elapsed) else 0.0
    if prepared.numbers is None:  # built by hand, not by prepare_laps
        prepared = replace(prepared, **dict(zip(("numbers", "cars", "crossings"),
                                                _car_lookups(laps, prepared.entries),
                                                strict=True)))
    number = prepared.numbers
    done = elapsed <= t_s
    next_same = np.zeros(len(laps), dtype=bool)
    next_same[:-1] = number[1:] == number[:-1]
    next_done = np.zeros(len(laps), dtype=bool)
    next_done[:-1] = done[1:]
    last_idx = np.flatnonzero(done & ~(next_same & next_done))
    last = laps.iloc[last_idx]
    frame = prepared.cars.merge(last, on="number", how="left", suffixes=("_car", ""))
    for col in ("class", "team", "manufacturer", "driver_name"):
        frame[col] = frame[col].fillna(frame[f"{col}_car"])
    frame["laps"] = frame["lap_number"].fillna(0).astype(int)
    frame["last_crossing_s"] = frame["elapsed_s"]
    frame = frame.sort_values(["laps", "last_crossing_s", "number"],
                              ascending=[False, True, True], kind="stable").reset_index(drop=True)
    # Each car's crossing time of every lap, for gaps at equal lap count.
    # (rows are sorted by car then lap, so a car's lap k crossing is at its first row + k − 1)
    lap_times = prepared.crossings
    lead_laps, lead_gap, ahead_laps, ahead_gap = _gaps(frame, lap_times, np.zeros(len(frame)))
    cls = frame["class"].to_numpy()
    c_lead_laps, c_lead_gap, c_ahead_laps, c_ahead_gap = _gaps(frame, lap_times, cls)
    frame["position"] = np.arange(1, len(frame) + 1)
    frame["class_position"] = frame.groupby("class", sort=False).cumcount() + 1
    frame["gap_to_leader"] = _gap_strings(lead_laps, lead_gap)
    frame["interval"] = _gap_strings(ahead_laps, ahead_gap)
    frame["class_gap"] = _gap_strings(c_lead_laps, c_lead_gap)
    frame["class_interval"] = _gap_strings(c_ahead_laps, c_ahead_gap)
    frame["gap_to_leader_s"] = lead_gap
    frame["class_gap_s"] = c_lead_gap
    frame["last_lap_s"] = frame["lap_time_s"]
    frame["best_lap_s"] = frame["best_so_far_s"]
    frame["pit_stops"] = frame["stops_so_far"].fillna(0).astype(int)
    frame["laps_in_stint"] = frame["lap_in_stint"].fillna(0).astype(int)
    frame["driver"] = frame["driver_name"]
    # Status, from crossings up to t only: a car in the pit lane, on track, or stopped.
    since = t_s - frame["last_crossing_s"].to_numpy()
    median = frame["number"].map(prepared.car_median_lap_s).to_numpy(dtype=float)
    in_pit = frame["in_lap"].fillna(False).to_numpy(dtype=bool)
    flag = flag_at(prepared.periods, t_s) or "GF"
    finished = prepared.chequered_s is not None and t_s >= prepared.chequered_s
    if finished:
        flag = "FF"
    status = np.where(in_pit, "pit", "track").astype(object)
    stopped = np.where(in_pit, since > PIT_RETIRE_S, since > RETIRE_AFTER_LAPS * median)
    if flag != "RF":
        status[stopped] = "retired"
    if finished:
        took_flag = frame["last_crossing_s"].to_numpy() >= prepared.chequered_s
        status[took_flag] = "finished"
        status[~took_flag & (since > RETIRE_AFTER_LAPS * median)] = "retired"
    status[frame["laps"].to_numpy() == 0] = "not started" if t_s > 0 else "grid"
    frame["status"] = status
    overall_best = float(np.nanmin(frame["best_lap_s"])) if frame["best_lap_s"].notna().any() \
        else np.nan
    frame["personal_best_last"] = (frame["last_lap_s"] == frame["best_lap_s"]) & (
        frame["lap_number"] > 1)
    frame["overall_best_last"] = frame["personal_best_last"] & (
        frame["last_lap_s"] == overall_best)
    return frame[STANDING_COLUMNS], flag
