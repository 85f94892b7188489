"""Robust clean-lap pace per car, as ML.md §1 defines the EWMA baseline.

EWMA (α = 0.3) over the clean laps of the current stint; a clean lap enters it only if it is
≤ 1.07 × the median of the car's earlier clean laps in the race. Until the stint has a few
EWMA laps the pace falls back to the median of the car's last accepted clean laps, then to
the class median. A lap-time predictor (``race.models.predict``) can replace ``pace_s`` row for row:
the projections only read the ``pace_s`` column.
"""

from __future__ import annotations

import bisect

import numpy as np
import pandas as pd

ALPHA = 0.3
ENTRY_RATIO = 1.07
MIN_STINT_LAPS = 3   # EWMA laps in the stint before it is trusted over the recent median
RECENT_LAPS = 10


def pace_columns(laps: pd.DataFrame) -> pd.DataFrame:
    """Per lap, the car's pace estimate after that lap (causal).

    Args:
        laps: laps with ``number, stint_number, lap_time_s, clean_c`` sorted by car then lap.

    Returns:
        DataFrame aligned with ``laps``: ``ewma_s`` (stint EWMA, NaN before its first lap),
        ``ewma_laps`` (laps in it), ``pace_s`` (EWMA when ≥ 3 laps, else recent median of
        accepted clean laps, else NaN), ``clean_laps_seen``.
    """
    number = laps["number"].to_numpy()
    stint = laps["stint_number"].to_numpy()
    lap_time = laps["lap_time_s"].to_numpy(dtype=float)
    clean = laps["clean_c"].to_numpy(dtype=bool)
    n = len(laps)
    ewma = np.full(n, np.nan)
    ewma_laps = np.zeros(n, dtype=np.int64)
    pace = np.full(n, np.nan)
    seen_n = np.zeros(n, dtype=np.int64)
    car = None
    cur_stint = None
    value = np.nan
    count = 0
    seen: list[float] = []
    recent: list[float] = []
    for i in range(n):
        if number[i] != car:
            car, cur_stint, value, count, seen, recent = number[i], None, np.nan, 0, [], []
        if stint[i] != cur_stint:
            cur_stint, value, count = stint[i], np.nan, 0
        if clean[i]:
            accept = not seen or lap_time[i] <= ENTRY_RATIO * seen[(len(seen) - 1) // 2]
            bisect.insort(seen, lap_time[i])
            if accept:
                value = lap_time[i] if count == 0 else ALPHA * lap_time[i] + (1 - ALPHA) * value
                count += 1
                recent.append(lap_time[i])
                if len(recent) > RECENT_LAPS:
                    recent.pop(0)
        ewma[i] = value
        ewma_laps[i] = count
        seen_n[i] = len(seen)
        if count >= MIN_STINT_LAPS:
            pace[i] = value
        elif recent:
            ordered = sorted(recent)
            mid = len(ordered) // 2
            pace[i] = (ordered[mid] if len(ordered) % 2
                       else 0.5 * (ordered[mid - 1] + ordered[mid]))
    return pd.DataFrame({"ewma_s": ewma, "ewma_laps": ewma_laps, "pace_s": pace,
                         "clean_laps_seen": seen_n}, index=laps.index)
