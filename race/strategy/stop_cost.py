"""Stop cost: the time a pit stop loses against staying out (ML.md §4).

``stop_cost_s`` = in-lap + out-lap − 2 × the median of the car's clean laps among the 6 laps
before the in-lap. It is PIT_TIME (time in the pit lane) plus a per-track offset (the pit
lane is shorter or longer than the stretch of track it bypasses; measured 0 ± 2 s, −3 … +8 s).
Service time depends on the stop type: fuel only, fuel + tyres, driver change; the lap file
shows driver changes (DRIVER_NUMBER changes on the out-lap) but not tyres, so the car's own
earlier stops carry the rest. Under FCY / safety car the field is slow too, so the same stop
costs less against the cars that stay out (``neutral_cost_ratio``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from race.strategy.tracks import class_keys

BASE_LAPS = 6          # laps before the in-lap whose clean laps give the reference pace
MIN_BASE_LAPS = 2      # clean laps needed among them
ROUTINE_LOW = 0.6      # routine stop: PIT_TIME within these multiples of the class median
ROUTINE_HIGH = 1.4


def measure_stops(laps: pd.DataFrame) -> pd.DataFrame:
    """Every stop with its cost, known at the out-lap crossing (``known_s``).

    Args:
        laps: laps with ``number, lap_number, lap_time_s, elapsed_s, in_lap, pit_time_s,
            driver_number, class, clean_c, neutral_c`` sorted by car then lap.

    Returns:
        One row per stop whose in-lap is followed by the out-lap carrying PIT_TIME:
        ``number, class_key, in_lap, in_s, known_s, pit_time_s, cost_s (NaN without a
        reference pace), base_s, offset_s (cost − PIT_TIME), driver_change, green``.
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
    return frame


def mark_routine(stops: pd.DataFrame) -> pd.Series:
    """Routine green stops: green, measured, PIT_TIME within 0.6–1.4 × the class median.

    Drive-throughs and repairs are not routine. The class median is the race's (for scoring
    and training only: a causal predictor never uses this flag for the stop it predicts).
    """
    med = stops.groupby("class_key")["pit_time_s"].transform("median")
    ratio = stops["pit_time_s"] / med
    return (stops["green"] & stops["cost_s"].notna() & ratio.between(ROUTINE_LOW, ROUTINE_HIGH))


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
