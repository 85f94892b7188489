"""Per-lap derived facts: in/out laps, stints, neutralised, restart and clean laps.

Definitions (DATA.md §2, ML.md §1): in-lap = crossed the line in the pit lane (B); out-lap =
the row carrying PIT_TIME or the lap after an in-lap; PIT_TIME on a car's first row is a
pit-lane start, not a stop; stint number = 1 + PIT_TIME rows so far; a lap is neutralised when
[ELAPSED − LAP_TIME, ELAPSED] overlaps a rebuilt period; a restart lap starts within one median
lap time after a period ends; clean = not lap 1, not in/out, not neutralised, not a restart
lap, has a lap time. Clean is never decided by the lap's own time.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from race.analysis.flags import follows_period, overlaps_periods, rebuild_flag_periods


def derive_car_columns(laps: pd.DataFrame, context: pd.DataFrame | None = None) -> pd.DataFrame:
    """``laps`` with the per-car columns of ``car_columns`` added."""
    laps = laps.reset_index(drop=True)
    return laps.assign(**car_columns(laps, context))


def car_columns(laps: pd.DataFrame | Mapping[str, np.ndarray],
                context: pd.DataFrame | Mapping[str, np.ndarray] | None = None,
                ) -> dict[str, np.ndarray]:
    """The per-car columns that depend only on a car's earlier laps.

    Works on a whole race or on a tail of new laps: ``context`` then holds each car's last
    stored row (``number, in_lap, stint_number, lap_in_stint``) so the tail continues its
    stints exactly as a derivation of the whole race would.

    Args:
        laps: lap rows sorted by car then lap (a DataFrame, or columns as arrays).
        context: at most one row per car, the lap before the car's first row in ``laps``.

    Returns:
        ``start_s, in_lap, out_lap, pit_lane_start, stint_number, lap_in_stint`` as arrays
        aligned with ``laps``.
    """
    n = len(laps["number"])
    number = np.asarray(laps["number"])
    first_row = np.ones(n, dtype=bool)
    first_row[1:] = number[1:] != number[:-1]
    has_ctx = np.zeros(n, dtype=bool)
    ctx_in = np.zeros(n, dtype=bool)
    ctx_stint = np.ones(n, dtype=np.int64)
    ctx_lap_in_stint = np.zeros(n, dtype=np.int64)
    if context is not None and len(context["number"]):
        # A few rows per poll: plain dict lookups beat pandas index alignment here.
        ctx = {num: (bool(i), int(s), int(k)) for num, i, s, k in zip(
            context["number"], context["in_lap"], context["stint_number"],
            context["lap_in_stint"], strict=True)}
        for row, num in enumerate(number):
            hit = ctx.get(num)
            if hit is not None:
                has_ctx[row] = True
                ctx_in[row], ctx_stint[row], ctx_lap_in_stint[row] = hit
    in_lap = np.asarray(laps["crossing_in_pit"], dtype=bool)
    pit_time = np.asarray(laps["pit_time_s"], dtype=float)
    has_pit = ~np.isnan(pit_time)
    after_in = np.zeros(n, dtype=bool)
    after_in[1:] = in_lap[:-1] & ~first_row[1:]
    after_in |= first_row & ctx_in
    # PIT_TIME on a car's very first lap is a pit-lane start, not a stop.
    stop_row = has_pit & (~first_row | has_ctx)
    lap_time = np.asarray(laps["lap_time_s"], dtype=float)
    car_index = np.cumsum(first_row) - 1
    stops_so_far = np.cumsum(stop_row)
    stops_before_car = (np.concatenate([[0], stops_so_far])[np.flatnonzero(first_row)]
                        if n else np.zeros(0, dtype=np.int64))
    stint_number = ctx_stint + stops_so_far - stops_before_car[car_index]
    new_stint = first_row.copy()
    new_stint[1:] |= stint_number[1:] != stint_number[:-1]
    stint_first_idx = np.maximum.accumulate(np.where(new_stint, np.arange(n), 0))
    lap_in_stint = np.arange(n) - stint_first_idx + 1
    # A tail that continues the context's stint keeps counting from it.
    continuing = has_ctx & (stint_number == ctx_stint)
    lap_in_stint[continuing] += ctx_lap_in_stint[continuing]
    return {
        "start_s": np.round(np.asarray(laps["elapsed_s"], dtype=float)
                            - np.nan_to_num(lap_time, nan=0.0), 3),
        "in_lap": in_lap,
        "out_lap": stop_row | after_in,
        "pit_lane_start": has_pit & first_row & ~has_ctx,
        "stint_number": stint_number,
        "lap_in_stint": lap_in_stint,
    }


def neutral_columns(laps: pd.DataFrame | Mapping[str, np.ndarray], periods: pd.DataFrame,
                    median_lap_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neutralised, restart and clean flags of laps, given the race's flag periods.

    Args:
        laps: rows (a DataFrame, or columns as arrays) with ``start_s, elapsed_s,
            lap_number, in_lap, out_lap, lap_time_s`` (unknown times are NaN: such a lap is
            never neutralised, restart or clean).
        periods: the race's flag periods (sorted, disjoint).
        median_lap_s: the race's median lap time (s), the restart window.

    Returns:
        (neutralised, restart_lap, clean) boolean arrays aligned with ``laps``.
    """
    start = np.asarray(laps["start_s"], dtype=float)
    end = np.asarray(laps["elapsed_s"], dtype=float)
    neutral = overlaps_periods(start, end, periods)
    restart = follows_period(start, periods, median_lap_s) & ~neutral
    clean = ((np.asarray(laps["lap_number"]) > 1) & ~np.asarray(laps["in_lap"], dtype=bool)
             & ~np.asarray(laps["out_lap"], dtype=bool) & ~neutral & ~restart
             & ~np.isnan(np.asarray(laps["lap_time_s"], dtype=float)))
    return neutral, restart, clean


def median_lap_s(lap_time_s: pd.Series | np.ndarray) -> float:
    """The race's median lap time (s) over laps with a time; NaN when there is none."""
    values = np.asarray(lap_time_s, dtype=float)
    return float(np.nanmedian(values)) if np.isfinite(values).any() else np.nan


def derive_laps(laps: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the derived lap columns and rebuild the race's flag periods.

    Args:
        laps: parsed lap rows sorted by car then lap (as the official file is).

    Returns:
        (laps with ``start_s, in_lap, out_lap, stint_number, lap_in_stint, neutralised,
        restart_lap, clean, pit_lane_start``; flag periods)
    """
    out = derive_car_columns(laps)
    periods = rebuild_flag_periods(out)
    neutral, restart, clean = neutral_columns(out, periods, median_lap_s(out["lap_time_s"]))
    out["neutralised"] = neutral
    out["restart_lap"] = restart
    out["clean"] = clean
    return out, periods
