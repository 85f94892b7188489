"""Causal per-lap features: what is known at the end of each lap of each car (ML.md §1).

Every column of the frame ``causal_features`` returns for a lap is computed from crossings
(of all cars) at or before that lap's ELAPSED, so the same code serves a backtest replay and a
live race, and cutting a file at time T leaves the rows before T unchanged (a test proves it).

Definitions (ML.md §1):
- neutralised: [ELAPSED − LAP_TIME, ELAPSED] overlaps a period rebuilt from all crossings.
  Known at the lap's end: a period overlapping the lap started with a non-green crossing at or
  before it (the car's own crossing is one), so no later crossing changes the answer.
- restart lap: starts within one median lap after a period ends. The median is the median
  lap time of all crossings *so far* (``laps.py`` uses the race median: whole-race knowledge).
- clean: not lap 1, not in/out-lap, not neutralised, not a restart lap, has a lap time.
- EWMA (α = 0.3) over the clean laps of the current stint; a clean lap enters only if it is
  ≤ 1.07 × the median of the car's earlier clean laps in the race.

Relative quantities (``*_rel``) are ratios to the car's reference pace minus 1, so a model
trained at Sebring applies at Fuji. Traffic counts enter the model as passes per 100 s of
the car's lap (``*_per100s``): a pass costs seconds, not a share of the lap. Times are seconds.
"""

from __future__ import annotations

import bisect
import math

import numpy as np
import pandas as pd

from race.analysis.flags import GREEN, overlaps_periods, periods_from_states
from race.analysis.laps import derive_laps
from race.schema import GREEN_FLAGS

ALPHA = 0.3
GATE = 1.07
MIN_EWMA_LAPS = 5
TREND_WINDOW_S = 600.0
SHORT_TREND_WINDOW_S = 180.0
INFER_RATIO = 1.07
REF_LAP_S = 100.0  # traffic counts are expressed per this much lap time (see TRAFFIC_COUNTS)
# Cars passed / passing during the next lap. A pass costs about the same *seconds* on any
# track, so a count is scaled to passes per REF_LAP_S of the car's lap before it enters the
# relative-residual model: trained on raw counts (~100 s IMSA laps) it added ~3× too much per
# GT car passed at Le Mans (~225 s laps; measured on the 2024 race, leave-one-track-out).
TRAFFIC_COUNTS = ["pass_other", "pass_same", "passed_by_other", "passed_by_same",
                  "pass_other_prev", "passed_by_other_prev", "pass_same_prev"]

BASE_COLUMNS = ["number", "lap_number", "driver_number", "lap_time_s", "s1_s", "s2_s", "s3_s",
                "elapsed_s", "hour_of_day_s", "crossing_in_pit", "pit_time_s", "class", "flag"]

# Model inputs (all known at the end of lap n; they describe lap n+1's situation).
FEATURES = [
    "ewma_count", "lap_in_stint_next", "stint_number", "stint_frac",
    "last_rel", "prev_rel", "prev2_rel", "mean3_rel", "min3_rel",
    "s1_rel", "s2_rel", "s3_rel", "ewma_vs_best", "ewma_vs_class_best", "class_pace_ratio",
    "pass_other_per100s", "pass_same_per100s", "passed_by_other_per100s",
    "passed_by_same_per100s", "near_cars", "gap_ahead_rel", "gap_behind_rel",
    "pass_other_prev_per100s", "passed_by_other_prev_per100s", "pass_same_prev_per100s",
    "trend_class", "trend_field", "trend_class_short",
    "laps_since_restart", "race_time_h", "hour_of_day_h", "driver_offset_rel",
    "last_resid_model_free", "trend_s1_short", "trend_s2_short", "trend_s3_short", "base_s",
    "field_recent_rel", "field_slow_share", "prev_stint_rel",
]


def _prepare(laps: pd.DataFrame) -> pd.DataFrame:
    """Source columns only, sorted by car then lap; derive in/out laps and stints."""
    cols = [c for c in BASE_COLUMNS if c in laps.columns]
    frame = laps[cols].copy()
    if "flag" not in frame:
        frame["flag"] = None
    frame = frame.sort_values(["number", "lap_number"], kind="stable").reset_index(drop=True)
    derived, _ = derive_laps(frame)
    return derived


def crossing_states(laps: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Track state at each crossing, causal: (time-order index, elapsed sorted, state).

    With a flag column the state is the crossing's own flag (GF/FF = green). Without one
    (WEC ≤ 2019) a crossing is neutral when the trailing median of the field's lap ratio to
    its class's median racing lap so far exceeds 1.07 (trailing, not centred: causal).
    """
    elapsed = laps["elapsed_s"].to_numpy(dtype=float)
    order = np.lexsort((laps["lap_number"].to_numpy(), laps["number"].to_numpy().astype(str),
                        elapsed))
    known = laps["flag"].notna().to_numpy()
    if known.any():
        keep = order[known[order]]
        flags = laps["flag"].to_numpy()[keep].astype(object)
        states = np.where(np.isin(flags, GREEN_FLAGS), GREEN, flags).astype(object)
        return keep, elapsed[keep], states
    racing = ((laps["lap_number"] > 1) & ~laps["in_lap"] & ~laps["out_lap"]
              & laps["lap_time_s"].notna()).to_numpy()
    frame = pd.DataFrame({"cls": laps["class"].to_numpy()[order],
                          "lap": np.where(racing, laps["lap_time_s"], np.nan)[order]})
    ref = frame.groupby("cls")["lap"].transform(lambda s: s.expanding().median())
    ratio = frame["lap"] / ref
    window = max(5, laps["number"].nunique() // 3)
    smooth = ratio.rolling(window, min_periods=3).median().to_numpy()
    states = np.where(smooth > INFER_RATIO, "FCY", GREEN).astype(object)
    return order, elapsed[order], states


def causal_lap_facts(laps: pd.DataFrame) -> pd.DataFrame:
    """Add causal ``neutralised_c``, ``restart_c``, ``clean_c`` and ``restart_window_s``.

    Args:
        laps: output of ``_prepare`` (derived in/out laps and stints).
    """
    _, t_sorted, states = crossing_states(laps)
    periods = periods_from_states(t_sorted, states)
    start = laps["start_s"].to_numpy(dtype=float)
    end = laps["elapsed_s"].to_numpy(dtype=float)
    neutral = overlaps_periods(start, end, periods)
    # Median lap so far, evaluated at each lap's end (crossings in time order).
    t_order = np.lexsort((laps["lap_number"].to_numpy(),
                          laps["number"].to_numpy().astype(str), end))
    med = pd.Series(laps["lap_time_s"].to_numpy(dtype=float)[t_order]).expanding().median()
    window = np.empty(len(laps))
    window[t_order] = med.to_numpy()
    restart = np.zeros(len(laps), dtype=bool)
    if len(periods):
        p_end = periods["end_s"].to_numpy()
        idx = np.searchsorted(p_end, start, side="right") - 1  # last period ended by start
        ok = idx >= 0
        restart[ok] = start[ok] - p_end[idx[ok]] <= window[ok]
    restart &= ~neutral
    clean = ((laps["lap_number"] > 1).to_numpy() & ~laps["in_lap"].to_numpy()
             & ~laps["out_lap"].to_numpy() & ~neutral & ~restart
             & laps["lap_time_s"].notna().to_numpy())
    out = laps.assign(neutralised_c=neutral, restart_c=restart, clean_c=clean,
                      restart_window_s=window)
    out.attrs["periods"] = periods
    return out


def _nanmedian_sorted(values: list[float]) -> float:
    n = len(values)
    if n == 0:
        return math.nan
    mid = n // 2
    return values[mid] if n % 2 else 0.5 * (values[mid - 1] + values[mid])


def car_sequences(laps: pd.DataFrame) -> pd.DataFrame:
    """Per-car running state after each lap: the EWMA of ML.md §1 and what builds on it.

    Adds ``ewma_s`` (NaN before the stint's first entering lap), ``ewma_count``,
    ``ewma_s1_s``…``ewma_s3_s``, ``pre_ewma_s`` (EWMA before this lap), ``base_s`` (the
    reference pace: stint EWMA, else the car's last EWMA, else its median clean lap so far),
    ``best_clean_s``, ``driver_offset_rel``, ``prev_stint_laps``, ``laps_since_restart``.
    """
    number = laps["number"].to_numpy()
    stint = laps["stint_number"].to_numpy()
    lap_time = laps["lap_time_s"].to_numpy(dtype=float)
    sectors = [laps[c].to_numpy(dtype=float) for c in ("s1_s", "s2_s", "s3_s")]
    clean = laps["clean_c"].to_numpy()
    neutral = laps["neutralised_c"].to_numpy() | laps["restart_c"].to_numpy()
    driver = laps["driver_number"].to_numpy()
    lap_in_stint = laps["lap_in_stint"].to_numpy()
    n = len(laps)
    ewma = np.full(n, np.nan)
    pre = np.full(n, np.nan)
    count = np.zeros(n, dtype=np.int64)
    sec_ewma = np.full((3, n), np.nan)
    base = np.full(n, np.nan)
    best = np.full(n, np.nan)
    offset = np.full(n, np.nan)
    prev_stint = np.full(n, np.nan)
    since_restart = np.zeros(n, dtype=np.int64)
    prev_e = np.full(n, np.nan)
    car = None
    for i in range(n):
        if number[i] != car:
            car, cur_stint = number[i], stint[i]
            earlier: list[float] = []
            by_driver: dict[object, list[float]] = {}
            e, c, se = math.nan, 0, [math.nan, math.nan, math.nan]
            last_e, best_v, last_stint_len, run = math.nan, math.inf, math.nan, 0
            prev_stint_e = math.nan
        if stint[i] != cur_stint:
            last_stint_len = lap_in_stint[i - 1] if i > 0 else math.nan
            prev_stint_e = last_e
            cur_stint, e, c, se = stint[i], math.nan, 0, [math.nan, math.nan, math.nan]
        pre[i] = e
        run = 0 if neutral[i] else run + 1
        x = lap_time[i]
        if clean[i]:
            gate = not earlier or x <= GATE * _nanmedian_sorted(earlier)
            bisect.insort(earlier, x)
            by_driver.setdefault(driver[i], []).append(x)
            best_v = min(best_v, x)
            if gate:
                e = x if c == 0 else ALPHA * x + (1.0 - ALPHA) * e
                for k in range(3):
                    s = sectors[k][i]
                    if s == s:  # not NaN
                        se[k] = s if se[k] != se[k] else ALPHA * s + (1.0 - ALPHA) * se[k]
                c += 1
                last_e = e
        ewma[i], count[i] = e, c
        sec_ewma[:, i] = se
        base[i] = last_e if last_e == last_e else _nanmedian_sorted(earlier)
        best[i] = best_v if best_v < math.inf else math.nan
        mine = by_driver.get(driver[i])
        if mine and len(mine) >= 3 and len(earlier) >= 6:
            offset[i] = float(np.median(mine)) / _nanmedian_sorted(earlier) - 1.0
        prev_stint[i] = last_stint_len
        prev_e[i] = prev_stint_e
        since_restart[i] = run
    return laps.assign(ewma_s=ewma, ewma_count=count, pre_ewma_s=pre, ewma_s1_s=sec_ewma[0],
                       ewma_s2_s=sec_ewma[1], ewma_s3_s=sec_ewma[2], base_s=base,
                       best_clean_s=best, driver_offset_rel=offset, prev_stint_laps=prev_stint,
                       laps_since_restart=since_restart, prev_stint_ewma_s=prev_e)


def _time_order(laps: pd.DataFrame) -> np.ndarray:
    return np.lexsort((laps["lap_number"].to_numpy(), laps["number"].to_numpy().astype(str),
                       laps["elapsed_s"].to_numpy(dtype=float)))


def field_features(laps: pd.DataFrame) -> pd.DataFrame:
    """Cross-car features at each crossing: multi-class traffic, class pace, field trend.

    For the car crossing the line at ELAPSED e (pace p, its ``base_s``), every other car's
    position on track at e comes from its last crossing at or before e and its own pace; a
    car in the pits (last crossing an in-lap) or overdue by 1.5 laps is left out. During the
    next lap the car gains 1 − p/p_j laps on car j: it passes a slower car that is less than
    that far ahead, and a faster car passes it when it gains more than the gap behind.
    """
    n = len(laps)
    e = laps["elapsed_s"].to_numpy(dtype=float)
    pace = laps["base_s"].to_numpy(dtype=float)
    cls = laps["class"].astype(str).to_numpy()
    number = laps["number"].to_numpy()
    in_pit = laps["in_lap"].to_numpy() | laps["flag"].eq("FF").to_numpy()
    classes = sorted(set(cls))
    cls_code = np.searchsorted(classes, cls)
    cars = pd.unique(number)
    m = len(cars)
    pos = np.full((m, n), np.nan)  # fraction of a lap each car is ahead of the crossing car
    pj = np.full((m, n), np.nan)   # each car's current pace
    car_cls = np.zeros(m, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, number[1:] != number[:-1]])
    stops = np.r_[starts[1:], n]
    for j, (a, b) in enumerate(zip(starts, stops, strict=True)):
        car_cls[j] = cls_code[a]
        ej = e[a:b]
        valid = np.isfinite(ej)
        ej_sorted = np.where(valid, ej, np.inf)
        k = np.searchsorted(ej_sorted, e, side="right") - 1
        ok = k >= 0
        kk = a + np.maximum(k, 0)
        dt = e - e[kk]
        p = pace[kk]
        active = ok & ~in_pit[kk] & np.isfinite(p) & (dt <= 1.5 * p)
        active[a:b] = False  # the car itself
        pos[j] = np.where(active, (dt / p) % 1.0, np.nan)
        pj[j] = np.where(active, p, np.nan)
    gain = 1.0 - pace[None, :] / pj                       # laps gained on car j in one lap
    same = car_cls[:, None] == cls_code[None, :]
    with np.errstate(invalid="ignore"):
        passes = (gain > 0) & (pos < gain)
        passed_by = (gain < 0) & ((1.0 - pos) < (pace[None, :] / pj - 1.0))
        ahead_s = pos * pace[None, :]
        behind_s = (1.0 - pos) * pj
        near = (ahead_s < 3.0) | (behind_s < 3.0)
    out = pd.DataFrame(index=laps.index)
    out["pass_other"] = (passes & ~same).sum(axis=0)
    out["pass_same"] = (passes & same).sum(axis=0)
    out["passed_by_other"] = (passed_by & ~same).sum(axis=0)
    out["passed_by_same"] = (passed_by & same).sum(axis=0)
    out["near_cars"] = near.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["gap_ahead_rel"] = np.fmin(np.nanmin(np.where(np.isnan(ahead_s), np.inf, ahead_s),
                                                 axis=0), pace) / pace
        out["gap_behind_rel"] = np.fmin(np.nanmin(np.where(np.isnan(behind_s), np.inf,
                                                           behind_s), axis=0), pace) / pace
    # Class pace picture at e: the car's pace vs its class's best and median, class vs field.
    class_ref = np.full((len(classes), n), np.nan)
    class_best = np.full((len(classes), n), np.nan)
    # Reduced over the columns with a value only: numpy (and pandas 3, which calls it) warns
    # on an all-NaN column, and silencing that is not thread-safe (the model job runs in
    # scheduler threads). All-NaN columns stay NaN.
    for c in range(len(classes)):
        rows = pj[car_cls == c]
        if len(rows):
            valid = ~np.isnan(rows).all(axis=0)
            class_ref[c, valid] = np.nanmedian(rows[:, valid], axis=0)
            class_best[c, valid] = np.nanmin(rows[:, valid], axis=0)
    own_ref = class_ref[cls_code, np.arange(n)]
    own_ref = np.where(np.isnan(own_ref), pace, own_ref)
    own_best = np.fmin(class_best[cls_code, np.arange(n)], pace)
    fastest = np.fmin.reduce(np.vstack([class_ref, pace[None, :]]), axis=0)
    out["ewma_vs_class_best"] = pace / own_best - 1.0
    out["class_pace_ratio"] = own_ref / fastest - 1.0
    return out


def trend_features(laps: pd.DataFrame) -> pd.DataFrame:
    """Class-median and field-median trend of the last minutes (rain, track evolution).

    Each racing lap's ratio to its car's EWMA before it, minus 1; the median over the laps of
    the class (or the field) completed in the last 10 (or 3) minutes up to this crossing.
    """
    racing = ((laps["lap_number"] > 1) & ~laps["in_lap"] & ~laps["out_lap"]
              & ~laps["neutralised_c"]).to_numpy()
    ref = laps["pre_ewma_s"].to_numpy(dtype=float)
    ratio = np.where(racing, laps["lap_time_s"].to_numpy(dtype=float) / ref - 1.0, np.nan)
    order = _time_order(laps)
    t = pd.to_datetime(laps["elapsed_s"].to_numpy(dtype=float)[order] * 1e9, unit="ns")
    frame = pd.DataFrame({"r": ratio[order], "cls": laps["class"].astype(str).to_numpy()[order]},
                         index=t)
    out = np.full((3, len(laps)), np.nan)
    out[1, order] = frame["r"].rolling(f"{int(TREND_WINDOW_S)}s", min_periods=1).median()
    for _, grp in frame.groupby("cls", sort=False):
        pos = np.flatnonzero(frame["cls"].to_numpy() == grp["cls"].iloc[0])
        out[0, order[pos]] = grp["r"].rolling(f"{int(TREND_WINDOW_S)}s",
                                              min_periods=1).median().to_numpy()
        out[2, order[pos]] = grp["r"].rolling(f"{int(SHORT_TREND_WINDOW_S)}s",
                                              min_periods=1).median().to_numpy()
    result = pd.DataFrame({"trend_class": out[0], "trend_field": out[1],
                           "trend_class_short": out[2], "lap_rel_pre": ratio},
                          index=laps.index)
    # The last few crossings of the whole field react first when everybody slows before a
    # flag shows it (slow zones, a safety car being deployed).
    recent = pd.Series(ratio[order]).rolling(12, min_periods=3).median().to_numpy()
    slow = pd.Series(np.where(np.isnan(ratio[order]), np.nan, ratio[order] > 0.08), index=t)
    slow_share = slow.rolling("90s", min_periods=1).mean().to_numpy()
    result["field_recent_rel"] = np.empty(len(laps))
    result["field_slow_share"] = np.empty(len(laps))
    result.iloc[order, result.columns.get_loc("field_recent_rel")] = recent
    result.iloc[order, result.columns.get_loc("field_slow_share")] = slow_share
    # Field-wide sector trend of the last minutes: slow zones and local yellows slow every
    # class in one sector; no flag column shows them.
    for k in (1, 2, 3):
        sec = laps[f"s{k}_s"].to_numpy(dtype=float) / laps[f"ewma_s{k}_s"].to_numpy(dtype=float)
        sec = np.where(racing, sec - 1.0, np.nan)
        series = pd.Series(sec[order], index=t)
        vals = np.full(len(laps), np.nan)
        vals[order] = series.rolling(f"{int(SHORT_TREND_WINDOW_S)}s", min_periods=1).median()
        result[f"trend_s{k}_short"] = vals
    return result


def _lag(values: np.ndarray, first: np.ndarray, k: int) -> np.ndarray:
    """The value k rows earlier within the same car (NaN across car boundaries)."""
    out = np.full(len(values), np.nan)
    if k < len(values):
        out[k:] = values[:-k]
    car_start = np.maximum.accumulate(np.where(first, np.arange(len(values)), 0))
    out[np.arange(len(values)) - k < car_start] = np.nan
    return out


def causal_features(laps: pd.DataFrame) -> pd.DataFrame:
    """One row per lap n: the state at its end, the features for predicting lap n+1.

    Args:
        laps: parsed or stored lap rows of one race (source columns; extra columns ignored).

    Returns:
        DataFrame sorted by car then lap with the source columns, the derived lap facts
        (``clean`` is the whole-race label used for scoring, ``clean_c`` the causal one),
        ``ewma_s``/``base_s`` and every column of ``FEATURES``.
    """
    frame = car_sequences(causal_lap_facts(_prepare(laps)))
    frame = pd.concat([frame, field_features(frame), trend_features(frame)], axis=1)
    number = frame["number"].to_numpy()
    first = np.r_[True, number[1:] != number[:-1]]
    base = frame["base_s"].to_numpy(dtype=float)
    lap = frame["lap_time_s"].to_numpy(dtype=float)
    racing = ((frame["lap_number"] > 1) & ~frame["in_lap"] & ~frame["out_lap"]
              & ~frame["neutralised_c"]).to_numpy()
    same_stint = frame["stint_number"].to_numpy()
    rel = np.where(racing, lap / base - 1.0, np.nan)
    lags = []
    for k in (1, 2):
        lagged = _lag(rel, first, k)
        lagged[_lag(same_stint.astype(float), first, k) != same_stint] = np.nan
        lags.append(lagged)
    stacked = pd.DataFrame(np.vstack([rel, *lags]))
    mean3 = stacked.mean(axis=0).to_numpy()
    min3 = stacked.min(axis=0).to_numpy()
    frame["last_rel"], frame["prev_rel"], frame["prev2_rel"] = rel, lags[0], lags[1]
    frame["mean3_rel"], frame["min3_rel"] = mean3, min3
    for k in (1, 2, 3):
        frame[f"s{k}_rel"] = np.where(racing, frame[f"s{k}_s"] / frame[f"ewma_s{k}_s"] - 1.0,
                                      np.nan)
    frame["lap_in_stint_next"] = frame["lap_in_stint"] + 1
    frame["stint_frac"] = frame["lap_in_stint_next"] / frame["prev_stint_laps"]
    frame["ewma_vs_best"] = frame["base_s"] / frame["best_clean_s"] - 1.0
    frame["prev_stint_rel"] = frame["prev_stint_ewma_s"] / frame["base_s"] - 1.0
    for col in ("pass_other", "passed_by_other", "pass_same"):
        frame[f"{col}_prev"] = _lag(frame[col].to_numpy(dtype=float), first, 1)
    per_ref = REF_LAP_S / frame["base_s"]
    for col in TRAFFIC_COUNTS:
        frame[f"{col}_per100s"] = frame[col] * per_ref
    frame["race_time_h"] = frame["elapsed_s"] / 3600.0
    frame["hour_of_day_h"] = (frame["hour_of_day_s"] % 86400.0) / 3600.0
    frame["last_resid_model_free"] = frame["lap_rel_pre"]
    return frame


def add_targets(frame: pd.DataFrame) -> pd.DataFrame:
    """Scoring labels for predicting lap n+1 from the end of lap n (whole-race labels).

    Adds ``target_s`` (lap n+1's time), ``target_lap`` (n+1), ``s_clean`` (ML.md §1: lap n
    and n+1 clean, same stint, ≥ 5 laps in the EWMA), ``s_green`` (lap n+1 a non-neutralised
    racing lap: not lap 1, not in/out), ``next5_s`` (mean of the next 5 clean laps of the
    stint, NaN when fewer remain) and ``target_rel`` (target_s / base_s − 1).
    """
    number = frame["number"].to_numpy()
    nxt_same = np.r_[number[1:] == number[:-1], False]
    def shift(col: str) -> np.ndarray:
        vals = frame[col].to_numpy()
        out = np.empty(len(vals), dtype=object if vals.dtype == object else vals.dtype)
        out[:-1] = vals[1:]
        if len(vals):
            out[-1] = vals[-1]
        return out
    target = np.where(nxt_same, shift("lap_time_s").astype(float), np.nan)
    clean = frame["clean"].to_numpy()
    same_stint = nxt_same & (shift("stint_number") == frame["stint_number"].to_numpy())
    s_clean = (clean & shift("clean").astype(bool) & same_stint
               & (frame["ewma_count"].to_numpy() >= MIN_EWMA_LAPS) & np.isfinite(target))
    s_green = (nxt_same & ~shift("neutralised").astype(bool) & ~shift("in_lap").astype(bool)
               & ~shift("out_lap").astype(bool) & np.isfinite(target))
    # mean of the next 5 clean laps of the stint: cumulative sums over clean rows
    lap = frame["lap_time_s"].to_numpy(dtype=float)
    key = pd.factorize(pd.Series(number.astype(str))
                       + "#" + frame["stint_number"].astype(str).to_numpy())[0]
    pos = np.flatnonzero(clean & np.isfinite(lap))
    csum = np.r_[0.0, np.cumsum(lap[pos])]
    j = np.searchsorted(pos, np.arange(len(frame)), side="right")
    ok = j + 5 <= len(pos)
    last = pos[np.minimum(j + 4, len(pos) - 1)] if len(pos) else np.zeros(len(frame), int)
    ok &= key[last] == key
    jj = np.minimum(j, len(pos) - 5) if len(pos) >= 5 else np.zeros(len(frame), int)
    next5 = np.where(ok, (csum[np.minimum(jj + 5, len(csum) - 1)] - csum[jj]) / 5.0, np.nan)
    out = frame.assign(target_lap=frame["lap_number"] + 1, target_s=target, s_clean=s_clean,
                       s_green=s_green, next5_s=next5)
    out["target_rel"] = out["target_s"] / out["base_s"] - 1.0
    out["next5_rel"] = out["next5_s"] / out["base_s"] - 1.0
    return out
