"""Where every car is on the lap at race time t, estimated from the laps stored so far.

The feeds have no GPS: a car's place on the lap is estimated from its last line crossing,
the time it is expected to take for the lap it is on, and the shape of that lap.

- **Lap fraction** is measured in the time a car takes: a sector boundary sits at the
  field's typical share of the lap reached there (median over the green laps with sector
  times), the same point of the ring for every car; between two boundaries the car moves
  at constant speed. With no sector times the boundaries are thirds and the lap is linear.
- **Expected lap** (green): the median of the car's last ``PACE_LAPS`` clean laps, halfway
  to its last lap when that one was clean (else its class's pace, else its last lap), times
  the field's drift: how much slower or faster than their pace the cars that crossed in the
  last half lap ran (rain, a drying track, slow zones). Its sector shape: the median share
  of the lap the clean laps reached at S1 and S2, or the previous lap's when only it has
  sector times.
- **Neutralisations** (flag periods rebuilt from the crossings so far, the current one still
  open): time spent under one counts at the neutralised pace: the car's own last lap when it
  was run wholly under this period, else the median of the field's latest such laps, else
  the ratio of earlier periods of the race, else ``DEFAULT_NEUTRAL_RATIO`` (a period
  inferred from lap times, with no flag column: the ratio of the laps ended in it so far).
- **Pit stops**: after an in-lap crossing (B) the car is in the pit lane for its expected
  pit time (its own median PIT_TIME, else the field's), then on its out-lap; the out-lap
  takes the field's median extra time per sector of the green out-laps so far (the stop is
  in S1 of the out-lap in the official files).
- The fraction is clamped below 1 until the next crossing. A car with no crossing for
  ``RETIRE_AFTER_LAPS`` expected laps is ``stopped`` (in the pits: ``pit`` until
  ``PIT_RETIRE_S``), a car that took the chequered flag is ``finished`` (at the line).

``track_positions(laps, t_s)`` does it all; the live page splits it into
``track_basis(laps)`` (once per data version) and ``positions_at(basis, t_s)`` (each rerun,
a few arrays of one value per car). ``benchmarks/track_position.py`` measures the error
against where the cars really were.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from race.analysis.flags import rebuild_flag_periods
from race.analysis.standings import PIT_RETIRE_S, RETIRE_AFTER_LAPS

# Columns of the laps table the estimate reads (race.schema LAPS).
TRACK_LAP_COLUMNS = ["number", "class", "lap_number", "lap_time_s", "s1_s", "s2_s", "s3_s",
                     "elapsed_s", "pit_time_s", "flag", "in_lap", "out_lap", "clean"]
POSITION_COLUMNS = ["number", "class", "laps_completed", "last_crossing_s", "expected_lap_s",
                    "fraction", "in_pit", "status", "laps_down", "lapped"]
PACE_LAPS = 5  # clean laps in the median pace
MAX_FRACTION = 0.999  # the fraction stays below 1 until the next crossing
# Neutralised lap time over green pace when nothing of this race says better (measured on
# the real races: FCY 1.4–1.6 in IMSA, about 2 in WEC at 80 km/h; safety car 1.4–2.4).
DEFAULT_NEUTRAL_RATIO = {"FCY": 1.6, "SF": 1.9}
DEFAULT_PIT_S = 70.0  # pit-lane time before any stop is stored (real medians 65–91 s)
GREEN = ("GF", "FF")
# Field drift: the cars that crossed within this many laps after a racing lap, at least
# DRIFT_MIN_CARS of them, scale every pace by their median lap / pace (within the limits).
DRIFT_WINDOW_LAPS = 0.5
DRIFT_MIN_CARS = 3
DRIFT_LIMITS = (0.85, 1.25)


@dataclass(frozen=True)
class TrackBasis:
    """What the estimate needs of the laps so far, one value per car (arrays in car order).

    Times in seconds of race time; ``knots_u`` the share of the lap in progress reached at
    the S1 and S2 boundaries (car's own time), ``knots_b`` the boundaries' place on the lap.
    """

    numbers: np.ndarray
    classes: np.ndarray
    laps_completed: np.ndarray
    last_crossing_s: np.ndarray
    lap_s: np.ndarray            # expected time of the lap in progress at green pace
    pace_s: np.ndarray           # green pace (the lap after this one)
    knots_u: np.ndarray          # (cars, 2)
    knots_b: np.ndarray          # (2,)
    after_in_lap: np.ndarray     # the last crossing was an in-lap: the car is in the pits
    finished: np.ndarray         # the last crossing was under the chequered flag
    pit_s: np.ndarray            # expected time in the pit lane after the in-lap crossing
    period_start_s: np.ndarray   # flag periods (the open one ends at +inf)
    period_end_s: np.ndarray
    neutral_lap_s: np.ndarray    # (cars, periods): the lap time under each period


def track_positions(laps: pd.DataFrame, t_s: float) -> pd.DataFrame:
    """Every car's estimated place on the lap at race time ``t_s``.

    Args:
        laps: the race's laps (``TRACK_LAP_COLUMNS``; rows after ``t_s`` are ignored, so
            a whole race can be given for a replay).
        t_s: race time (s).

    Returns:
        ``POSITION_COLUMNS``, one row per car with a crossing at or before ``t_s``:
        ``fraction`` in [0, 1) of the lap from the line, ``in_pit``, ``status`` (track,
        pit, stopped, finished), ``laps_down`` on its class leader (whole laps of estimated
        distance) and ``lapped`` (one or more).
    """
    so_far = laps[laps["elapsed_s"].to_numpy(dtype=float) <= t_s]
    return positions_at(track_basis(so_far), t_s)


def _row_median(values: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN
        return np.nanmedian(values, axis=1) if values.shape[1] else \
            np.full(len(values), np.nan)


def _last_per_car(codes: np.ndarray, mask: np.ndarray, values: np.ndarray, n_cars: int,
                  k: int) -> np.ndarray:
    """(cars, k) matrix of ``values`` at the last ``k`` rows of each car where ``mask``
    (rows sorted by car; NaN where a car has fewer)."""
    rows = np.flatnonzero(mask)
    out = np.full((n_cars, k, *values.shape[1:]), np.nan)
    if not len(rows):
        return out
    car = codes[rows]
    ends = np.cumsum(np.bincount(car, minlength=n_cars))
    from_end = ends[car] - np.arange(len(rows)) - 1
    keep = from_end < k
    out[car[keep], from_end[keep]] = values[rows[keep]]
    return out


def _bool(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame[column].fillna(False).to_numpy(dtype=bool)


def track_basis(laps: pd.DataFrame) -> TrackBasis:
    """The per-car facts of ``positions_at`` from the laps stored so far (all of them are
    taken as at or before the times it is asked about)."""
    laps = laps[laps["elapsed_s"].notna()]
    codes, numbers = pd.factorize(laps["number"], sort=False)
    lap_number = laps["lap_number"].to_numpy()
    grouped = (np.diff(codes) >= 0).all() and (
        (np.diff(lap_number) > 0) | (np.diff(codes) > 0)).all()
    if not grouped:  # rows of each car together, in lap order (the store returns them so)
        laps = laps.sort_values(["number", "lap_number"], kind="stable")
        codes, numbers = pd.factorize(laps["number"], sort=False)
        lap_number = laps["lap_number"].to_numpy()
    n = len(numbers)
    elapsed = laps["elapsed_s"].to_numpy(dtype=float)
    lap_time = laps["lap_time_s"].to_numpy(dtype=float)
    start = elapsed - lap_time
    sectors = np.column_stack([laps[c].to_numpy(dtype=float) if c in laps
                               else np.full(len(laps), np.nan) for c in ("s1_s", "s2_s",
                                                                         "s3_s")])
    in_lap, out_lap = _bool(laps, "in_lap"), _bool(laps, "out_lap")
    clean = _bool(laps, "clean") & np.isfinite(lap_time) & (lap_time > 0)
    flags = laps["flag"].to_numpy(dtype=object) if "flag" in laps else \
        np.full(len(laps), None, dtype=object)
    last = np.cumsum(np.bincount(codes, minlength=n)) - 1 if n else np.zeros(0, int)
    classes = laps["class"].to_numpy(dtype=object)[last] if "class" in laps else \
        np.full(n, None, dtype=object)

    # Flag periods so far; the last one is still open when the latest crossing is not green.
    periods = rebuild_flag_periods(laps) if len(laps) else pd.DataFrame(
        columns=["flag", "start_s", "end_s"])
    p_start = periods["start_s"].to_numpy(dtype=float)
    p_end = periods["end_s"].to_numpy(dtype=float).copy()
    p_flag = periods["flag"].to_numpy(dtype=object)
    known = ~pd.isna(flags)
    if len(periods) and known.any():
        latest = np.argmax(np.where(known, elapsed, -np.inf))
        if flags[latest] not in GREEN:
            p_end[-1] = np.inf
    elif len(periods) and p_end[-1] >= elapsed.max():
        p_end[-1] = np.inf  # inferred periods (no flag column) running at the last crossing
    # Green pace: the median of the last clean laps, halfway to the last lap when that one
    # was clean too (it says most about the conditions now); else the class's, else the
    # last lap.
    pace = _row_median(_last_per_car(codes, clean, lap_time, n, PACE_LAPS))
    last_clean = clean[last] if n else np.zeros(0, bool)
    pace = np.where(last_clean, 0.5 * (lap_time[last] + pace), pace)
    for cls in pd.unique(classes):
        same = classes == cls
        class_pace = np.nanmedian(pace[same]) if np.isfinite(pace[same]).any() else np.nan
        pace[same & ~np.isfinite(pace)] = class_pace
    fallback = lap_time[last] if n else np.zeros(0)
    pace = np.where(np.isfinite(pace), pace, fallback)
    pace = np.where(np.isfinite(pace) & (pace > 0), pace, 100.0)
    # The whole field slower or faster now (rain, a drying track, slow zones): the cars that
    # crossed within the last half lap after a racing lap say by how much.
    if n:
        racing_last = ~in_lap[last] & ~out_lap[last] & (lap_number[last] > 1) & ~_overlaps(
            start[last], elapsed[last], p_start, p_end)
        fresh = racing_last & (elapsed[last] >= elapsed.max() - DRIFT_WINDOW_LAPS
                               * np.median(pace))
        if fresh.sum() >= DRIFT_MIN_CARS:
            pace = pace * float(np.clip(np.median(lap_time[last][fresh] / pace[fresh]),
                                        *DRIFT_LIMITS))

    # Sector shape: the share of the lap reached at S1 and S2.
    with np.errstate(invalid="ignore", divide="ignore"):
        cum = np.column_stack([sectors[:, 0], sectors[:, 0] + sectors[:, 1]]) / lap_time[:, None]
    has_sectors = np.isfinite(cum).all(axis=1) & (cum[:, 0] > 0) & (cum[:, 1] < 1) \
        & (cum[:, 0] < cum[:, 1])
    green_shape = clean & has_sectors
    knots_b = (np.median(cum[green_shape], axis=0) if green_shape.any()
               else np.array([1 / 3, 2 / 3]))
    shaped = _last_per_car(codes, green_shape, cum, n, PACE_LAPS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        knots_u = np.nanmedian(shaped, axis=1) if n else np.zeros((0, 2))
    # Only the previous lap's sectors known (no clean lap with sectors): they set the shape.
    previous = cum[last] if n else np.zeros((0, 2))
    use_previous = ~np.isfinite(knots_u).all(axis=1) & has_sectors[last] \
        & ~in_lap[last] & ~out_lap[last] if n else np.zeros(0, bool)
    knots_u[use_previous] = previous[use_previous]
    knots_u[~np.isfinite(knots_u).all(axis=1)] = knots_b

    neutral = _neutral_laps(codes, n, start, elapsed, lap_time, in_lap | out_lap,
                            p_start, p_end, p_flag, pace, inferred=not known.any())

    # Pit stops: time in the pit lane and the out-lap's extra time per sector.
    pit_time = laps["pit_time_s"].to_numpy(dtype=float) if "pit_time_s" in laps else \
        np.full(len(laps), np.nan)
    stop = out_lap & np.isfinite(pit_time) & (pit_time > 0)
    own_pit = _row_median(_last_per_car(codes, stop, pit_time, n, PACE_LAPS))
    field_pit = float(np.median(pit_time[stop])) if stop.any() else DEFAULT_PIT_S
    pit_s = np.where(np.isfinite(own_pit), own_pit, field_pit)
    after_in_lap = in_lap[last] if n else np.zeros(0, bool)
    green_lap = ~_overlaps(start, elapsed, p_start, p_end)
    outs = out_lap & green_lap & (lap_number > 1) & np.isfinite(lap_time)
    car_sectors = np.column_stack([knots_u[:, 0], np.diff(knots_u, axis=1)[:, 0],
                                   1 - knots_u[:, 1]]) * pace[:, None] if n else \
        np.zeros((0, 3))
    if outs.any():
        rows = np.flatnonzero(outs)
        excess_lap = float(np.median(lap_time[rows] - pace[codes[rows]]))
        sector_ok = rows[np.isfinite(sectors[rows]).all(axis=1)]
        excess = (np.median(sectors[sector_ok] - car_sectors[codes[sector_ok]], axis=0)
                  if len(sector_ok) else np.array([excess_lap, 0.0, 0.0]))
    else:
        excess = np.array([field_pit, 0.0, 0.0])
    excess = np.maximum(excess, 0.0)
    out_sectors = car_sectors + excess
    out_lap_s = out_sectors.sum(axis=1)
    out_u = np.column_stack([out_sectors[:, 0], out_sectors[:, :2].sum(axis=1)]) / \
        np.where(out_lap_s > 0, out_lap_s, 1.0)[:, None]
    lap_s = np.where(after_in_lap, out_lap_s, pace)
    knots_u = np.where(after_in_lap[:, None], out_u, knots_u)
    finished = np.array([f == "FF" for f in flags[last]], dtype=bool) if n else \
        np.zeros(0, bool)
    return TrackBasis(
        numbers=np.asarray(numbers, dtype=object), classes=classes,
        laps_completed=lap_number[last].astype(int),
        last_crossing_s=elapsed[last], lap_s=lap_s, pace_s=pace, knots_u=knots_u,
        knots_b=knots_b, after_in_lap=after_in_lap, finished=finished, pit_s=pit_s,
        period_start_s=p_start, period_end_s=p_end, neutral_lap_s=neutral)


def _overlaps(start: np.ndarray, end: np.ndarray, p_start: np.ndarray,
              p_end: np.ndarray) -> np.ndarray:
    """True where [start, end] overlaps a period (sorted, disjoint)."""
    if not len(p_start):
        return np.zeros(len(start), dtype=bool)
    i = np.searchsorted(p_start, end, side="right") - 1  # last period starting ≤ end
    return (i >= 0) & (p_end[np.maximum(i, 0)] > start)


def _neutral_laps(codes: np.ndarray, n: int, start: np.ndarray, elapsed: np.ndarray,
                  lap_time: np.ndarray, pit_lap: np.ndarray, p_start: np.ndarray,
                  p_end: np.ndarray, p_flag: np.ndarray, pace: np.ndarray,
                  inferred: bool = False) -> np.ndarray:
    """(cars, periods): the lap time expected under each period (see the module text)."""
    m = len(p_start)
    out = np.full((n, m), np.nan)
    if not m or not n:
        return out
    i = np.searchsorted(p_start, start, side="right") - 1  # the period a lap starts in
    inside = (i >= 0) & (elapsed <= p_end[np.maximum(i, 0)]) & ~pit_lap \
        & np.isfinite(lap_time)
    ratios = lap_time[inside] / pace[codes[inside]]
    for j in range(m):
        rows = np.flatnonzero(inside & (i == j))
        if len(rows):
            # The field's latest laps under it: the pace it is run at now.
            latest = rows[np.argsort(elapsed[rows])[-n:]]
            out[:, j] = np.median(lap_time[latest])
            # A car's own lap wholly under this period, when it has one, is its pace.
            own = np.full(n, np.nan)
            own[codes[rows]] = lap_time[rows]  # rows by car then lap: the last one wins
            out[:, j] = np.where(np.isfinite(own), own, out[:, j])
        elif inferred:
            # An inferred period (no flag column) is the field running slower: by as much
            # as the laps that ended in it so far.
            ending = np.flatnonzero((elapsed >= p_start[j]) & (elapsed <= p_end[j])
                                    & ~pit_lap & np.isfinite(lap_time))
            ratio = (float(np.median(lap_time[ending] / pace[codes[ending]])) if len(ending)
                     else 1.0)
            out[:, j] = pace * max(ratio, 1.0)
        else:
            earlier = ratios[(i[inside] < j)]
            ratio = float(np.median(earlier)) if len(earlier) else \
                DEFAULT_NEUTRAL_RATIO.get(str(p_flag[j]), np.inf)  # red flag: stopped
            out[:, j] = pace * ratio
    return out


def _shape(u: np.ndarray, knots_u: np.ndarray, knots_b: np.ndarray) -> np.ndarray:
    """Share of the car's lap time → place on the lap (piecewise linear through the
    sector boundaries)."""
    u1, u2 = knots_u[:, 0], knots_u[:, 1]
    b1, b2 = knots_b
    with np.errstate(invalid="ignore", divide="ignore"):
        first = u / u1 * b1
        second = b1 + (u - u1) / (u2 - u1) * (b2 - b1)
        third = b2 + (u - u2) / (1 - u2) * (1 - b2)
    return np.where(u < u1, first, np.where(u < u2, second, third))


def positions_at(basis: TrackBasis, t_s: float) -> pd.DataFrame:
    """``track_positions`` from a ``track_basis`` of the laps up to ``t_s``."""
    b = basis
    since = np.maximum(t_s - b.last_crossing_s, 0.0)
    # Time under each period since the crossing counts at the neutralised pace.
    progress_s = since.copy()
    for j in range(len(b.period_start_s)):
        lo = np.maximum(b.last_crossing_s, b.period_start_s[j])
        hi = np.minimum(t_s, b.period_end_s[j])
        under = np.maximum(hi - lo, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(np.isfinite(b.neutral_lap_s[:, j]),
                            b.lap_s / b.neutral_lap_s[:, j], 0.0)
        progress_s -= under * (1.0 - rate)
    u = progress_s / b.lap_s
    fraction = np.clip(_shape(np.minimum(u, 1.0), b.knots_u, b.knots_b), 0.0, MAX_FRACTION)
    in_pit = b.after_in_lap & ((since < b.pit_s) | (u >= RETIRE_AFTER_LAPS))
    stopped = ~b.after_in_lap & (u >= RETIRE_AFTER_LAPS)
    garage_over = b.after_in_lap & (since >= PIT_RETIRE_S)
    status = np.where(b.finished, "finished",
                      np.where(stopped | garage_over, "stopped",
                               np.where(in_pit, "pit", "track")))
    in_pit = in_pit & ~b.finished & ~garage_over
    fraction = np.where(b.finished, 0.0, fraction)
    frame = pd.DataFrame({
        "number": b.numbers, "class": b.classes, "laps_completed": b.laps_completed,
        "last_crossing_s": b.last_crossing_s, "expected_lap_s": b.lap_s,
        "fraction": fraction, "in_pit": in_pit, "status": status,
    })
    # Laps down on the class leader: whole laps of estimated distance (the leader has
    # physically passed the car), among the cars still running.
    total = b.laps_completed + fraction
    running = status != "stopped"
    lead = pd.Series(np.where(running, total, -np.inf)).groupby(
        pd.Series(b.classes).fillna("")).transform("max").to_numpy()
    down = np.where(running, np.floor(np.maximum(lead - total, 0.0) + 1e-9), 0)
    frame["laps_down"] = down.astype(int)
    frame["lapped"] = frame["laps_down"] >= 1
    return frame[POSITION_COLUMNS]
