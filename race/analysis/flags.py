"""Neutralisation periods rebuilt from every car's line crossings (DATA.md §2, ML.md §1).

A lap's own FLAG_AT_FL is the state at the line only. Periods are rebuilt across all cars:
crossings sorted by ELAPSED; a period starts midway between the last green crossing and the
first non-green one and ends midway between the last non-green crossing and the next green
one. GF and FF count as green. Files without a flag column (WEC ≤ 2019) get periods inferred
from the field's lap-time ratio to reference pace (> 1.07), marked ``inferred``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from race.schema import GREEN_FLAGS

GREEN = "GF"
INFERRED_RATIO_THRESHOLD = 1.07


def periods_from_states(elapsed_s: np.ndarray, states: np.ndarray, *,
                        inferred: bool = False, green: object = GREEN) -> pd.DataFrame:
    """Turn a time-sorted sequence of crossing states into flag periods.

    Args:
        elapsed_s: crossing times (s), sorted ascending.
        states: flag code per crossing, ``GF`` for green (FF already mapped to GF).
        inferred: mark the periods as inferred (no flag column in the source).
        green: the state meaning green (another value when states are codes).

    Returns:
        DataFrame ``period_number, flag, start_s, end_s, inferred``; consecutive crossings
        with the same non-green code form one period, bounded at midpoints.
    """
    columns = ["period_number", "flag", "start_s", "end_s", "inferred"]
    n = len(states)
    if n == 0:
        return pd.DataFrame(columns=columns)
    change = np.flatnonzero(states[1:] != states[:-1]) + 1
    run_start = np.concatenate([[0], change])
    run_end = np.concatenate([change, [n]]) - 1  # index of the last crossing of each run
    run_state = states[run_start]
    keep = run_state != green
    first, last = run_start[keep], run_end[keep]
    before = np.where(first > 0, elapsed_s[np.maximum(first - 1, 0)], 0.0)
    start = np.where(first > 0, (before + elapsed_s[first]) / 2.0, 0.0)
    after_idx = np.minimum(last + 1, n - 1)
    end = np.where(last + 1 < n, (elapsed_s[last] + elapsed_s[after_idx]) / 2.0,
                   elapsed_s[last])
    return pd.DataFrame({
        "period_number": np.arange(1, int(keep.sum()) + 1, dtype=np.int64),
        "flag": run_state[keep].astype(object),
        "start_s": start.astype(float),
        "end_s": end.astype(float),
        "inferred": np.full(int(keep.sum()), inferred),
    })


def rebuild_flag_periods(laps: pd.DataFrame | Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Rebuild neutralisation periods from all crossings of a race.

    Args:
        laps: lap rows (a DataFrame, or columns as arrays: the live path's) with
            ``elapsed_s`` and ``flag`` (None = unknown). When every flag is unknown, periods
            are inferred from ``lap_time_s``/``class``/``in_lap``/``out_lap``.
    """
    all_flags = np.asarray(laps["flag"], dtype=object)
    known = ~pd.isna(all_flags)
    if not known.any():
        return infer_flag_periods(laps if isinstance(laps, pd.DataFrame)
                                  else pd.DataFrame(dict(laps)))
    elapsed = np.asarray(laps["elapsed_s"], dtype=float)[known]
    flags = all_flags[known]
    order = np.argsort(elapsed, kind="stable")
    states = np.where(np.isin(flags[order], GREEN_FLAGS), GREEN, flags[order])
    return periods_from_states(elapsed[order], states.astype(object))


class SortedCrossings:
    """The crossings with a known flag, kept sorted by ELAPSED as laps arrive (the live path).

    ``rebuild_flag_periods`` sorts every crossing of the race on each call; a live race adds
    a few laps per poll, so it keeps them sorted by insertion instead and rebuilds the
    periods from small integer codes. Ties keep arrival order, as the stable sort does, so
    the periods are the same.
    """

    def __init__(self) -> None:
        self.elapsed_s = np.zeros(0, dtype=float)
        self.codes = np.zeros(0, dtype=np.int8)
        self.flags: list[str] = [GREEN]  # code → flag; code 0 is green (GF and FF)

    def __len__(self) -> int:
        return len(self.elapsed_s)

    def add(self, elapsed_s: np.ndarray, flags: np.ndarray) -> None:
        """Add crossings (in arrival order); unknown flags (None/NaN) are left out."""
        flags = np.asarray(flags, dtype=object)
        known = ~pd.isna(flags)
        if not known.any():
            return
        elapsed = np.asarray(elapsed_s, dtype=float)[known]
        order = np.argsort(elapsed, kind="stable")
        codes = np.array([self._code(f) for f in flags[known][order]], dtype=np.int8)
        at = np.searchsorted(self.elapsed_s, elapsed[order], side="right")
        self.elapsed_s = np.insert(self.elapsed_s, at, elapsed[order])
        self.codes = np.insert(self.codes, at, codes)

    def _code(self, flag: str) -> int:
        if flag in GREEN_FLAGS:
            return 0
        if flag not in self.flags:
            self.flags.append(flag)
        return self.flags.index(flag)

    def periods(self) -> pd.DataFrame:
        """The flag periods of the crossings so far (as ``rebuild_flag_periods``)."""
        periods = periods_from_states(self.elapsed_s, self.codes, green=0)
        if len(periods):  # codes back to flags
            periods["flag"] = np.array(self.flags, dtype=object)[
                periods["flag"].to_numpy(dtype=int)]
        return periods


def infer_flag_periods(laps: pd.DataFrame) -> pd.DataFrame:
    """Infer neutralisations where the field-median lap ratio to class pace exceeds 1.07.

    The ratio of each lap to its class's median racing lap is smoothed with a running median
    over about a third of the field's crossings, so one slow car (an incident) does not make
    a period but the whole field slowing (safety car, FCY) does.
    """
    racing = ((laps["lap_number"] > 1).to_numpy() & ~laps["in_lap"].to_numpy(dtype=bool)
              & ~laps["out_lap"].to_numpy(dtype=bool))
    lap_time = laps["lap_time_s"].to_numpy(dtype=float)
    codes, classes = pd.factorize(laps["class"])
    # Each class's median racing lap (NaN for a class without one), as a lookup by code.
    reference = np.full(len(classes) + 1, np.nan)
    for code in range(len(classes)):
        times = lap_time[racing & (codes == code)]
        times = times[~np.isnan(times)]
        if len(times):
            reference[code] = np.median(times)
    ratio = np.where(racing, lap_time / reference[codes], np.nan)  # code -1 (no class): NaN
    frame = pd.DataFrame({"elapsed_s": laps["elapsed_s"].to_numpy(), "ratio": ratio})
    frame = frame.sort_values("elapsed_s", kind="stable")
    window = max(5, laps["number"].nunique() // 3)
    smooth = frame["ratio"].rolling(window, center=True, min_periods=3).median()
    states = np.where(smooth.to_numpy() > INFERRED_RATIO_THRESHOLD, "FCY", GREEN)
    return periods_from_states(frame["elapsed_s"].to_numpy(), states.astype(object),
                               inferred=True)


def flag_at(periods: pd.DataFrame, t_s: float) -> str | None:
    """The period flag in force at race time ``t_s``; None when no period covers it."""
    if periods.empty:
        return None
    hit = periods[(periods["start_s"] <= t_s) & (periods["end_s"] > t_s)]
    return None if hit.empty else str(hit["flag"].iloc[0])


def overlaps_periods(start_s: np.ndarray, end_s: np.ndarray,
                     periods: pd.DataFrame) -> np.ndarray:
    """True where the interval [start_s, end_s] overlaps any (sorted, disjoint) period."""
    if periods.empty:
        return np.zeros(len(start_s), dtype=bool)
    p_start = periods["start_s"].to_numpy()
    p_end = periods["end_s"].to_numpy()
    idx = np.searchsorted(p_end, start_s, side="right")  # first period ending after start
    inside = idx < len(p_end)
    out = np.zeros(len(start_s), dtype=bool)
    out[inside] = p_start[idx[inside]] < end_s[inside]
    return out


def follows_period(start_s: np.ndarray, periods: pd.DataFrame, window_s: float) -> np.ndarray:
    """True where a lap starts within ``window_s`` after the end of a period (restart lap)."""
    if periods.empty or not np.isfinite(window_s):
        return np.zeros(len(start_s), dtype=bool)
    p_end = periods["end_s"].to_numpy()
    idx = np.searchsorted(p_end, start_s, side="right") - 1  # last period ended by start
    ok = idx >= 0
    out = np.zeros(len(start_s), dtype=bool)
    out[ok] = start_s[ok] - p_end[idx[ok]] <= window_s
    return out


def finish_s(laps: pd.DataFrame, *, complete: bool) -> float | None:
    """Race time of the chequered flag (s), or None while the race is still running.

    The first FF crossing when the flag column shows one. A complete file (an import, not a
    race followed live) without one (no flag column, or a finish under yellow) ends at the
    leader's last crossing: the car with the most laps, the first of them to complete it.

    Args:
        laps: ``number, lap_number, elapsed_s`` and ``flag`` when the source has one.
        complete: the laps are the whole race (an imported file).
    """
    if laps.empty:
        return None
    if "flag" in laps:
        ff = laps.loc[laps["flag"].eq("FF"), "elapsed_s"]
        if len(ff):
            return float(ff.min())
    if not complete:
        return None
    most = laps["lap_number"].max()
    return float(laps.loc[laps["lap_number"] == most, "elapsed_s"].min())
