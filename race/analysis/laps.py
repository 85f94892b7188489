"""Per-lap derived facts: in/out laps, stints, neutralised, restart and clean laps.

Definitions (DATA.md §2, ML.md §1): in-lap = crossed the line in the pit lane (B); out-lap =
the row carrying PIT_TIME or the lap after an in-lap; PIT_TIME on a car's first row is a
pit-lane start, not a stop; stint number = 1 + PIT_TIME rows so far; a lap is neutralised when
[ELAPSED − LAP_TIME, ELAPSED] overlaps a rebuilt period; a restart lap starts within one median
lap time after a period ends; clean = not lap 1, not in/out, not neutralised, not a restart
lap, has a lap time. Clean is never decided by the lap's own time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from race.analysis.flags import follows_period, overlaps_periods, rebuild_flag_periods


def derive_laps(laps: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the derived lap columns and rebuild the race's flag periods.

    Args:
        laps: parsed lap rows sorted by car then lap (as the official file is).

    Returns:
        (laps with ``start_s, in_lap, out_lap, stint_number, lap_in_stint, neutralised,
        restart_lap, clean, pit_lane_start``; flag periods)
    """
    laps = laps.reset_index(drop=True)
    number = laps["number"].to_numpy()
    first_row = np.ones(len(laps), dtype=bool)
    first_row[1:] = number[1:] != number[:-1]
    in_lap = laps["crossing_in_pit"].to_numpy(dtype=bool)
    has_pit = laps["pit_time_s"].notna().to_numpy()
    after_in = np.zeros(len(laps), dtype=bool)
    after_in[1:] = in_lap[:-1] & ~first_row[1:]
    stop_row = has_pit & ~first_row
    out = laps.assign(
        start_s=(laps["elapsed_s"] - laps["lap_time_s"].fillna(0.0)).round(3),
        in_lap=in_lap,
        out_lap=stop_row | after_in,
        pit_lane_start=has_pit & first_row,
    )
    car_index = np.cumsum(first_row) - 1
    stops_so_far = np.cumsum(stop_row)
    stops_before_car = np.concatenate([[0], stops_so_far])[np.flatnonzero(first_row)]
    out["stint_number"] = stops_so_far - stops_before_car[car_index] + 1
    stint_key = car_index * 10_000 + out["stint_number"].to_numpy()
    new_stint = np.ones(len(laps), dtype=bool)
    new_stint[1:] = stint_key[1:] != stint_key[:-1]
    stint_first_idx = np.maximum.accumulate(np.where(new_stint, np.arange(len(laps)), 0))
    out["lap_in_stint"] = np.arange(len(laps)) - stint_first_idx + 1

    periods = rebuild_flag_periods(out)
    start = out["start_s"].to_numpy()
    end = out["elapsed_s"].to_numpy()
    neutral = overlaps_periods(start, end, periods)
    median_lap_s = float(np.nanmedian(out["lap_time_s"])) if len(out) else np.nan
    restart = follows_period(start, periods, median_lap_s) & ~neutral
    out["neutralised"] = neutral
    out["restart_lap"] = restart
    out["clean"] = ((out["lap_number"] > 1).to_numpy() & ~out["in_lap"].to_numpy()
                    & ~out["out_lap"].to_numpy() & ~neutral & ~restart
                    & out["lap_time_s"].notna().to_numpy())
    return out, periods
