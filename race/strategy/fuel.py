"""Fuel / energy window: how many laps a car can still run in its stint.

A stint's consumption is counted in *green-lap units*: a green lap uses 1, a neutralised lap
(FCY, safety car, slow zone) uses ``neutral_fraction`` of a green lap (measured on real races,
``measure_neutral_fraction``). The capacity of a stint is not one number: teams short-fill,
stop early under caution or for strategy. So the window is a *conditional distribution*: the
consumptions of comparable completed stints (the car's own, its manufacturer's in the class,
the class's in this race, the class's at this track in stored history), weighted, and kept
only where they exceed what the car has already used. Its weighted median is the expected
in-lap, its outer quantiles the earliest and latest in-lap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from race.strategy.tracks import FUEL_LIMITED, OTHER, class_keys

DEFAULT_NEUTRAL_FRACTION = 0.55
STINT_COLUMNS = ["number", "class_key", "manufacturer", "stint_number", "first_lap", "in_lap",
                 "laps", "units", "neutral_laps", "green_end", "start_s", "end_s", "known_s",
                 "pace_s"]
# A stop whose PIT_TIME is below this multiple of the class's median stop adds no fuel
# (drive-through, stop-and-go, a quick check): measured on the fuel-limited classes of the
# real races, the stint after such a stop and the one before it add up to one full stint
# (median 0.9–1.0 of a full stint below 0.5, 0.7 at 0.5–0.6, 1.0–1.3 at 0.6–0.8 where a
# splash begins; routine stops ≥ 0.8 are followed by a full stint on their own).
NO_REFUEL_RATIO = 0.6
MIN_REFERENCE_STOPS = 5   # earlier stops of the class needed for a reference without history
HISTORY_STOPS = 3         # the history's routine stop counts as this many stops of the race


def fuel_stint_numbers(laps: pd.DataFrame, fallback_pit_s: dict[str, float] | None = None,
                       ) -> np.ndarray:
    """Per lap: the car's fuel stint, which only a refuelling stop ends.

    A stop (a lap whose ``stint_number`` differs from the car's previous lap) refuels unless
    its PIT_TIME is below ``NO_REFUEL_RATIO`` × a reference: the median PIT_TIME of the
    class's stops known before it (out-lap crossings earlier in the race) pooled with
    ``HISTORY_STOPS`` copies of ``fallback_pit_s[class_key]`` (the class's routine stop at
    this track in history), so that a few early repairs or penalties cannot make the
    reference; without history, ``MIN_REFERENCE_STOPS`` stops of the race are needed, else
    the stop counts as a refuel. Each stop is judged at its out-lap crossing from earlier
    crossings only (causal).

    Args:
        laps: ``number, class, lap_number, elapsed_s, stint_number, pit_time_s``, sorted by car
            then lap.
        fallback_pit_s: routine PIT_TIME (s) per class key from history.

    Returns:
        Fuel stint number per lap (1 for the first), aligned with ``laps``.
    """
    n = len(laps)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    number = laps["number"].to_numpy()
    stint = laps["stint_number"].to_numpy()
    stop = np.zeros(n, dtype=bool)
    stop[1:] = (number[1:] == number[:-1]) & (stint[1:] != stint[:-1])
    refuel = stop.copy()
    rows = np.flatnonzero(stop)
    if len(rows):
        pit = laps["pit_time_s"].to_numpy(dtype=float)[rows]
        keys = class_keys(laps["class"]).to_numpy()[rows]
        t = laps["elapsed_s"].to_numpy(dtype=float)[rows]
        fallback = fallback_pit_s or {}
        for ck in np.unique(keys):
            mine = np.flatnonzero(keys == ck)
            mine = mine[np.argsort(t[mine], kind="stable")]
            seen = pit[mine]
            prior = float(fallback.get(str(ck), np.nan))
            ref = np.full(len(mine), np.nan)
            for j in range(len(mine)):
                before = seen[:j][np.isfinite(seen[:j])]
                if np.isfinite(prior):
                    ref[j] = float(np.median(np.r_[before, np.full(HISTORY_STOPS, prior)]))
                elif len(before) >= MIN_REFERENCE_STOPS:
                    ref[j] = float(np.median(before))
            short = np.isfinite(seen) & np.isfinite(ref) & (seen < NO_REFUEL_RATIO * ref)
            refuel[rows[mine[short]]] = False
    first = np.ones(n, dtype=bool)
    first[1:] = number[1:] != number[:-1]
    total = np.cumsum(refuel)
    return total - np.maximum.accumulate(np.where(first, total, 0)) + 1


def lap_units(laps: pd.DataFrame, fraction: float | dict[str, float]) -> np.ndarray:
    """Consumption of each lap in green-lap units (1 green, ``fraction`` neutralised).

    Args:
        laps: laps with ``neutral_c`` (causal neutralised) and ``class``.
        fraction: one neutral fraction, or one per class key (missing → default).
    """
    neutral = laps["neutral_c"].to_numpy(dtype=bool)
    if isinstance(fraction, dict):
        keys = class_keys(laps["class"])
        f = keys.map(fraction).fillna(DEFAULT_NEUTRAL_FRACTION).to_numpy(dtype=float)
    else:
        f = np.full(len(laps), float(fraction))
    return np.where(neutral, f, 1.0)


def stint_progress(laps: pd.DataFrame, units: np.ndarray) -> pd.DataFrame:
    """Per lap: first lap of the current stint and units used in it up to and including the lap.

    An in-lap closes its stint: after it the car starts the next stint with nothing used,
    so the columns describe the stint the *next* stop will end (``next_first_lap``,
    ``next_units``). With a ``fuel_stint`` column, ``next_units`` counts from the last
    refuelling stop: from the out-lap of a stop that added no fuel, the units used before it
    still count (at its in-lap the kind of stop is not known yet: a refuel is assumed).
    """
    key = laps["number"].astype(str) + "\x00" + laps["stint_number"].astype(str)
    fuel_key = (laps["number"].astype(str) + "\x00" + laps["fuel_stint"].astype(str)
                if "fuel_stint" in laps else key)
    used = pd.Series(units, index=laps.index).groupby(fuel_key.to_numpy(), sort=False).cumsum()
    grouped = laps.groupby(key.to_numpy(), sort=False)
    first = grouped["lap_number"].transform("min")
    began = grouped["start_s"].transform("first")
    in_lap = laps["in_lap"].to_numpy(dtype=bool)
    return pd.DataFrame({
        "next_first_lap": np.where(in_lap, laps["lap_number"] + 1, first).astype(np.int64),
        "next_units": np.where(in_lap, 0.0, used.to_numpy()),
        "next_start_s": np.where(in_lap, laps["elapsed_s"], began),
    }, index=laps.index)


def stint_records(laps: pd.DataFrame, units: np.ndarray) -> pd.DataFrame:
    """One row per stint that ended with an in-lap (``end_s``: its crossing).

    With a ``fuel_stint`` column the stints are fuel stints (``fuel_stint_numbers``): a stop
    that added no fuel does not end one, so a record is final only once its last stop is
    known to have refuelled, at that stop's out-lap crossing (``known_s``; inf while the car
    has not come out). Without it, ``known_s`` is ``end_s``.
    ``green_end``: the in-lap is not neutralised (a routine stop, not an opportunistic one);
    ``pace_s``: median clean lap of the stint (s), which turns a stint into a duration that
    transfers between tracks. Laps must be sorted by car then lap (stints are contiguous).
    """
    n = len(laps)
    if n == 0:
        return pd.DataFrame(columns=STINT_COLUMNS)
    number = laps["number"].to_numpy()
    stint = laps["fuel_stint" if "fuel_stint" in laps else "stint_number"].to_numpy()
    start = np.ones(n, dtype=bool)
    start[1:] = (number[1:] != number[:-1]) | (stint[1:] != stint[:-1])
    first = np.flatnonzero(start)
    last = np.r_[first[1:] - 1, n - 1]
    in_lap = laps["in_lap"].to_numpy(dtype=bool)
    ended = in_lap[last]
    neutral = laps["neutral_c"].to_numpy(dtype=bool)
    lap_no = laps["lap_number"].to_numpy()
    clean_s = laps["lap_time_s"].where(laps["clean_c"].astype(bool)).to_numpy(dtype=float)
    stint_id = np.cumsum(start) - 1
    pace = pd.Series(clean_s).groupby(stint_id).median().to_numpy()
    elapsed = laps["elapsed_s"].to_numpy(dtype=float)
    if "fuel_stint" in laps:
        # known at the next row of the same car (the out-lap), inf if there is none yet
        nxt = np.r_[last[:-1] + 1, n - 1]
        has_next = np.r_[number[last[:-1] + 1] == number[last[:-1]], False]
        known = np.where(has_next, elapsed[np.minimum(nxt, n - 1)], np.inf)
    else:
        known = elapsed[last]
    frame = pd.DataFrame({
        "number": number[first], "class_key": class_keys(laps["class"]).to_numpy()[first],
        "manufacturer": laps["manufacturer"].to_numpy()[first],
        "stint_number": laps["stint_number"].to_numpy()[first],
        "first_lap": lap_no[first], "in_lap": lap_no[last],
        "laps": lap_no[last] - lap_no[first] + 1,
        "units": np.add.reduceat(np.asarray(units, dtype=float), first),
        "neutral_laps": np.add.reduceat(neutral.astype(np.int64), first),
        "green_end": ~neutral[last],
        "start_s": laps["start_s"].to_numpy(dtype=float)[first],
        "end_s": elapsed[last], "known_s": known, "pace_s": pace,
    })[ended]
    return frame[STINT_COLUMNS].sort_values("known_s", kind="stable").reset_index(drop=True)


def measure_neutral_fraction(stints: pd.DataFrame, *, min_laps: int = 8,
                             grid: np.ndarray | None = None) -> float:
    """The neutral-lap fuel fraction that makes a car's stints most alike (measured).

    For each candidate fraction f, each green-ended stint of ≥ ``min_laps`` laps gets
    ``green laps + f × neutralised laps``; the answer minimises the mean absolute deviation of
    that from the car's upper-quartile stint, over cars that had neutralised laps. A car that
    runs to an empty tank stint after stint makes this near zero only with the right f.

    Args:
        stints: records with ``race_id, number, laps, neutral_laps, green_end``.
    """
    grid = np.round(np.arange(0.0, 1.001, 0.05), 2) if grid is None else grid
    s = stints[stints["green_end"] & (stints["laps"] >= min_laps)]
    if s.empty or s["neutral_laps"].sum() == 0:
        return DEFAULT_NEUTRAL_FRACTION
    codes = s.groupby(["race_id", "number"], sort=False).ngroup().to_numpy()
    has = pd.Series(s["neutral_laps"].to_numpy()).groupby(codes).transform("max").to_numpy() > 0
    if not has.any():
        return DEFAULT_NEUTRAL_FRACTION
    green = (s["laps"] - s["neutral_laps"]).to_numpy(dtype=float)
    neutral = s["neutral_laps"].to_numpy(dtype=float)
    errors = []
    for f in grid:
        u = pd.Series(green + f * neutral)
        upper = u.groupby(codes).quantile(0.75).to_numpy()[codes]
        errors.append(float(np.abs(u.to_numpy() - upper)[has].mean()))
    return float(grid[int(np.argmin(errors))])


# Where stop planning to the flag was measured *not* to hold (series, class group): at Le Mans
# LMP2 (the only WEC LMP2 races here) and WEC 2019 GTE/LMP1 cars ran to the fuel limit to the
# end; pulling their last stops earlier made the window worse. Editable.
PLAN_STOPS: dict[tuple[str, str], int] = {("WEC", FUEL_LIMITED): 0, ("WEC", OTHER): 0}


@dataclass(frozen=True)
class WindowParams:
    """Weights of the evidence and the quantiles that bound the window."""

    own_weight: float = 4.0
    manufacturer_weight: float = 1.5
    class_weight: float = 1.0
    history_weight: float = 0.3
    history_cap: float = 6.0        # total weight history may carry
    related_factor: float = 0.5     # related classes at this track count this much less
    transfer_cap: float = 1.0       # total weight of other tracks' stints (by duration)
    recent_half_life: int = 0       # >0: weight stints by recency (in class stints), 0 = off
    neutral_discount: float = 0.5   # weight / (1 + this × neutralised laps of the stint)
    q_early: float = 0.1
    q_late: float = 0.95
    late_margin: float = 0.0        # laps added to the latest lap
    beyond_latest: int = 3          # latest lap (laps ahead) once past every known stint
    full_quantile: float = 0.75     # a full tank: this quantile of comparable stints
    final_pull: float = 0.75        # pull the expected lap this far towards the lap from
                                    # which the remaining stops still reach the flag
    plan_stops: int = 3             # ... when at most this many stops remain
    repeat_mae: float = 0.6         # guard: a class whose cars repeat their last full green
                                    # stint this closely in this race (mean |Δ| laps) ...
    repeat_min_pairs: int = 3       # ... over at least this many stints is predicted by it


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: list[float]) -> np.ndarray:
    """Weighted quantiles (lower, by cumulative weight) of ``values``."""
    order = np.argsort(values, kind="stable")
    v = values[order]
    c = np.cumsum(weights[order])
    c /= c[-1]
    idx = np.searchsorted(c, np.asarray(qs) - 1e-12, side="left")
    return v[np.minimum(idx, len(v) - 1)]


def window_from_candidates(used: float, values: np.ndarray, weights: np.ndarray,
                           params: WindowParams) -> tuple[float, float, float]:
    """Remaining laps (earliest, expected, latest) from candidate stint consumptions.

    Args:
        used: units the car has used in its current stint.
        values: candidate total consumptions (units) of comparable stints.
        weights: their weights.

    Returns:
        Remaining green laps to the in-lap (≥ 1 each), NaN when there is no evidence.
    """
    if not len(values) or weights.sum() <= 0:
        return (np.nan, np.nan, np.nan)
    keep = values > used + 0.5
    if not keep.any():
        # the car has outrun every comparable stint: the stop is due now
        return (1.0, 1.0, float(params.beyond_latest))
    remaining = values[keep] - used
    lo, mid, hi = weighted_quantiles(remaining, weights[keep],
                                     [params.q_early, 0.5, params.q_late])
    return (max(1.0, float(np.floor(lo))), max(1.0, float(np.floor(mid + 0.5))),
            max(1.0, float(np.ceil(hi + params.late_margin))))


def full_capacity(values: np.ndarray, weights: np.ndarray, params: WindowParams) -> float:
    """Units of a full tank: an upper quantile of comparable stints (NaN without evidence)."""
    if not len(values) or weights.sum() <= 0:
        return np.nan
    return float(weighted_quantiles(values, weights, [params.full_quantile])[0])


def final_stop_adjust(window: tuple[float, float, float], laps_to_flag: float,
                      capacity: float, params: WindowParams, *, plan_stops: int | None = None,
                      ) -> tuple[float, float, float]:
    """Move the window of a car's next stop towards the lap where its remaining stops suffice.

    Measured on real races: near the end, teams plan the minimum number of stops to the flag
    and stop as soon as that number is feasible (fresh tyres, no fuel to save) rather than at
    the fuel limit. With k full tanks still needed after this stop, the window opens
    ``laps_to_flag − k × capacity`` laps ahead.

    Args:
        window: remaining laps (earliest, expected, latest) from the fuel evidence.
        laps_to_flag: laps the car will still complete before the flag (green pace).
        capacity: units of a full tank.
        plan_stops: overrides ``params.plan_stops`` (0 = never plan), see ``PLAN_STOPS``.
    """
    plan = params.plan_stops if plan_stops is None else plan_stops
    lo, mid, hi = window
    if not (np.isfinite(laps_to_flag) and np.isfinite(capacity) and np.isfinite(mid)
            and capacity > 0):
        return window
    stops = np.ceil((laps_to_flag - mid) / capacity)   # stops still needed after this one
    if stops < 1 or stops > plan:
        return window
    opens = laps_to_flag - stops * capacity
    if opens < 1 or opens >= mid:
        return window
    mid = float(np.floor(mid - params.final_pull * (mid - opens) + 0.5))
    return (max(1.0, min(lo, float(np.floor(opens)))), max(1.0, mid), hi)
