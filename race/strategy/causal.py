"""Lap facts as they were known at each crossing: nothing from later crossings leaks in.

``race.analysis.laps.derive_laps`` decides ``neutralised``, ``restart_lap`` and ``clean`` with
the whole race in hand (the restart window is the median of *all* lap times; periods of files
without flags are inferred with a centred window). The strategy engine replays a race as if
live, so it recomputes those facts causally:

* Flagged files: periods are rebuilt from all crossings, which gives the same answer for a lap
  ending at crossing time t as a rebuild from the crossings up to t. A period's start lies
  midway between the last green and the first non-green crossing; if that first non-green
  crossing comes after t, the last green crossing is at or after t (the lap's own crossing is
  green), so the period cannot overlap the lap. A period's end lies midway between the last
  non-green and the next green crossing; for a lap ending at t either that green crossing is
  at or before t (known) or the state at t is still non-green (period still open).
  ``tests/test_strategy_causal.py`` checks the equivalence on truncated races.
* Files without flags: the field's lap-time ratio to the class's expanding median racing lap,
  smoothed by a *trailing* running median, marks the neutralised crossings.
* Restart lap: starts within one median lap time after a period ends, the median taken over
  the laps completed by the end of the period.
"""

from __future__ import annotations

import bisect

import numpy as np
import pandas as pd

from race.analysis.flags import (
    GREEN,
    INFERRED_RATIO_THRESHOLD,
    overlaps_periods,
    periods_from_states,
    rebuild_flag_periods,
)


def infer_periods_causal(laps: pd.DataFrame) -> pd.DataFrame:
    """Neutral periods of a file without flags, each crossing judged from earlier crossings.

    Args:
        laps: lap rows with ``elapsed_s, lap_time_s, class, lap_number, in_lap, out_lap``.

    Returns:
        Periods as ``race.analysis.flags.periods_from_states`` (``inferred`` True).
    """
    order = np.argsort(laps["elapsed_s"].to_numpy(), kind="stable")
    elapsed = laps["elapsed_s"].to_numpy()[order]
    lap_time = laps["lap_time_s"].to_numpy(dtype=float)[order]
    cls = laps["class"].astype(str).to_numpy()[order]
    racing = ((laps["lap_number"].to_numpy() > 1) & ~laps["in_lap"].to_numpy(dtype=bool)
              & ~laps["out_lap"].to_numpy(dtype=bool))[order] & np.isfinite(lap_time)
    sorted_by_class: dict[str, list[float]] = {}
    ratio = np.full(len(order), np.nan)
    for i in range(len(order)):
        if not racing[i]:
            continue
        seen = sorted_by_class.setdefault(cls[i], [])
        bisect.insort(seen, lap_time[i])
        ratio[i] = lap_time[i] / seen[(len(seen) - 1) // 2]
    window = max(5, laps["number"].nunique() // 3)
    smooth = pd.Series(ratio).rolling(window, min_periods=3).median().to_numpy()
    states = np.where(smooth > INFERRED_RATIO_THRESHOLD, "FCY", GREEN).astype(object)
    return periods_from_states(elapsed, states, inferred=True)


def causal_periods(laps: pd.DataFrame) -> pd.DataFrame:
    """Flag periods usable at every crossing time (see the module docstring)."""
    if laps["flag"].notna().any():
        return rebuild_flag_periods(laps)
    return infer_periods_causal(laps)


def restart_windows(laps: pd.DataFrame, periods: pd.DataFrame) -> np.ndarray:
    """Per period: the median lap time (s) of the laps completed by the period's end."""
    if periods.empty:
        return np.zeros(0)
    order = np.argsort(laps["elapsed_s"].to_numpy(), kind="stable")
    elapsed = laps["elapsed_s"].to_numpy()[order]
    lap_time = laps["lap_time_s"].to_numpy(dtype=float)[order]
    ends = periods["end_s"].to_numpy()
    out = np.full(len(ends), np.nan)
    for k, end in enumerate(ends):
        done = lap_time[: np.searchsorted(elapsed, end, side="right")]
        done = done[np.isfinite(done)]
        if len(done):
            out[k] = float(np.median(done))
    return out


def causal_lap_facts(laps: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add ``neutral_c``, ``restart_c`` and ``clean_c``: the causal twins of the derived facts.

    Args:
        laps: derived laps of one race (``race.analysis.laps.derive_laps`` output or the stored
            ``laps`` table), sorted by car then lap; may stop at any race time.

    Returns:
        (laps with the three columns added, the causal periods)
    """
    laps = laps.reset_index(drop=True)
    periods = causal_periods(laps)
    start = laps["start_s"].to_numpy(dtype=float)
    end = laps["elapsed_s"].to_numpy(dtype=float)
    neutral = overlaps_periods(start, end, periods)
    restart = np.zeros(len(laps), dtype=bool)
    if not periods.empty:
        windows = restart_windows(laps, periods)
        p_end = periods["end_s"].to_numpy()
        idx = np.searchsorted(p_end, start, side="right") - 1
        ok = idx >= 0
        gap = np.full(len(laps), np.inf)
        gap[ok] = start[ok] - p_end[idx[ok]]
        win = np.where(ok, windows[np.maximum(idx, 0)], np.nan)
        restart = (gap <= win) & ~neutral
    clean = ((laps["lap_number"].to_numpy() > 1) & ~laps["in_lap"].to_numpy(dtype=bool)
             & ~laps["out_lap"].to_numpy(dtype=bool) & ~neutral & ~restart
             & np.isfinite(laps["lap_time_s"].to_numpy(dtype=float)))
    out = laps.assign(neutral_c=neutral, restart_c=restart, clean_c=clean)
    return out, periods
