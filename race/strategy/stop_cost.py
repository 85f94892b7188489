"""Stop cost: the time a pit stop loses against staying out (ML.md §4).

``stop_cost_s`` = in-lap + out-lap − 2 × the median of the car's clean laps among the 6 laps
before the in-lap. It is PIT_TIME (time in the pit lane) plus a per-track offset (the pit
lane is shorter or longer than the stretch of track it bypasses; measured 0 ± 2 s, −3 … +8 s).
Service time depends on the stop type: fuel only, fuel + tyres, driver change; the lap file
shows driver changes (DRIVER_NUMBER changes on the out-lap) but not tyres, so the car's own
earlier stops carry the rest. Under FCY / safety car the field is slow too, so the same stop
costs less against the cars that stay out (``neutral_cost_ratio``).

A *routine green stop* (``mark_routine``; the stops ML.md §3 scores and the engine learns
from) is one whose cost the definition measures as intended, for the service a car gets on
an ordinary stop:

* green: neither the in-lap nor the out-lap is neutralised (flag periods rebuilt from all
  crossings, DATA.md §2), so red-flag and caution stops are out;
* the field ran at racing pace during both laps: the median of the other cars' laps that
  overlap the in-lap (and, separately, the out-lap), each against its own car's reference
  pace, is at most ``FIELD_SLOW`` (the DATA.md threshold for an inferred neutralisation).
  A sudden rain shower, an undeclared slow zone or a caution not yet at the line make
  in-lap + out-lap − 2 × the earlier pace measure the weather, not the stop; only laps
  completed by the out-lap crossing count, so the flag is known when the stop is;
* measured: ≥ ``MIN_BASE_LAPS`` clean laps among the ``BASE_LAPS`` laps before the in-lap
  (no stop on lap 1–2, no stop right after a caution);
* PIT_TIME within ``ROUTINE_LOW``–``ROUTINE_HIGH`` × the class's median in the race: shorter
  is a drive-through or stop-and-go penalty, longer a repair or a penalty served at the stop.
  Pit-lane starts are no stop at all (no in-lap).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import pandas as pd

from race.analysis.flags import INFERRED_RATIO_THRESHOLD
from race.strategy.tracks import class_keys

BASE_LAPS = 6          # laps before the in-lap whose clean laps give the reference pace
MIN_BASE_LAPS = 2      # clean laps needed among them
ROUTINE_LOW = 0.6      # routine stop: PIT_TIME within these multiples of the class median
ROUTINE_HIGH = 1.4
FIELD_SLOW = INFERRED_RATIO_THRESHOLD   # field lap / its reference pace above this: not green
MIN_FIELD_LAPS = 3     # other cars' laps needed to judge the field's pace over a lap
MAX_PADDED = 256       # field_pace: longer candidate lists are handled one stop at a time


def lap_pace_ratio(laps: pd.DataFrame) -> np.ndarray:
    """Each lap's time over its car's reference pace: the median clean lap among the
    ``BASE_LAPS`` laps before (as ``measure_stops``), else the car's last such reference.

    NaN for lap 1, in- and out-laps and laps without a reference (they say nothing about the
    field's pace). Neutralised laps keep their ratio: they are the slowdown being detected.

    Args:
        laps: ``number, lap_number, lap_time_s, in_lap, out_lap, clean_c`` sorted by car then
            lap.
    """
    lap_time = pd.Series(laps["lap_time_s"].to_numpy(dtype=float))   # positional index
    car = laps["number"].to_numpy()
    clean_times = lap_time.where(laps["clean_c"].to_numpy(dtype=bool))
    ref = (clean_times.groupby(car, sort=False).rolling(BASE_LAPS, min_periods=MIN_BASE_LAPS)
           .median().reset_index(level=0, drop=True).sort_index())
    ref = ref.groupby(car, sort=False).shift(1).groupby(car, sort=False).ffill()
    ok = ((laps["lap_number"].to_numpy() > 1) & ~laps["in_lap"].to_numpy(dtype=bool)
          & ~laps["out_lap"].to_numpy(dtype=bool))
    return np.where(ok, lap_time.to_numpy() / ref.to_numpy(), np.nan)


def field_pace(laps: pd.DataFrame, ratio: np.ndarray, number: np.ndarray,
               bounds: np.ndarray) -> np.ndarray:
    """The field's pace during each stop's in-lap and out-lap (the slower of the two).

    Args:
        laps: ``number, start_s, elapsed_s`` (any order).
        ratio: ``lap_pace_ratio`` of those laps.
        number: the stopping car of each stop (its own laps are left out).
        bounds: per stop ``(in-lap start, in-lap end, out-lap end)`` race times (s).

    Returns:
        Per stop, the larger of the medians of ``ratio`` over the other cars' laps that
        overlap the in-lap and the out-lap and were completed by the out-lap crossing; NaN
        when neither lap has ``MIN_FIELD_LAPS`` such laps.
    """
    good = np.isfinite(ratio)
    end = laps["elapsed_s"].to_numpy(dtype=float)[good]
    order = np.argsort(end, kind="stable")
    end = end[order]
    start = laps["start_s"].to_numpy(dtype=float)[good][order]
    cars = laps["number"].to_numpy()[good][order]
    r = ratio[good][order]
    bounds = np.asarray(bounds, dtype=float).reshape(-1, 3)
    out = np.full(len(number), np.nan)
    if not len(end) or not len(number):
        return out
    number = np.asarray(number)
    hi = np.searchsorted(end, bounds[:, 2], side="right")
    for lo_t, hi_t in ((bounds[:, 0], bounds[:, 1]), (bounds[:, 1], bounds[:, 2])):
        lo = np.searchsorted(end, lo_t, side="right")
        med = np.full(len(number), np.nan)
        # the candidate laps (ended after lo_t, by the out-lap crossing) of all ordinary stops
        # as one padded matrix, no Python loop (the live page re-measures every update); the
        # few very long laps (red flag, garage) one by one
        wide = (hi - lo) > MAX_PADDED
        for j in np.flatnonzero(wide):
            sl = slice(lo[j], hi[j])
            m = (start[sl] < hi_t[j]) & (cars[sl] != number[j])
            if m.sum() >= MIN_FIELD_LAPS:
                med[j] = float(np.median(r[sl][m]))
        rows = np.flatnonzero(~wide)
        if len(rows):
            width = int(max((hi[rows] - lo[rows]).max(), 1))
            idx = lo[rows, None] + np.arange(width)[None, :]
            inside = idx < hi[rows, None]
            idx = np.minimum(idx, len(end) - 1)
            m = (inside & (start[idx] < hi_t[rows, None])
                 & (cars[idx] != number[rows, None]))
            enough = m.sum(axis=1) >= MIN_FIELD_LAPS
            if enough.any():
                vals = np.where(m[enough], r[idx[enough]], np.nan)
                med[rows[enough]] = np.nanmedian(vals, axis=1)
        out = np.where(np.isnan(out), med, np.fmax(out, med))
    return out


def measure_stops(laps: pd.DataFrame) -> pd.DataFrame:
    """Every stop with its cost, known at the out-lap crossing (``known_s``).

    Args:
        laps: laps with ``number, lap_number, lap_time_s, elapsed_s, in_lap, pit_time_s,
            driver_number, class, clean_c, neutral_c, start_s, out_lap`` sorted by car then
            lap.

    Returns:
        One row per stop whose in-lap is followed by the out-lap carrying PIT_TIME:
        ``number, class_key, in_lap, in_s, known_s, pit_time_s, cost_s (NaN without a
        reference pace), base_s, offset_s (cost − PIT_TIME), driver_change, green,
        field_ratio`` (``field_pace``: the field's lap time over
        its reference pace while the car was on its in- and out-lap, from laps completed by
        ``known_s``).
    """
    number = laps["number"].to_numpy()
    lap_time = laps["lap_time_s"].to_numpy(dtype=float)
    clean = laps["clean_c"].to_numpy(dtype=bool)
    neutral = laps["neutral_c"].to_numpy(dtype=bool)
    pit = laps["pit_time_s"].to_numpy(dtype=float)
    driver = laps["driver_number"].to_numpy()
    lap_no = laps["lap_number"].to_numpy()
    elapsed = laps["elapsed_s"].to_numpy(dtype=float)
    classes = class_keys(laps["class"]).to_numpy()
    ins = np.flatnonzero(laps["in_lap"].to_numpy(dtype=bool))
    ins = ins[ins + 1 < len(laps)]
    ins = ins[(number[ins + 1] == number[ins]) & np.isfinite(pit[ins + 1])]
    rows = []
    for i in ins:
        lo = i - BASE_LAPS
        window = sorted(lap_time[k] for k in range(max(lo, 0), i)
                        if number[k] == number[i] and clean[k])
        m = len(window)
        if m < MIN_BASE_LAPS:
            base = np.nan
        else:
            base = (float(window[m // 2]) if m % 2
                    else 0.5 * float(window[m // 2 - 1] + window[m // 2]))
        cost = lap_time[i] + lap_time[i + 1] - 2.0 * base
        rows.append((number[i], classes[i], int(lap_no[i]), float(elapsed[i]),
                     float(elapsed[i + 1]), float(pit[i + 1]), cost, base,
                     bool(driver[i] != driver[i + 1]), not (neutral[i] or neutral[i + 1])))
    frame = pd.DataFrame(rows, columns=["number", "class_key", "in_lap", "in_s", "known_s",
                                        "pit_time_s", "cost_s", "base_s", "driver_change",
                                        "green"])
    frame["offset_s"] = frame["cost_s"] - frame["pit_time_s"]
    bounds = np.column_stack([elapsed[ins] - lap_time[ins], elapsed[ins], elapsed[ins + 1]])
    frame["field_ratio"] = (field_pace(laps, lap_pace_ratio(laps), number[ins], bounds)
                            if len(ins) else np.zeros(0))
    return frame


def green_at_pace(stops: pd.DataFrame) -> pd.Series:
    """Green, measured, and the field at racing pace (the first three conditions of a
    routine stop, module docstring); none uses another stop, so all are causal."""
    field_ok = ~(stops["field_ratio"] > FIELD_SLOW)   # NaN (too few other laps) passes
    return stops["green"] & stops["cost_s"].notna() & field_ok


def mark_routine(stops: pd.DataFrame) -> pd.Series:
    """Routine green stops (module docstring): green at racing pace, measured, PIT_TIME
    within ``ROUTINE_LOW``–``ROUTINE_HIGH`` × the class's median PIT_TIME in the race.

    The class median is the whole race's (for scoring and history only: the engine uses an
    expanding median of the stops known so far).
    """
    med = stops.groupby("class_key")["pit_time_s"].transform("median")
    ratio = stops["pit_time_s"] / med
    return green_at_pace(stops) & ratio.between(ROUTINE_LOW, ROUTINE_HIGH)


def routine_counts(stops: pd.DataFrame) -> dict[str, int]:
    """How many stops each routine condition removes, applied in order (for reports)."""
    med = stops.groupby("class_key")["pit_time_s"].transform("median")
    band = (stops["pit_time_s"] / med).between(ROUTINE_LOW, ROUTINE_HIGH)
    steps = [("not green", stops["green"]),
             ("field slow", ~(stops["field_ratio"] > FIELD_SLOW)),
             ("no reference pace", stops["cost_s"].notna()),
             ("PIT_TIME outside band", band)]
    keep = pd.Series(True, index=stops.index)
    out = {"stops": len(stops)}
    for name, cond in steps:
        out[name] = int((keep & ~cond).sum())
        keep &= cond
    out["routine"] = int(keep.sum())
    return out


# PIT_TIME of a car's last stop relative to the class median, by the share of a full tank it
# still needs to reach the flag (measured on the real races: splash-and-dash stops are short).
SPLASH_FACTORS: dict[str, tuple[tuple[float, float], ...]] = {
    "WEC": ((0.25, 0.60), (0.5, 0.79), (0.75, 0.91)),
    "IMSA": ((0.25, 0.74), (0.5, 0.99), (0.75, 0.96)),
}


def splash_factor(series: str, fill: float) -> float:
    """Multiplier of the usual PIT_TIME for a stop that needs only ``fill`` of a full tank."""
    if not np.isfinite(fill):
        return 1.0
    for upper, factor in SPLASH_FACTORS.get(series.upper(), ()):
        if fill <= upper:
            return factor
    return 1.0


@dataclass(frozen=True)
class CostParams:
    """How many earlier stops the estimate uses and how much history counts."""

    class_last: int = 1000         # PIT_TIME: the class's last N routine stops in this race
    offset_last: int = 1000        # offset: the class's last N routine stops in this race
    history_weight: float = 5.0    # history counts as this many stops of this race


def _blend_median(recent: np.ndarray, prior: float, prior_weight: float) -> float:
    """Weighted median of recent values and a prior counted ``prior_weight`` times."""
    if not len(recent):
        return prior
    if not np.isfinite(prior):
        return float(np.median(recent))
    values = np.concatenate([recent, [prior]])
    weights = np.concatenate([np.ones(len(recent)), [prior_weight]])
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2.0)])


def predict_cost(pit_times: np.ndarray, offsets: np.ndarray, hist_pit: float,
                 hist_offset: float, params: CostParams, *, factor: float = 1.0) -> float:
    """Expected cost (s) of the car's next green stop: PIT_TIME + pit-lane offset.

    Args:
        pit_times: PIT_TIME (s) of the class's earlier routine stops in this race, time order.
        offsets: cost − PIT_TIME (s) of the class's earlier routine stops in this race.
        hist_pit: the class's median routine PIT_TIME at this track in history (NaN if none).
        hist_offset: the track's median pit-lane offset in history (NaN if none).
        factor: ``splash_factor`` for a short last stop (1 otherwise).

    The class's recent stops beat the car's own (measured: a car's own earlier stops mix
    driver changes and tyre stops and predict its next stop worse than the class does).
    """
    pit = _blend_median(pit_times[-params.class_last:], hist_pit, params.history_weight)
    offset = _blend_median(offsets[-params.offset_last:], hist_offset, params.history_weight)
    if not np.isfinite(pit):
        return np.nan
    return pit * factor + (offset if np.isfinite(offset) else 0.0)


# The 80 % interval of the stop cost (ML.md §3-4): quantiles of the residuals (cost − the
# point estimate) of the class's routine stops, from history at the track and from this
# race's stops as they come in, with the quantile level adapted online (adaptive conformal
# inference: a miss widens the interval, a hit narrows it).
INTERVAL_MISS = 0.2          # target share of stops outside the interval
INTERVAL_HISTORY = 10.0      # history's residuals count as this many stops of the race
INTERVAL_STEP = 0.05         # adaptive step of the miss level per stop
INTERVAL_FALLBACK_S = (-6.0, 10.0)   # without any residual: measured spread of routine stops


def interval_offsets(history_res: np.ndarray, race_res: np.ndarray, *,
                     miss: float = INTERVAL_MISS, history_weight: float = INTERVAL_HISTORY,
                     step: float = INTERVAL_STEP) -> np.ndarray:
    """Offsets (s) of the 80 % interval around the point estimate, after each race stop.

    Args:
        history_res: residuals of past races' routine stops (cost − their race's class
            median) of the class at the track; they count as ``history_weight`` stops (as
            that many evenly spaced quantiles of them).
        race_res: residuals (cost − the point estimate made before it) of this race's routine
            stops of the class, in the order they became known.

    Returns:
        Array (len(race_res) + 1, 2): row k = (low, high) offsets once the first k race stops
        are known. Each race stop is judged against the interval before it and moves the
        miss level by ``step`` × (miss − missed) (adaptive conformal inference).
    """
    h = np.asarray(history_res, dtype=float)
    h = h[np.isfinite(h)]
    n_hist = round(history_weight)
    if len(h) > n_hist > 0:   # history as n_hist evenly spaced quantiles: each one a stop
        h = np.quantile(h, (np.arange(n_hist) + 0.5) / n_hist)
    seen = sorted(h.tolist())
    race_res = np.asarray(race_res, dtype=float)
    out = np.empty((len(race_res) + 1, 2))
    alpha = miss
    for k in range(len(race_res) + 1):
        n = len(seen)
        if n >= 5:
            a = min(max(alpha, 0.01), 0.6)
            lo = seen[min(max(int(np.ceil(a / 2 * n)) - 1, 0), n - 1)]
            hi = seen[min(max(int(np.ceil((1 - a / 2) * n)) - 1, 0), n - 1)]
            out[k] = (lo, hi)
        else:
            out[k] = INTERVAL_FALLBACK_S
        if k < len(race_res) and np.isfinite(race_res[k]):   # NaN: no estimate before it
            missed = not (out[k, 0] <= race_res[k] <= out[k, 1])
            alpha += step * (miss - float(missed))
            bisect.insort(seen, float(race_res[k]))
    return out
