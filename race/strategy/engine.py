"""The strategy engine: one race's laps up to now → window, cost and rejoin per car.

``prepare_race`` computes everything per lap that only depends on earlier crossings (causal
facts, fuel units used in the stint, pace, completed stints and measured stops, each with the
race time it became known). ``predict_rows`` then answers, for any set of lap rows (the last
lap of each car for the live page, every lap for the backtest), what the engine would have
said at the end of that lap.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from race.strategy.causal import causal_lap_facts
from race.strategy.fuel import (
    PLAN_STOPS,
    WindowParams,
    final_stop_adjust,
    fuel_stint_numbers,
    full_capacity,
    lap_units,
    stint_progress,
    stint_records,
    window_from_candidates,
)
from race.strategy.handover import applies, handover_laps, starter_columns
from race.strategy.history import History
from race.strategy.pace import pace_columns
from race.strategy.rejoin import IN_LAP_SHARE, ClassField, project_after_stop
from race.strategy.stop_cost import (
    INTERVAL_FALLBACK_S,
    ROUTINE_HIGH,
    ROUTINE_LOW,
    CostParams,
    green_at_pace,
    interval_offsets,
    measure_stops,
    predict_cost,
    splash_factor,
)
from race.strategy.tracks import class_group, class_keys

log = logging.getLogger(__name__)

MIN_STINT_LAPS = 5     # shorter completed stints (drive-throughs, splashes) are no evidence
FULL_STINT_LAPS = 8    # a full green stint (ML.md §4): ≥ this many laps, none neutralised


def repeat_evidence(stints: pd.DataFrame) -> tuple[dict, dict]:
    """This race's own record of "the car repeats its last full green stint" (the guard).

    Args:
        stints: ``stint_records`` of the race (fuel stints), sorted by ``known_s``.

    Returns:
        (per class key: ``known_s`` and cumulative ``abs_err`` (laps) of every full green
        stint whose car had an earlier one, against that earlier one's length, in the order
        they became known; per car: ``known_s`` and ``laps`` of its full green stints)
    """
    # the first stint's tank also fed the formation laps: it is no full stint to repeat
    full = (stints["green_end"].astype(bool) & (stints["neutral_laps"] == 0)
            & (stints["laps"] >= FULL_STINT_LAPS) & (stints["stint_number"] > 1))
    s = stints[full]
    per_car: dict[object, tuple[np.ndarray, np.ndarray]] = {}
    pairs: dict[str, list[tuple[float, float]]] = {}
    for number, c in s.groupby("number", sort=False):
        known = c["known_s"].to_numpy(dtype=float)
        laps = c["laps"].to_numpy(dtype=float)
        per_car[number] = (known, laps)
        ck = str(c["class_key"].iloc[0])
        pairs.setdefault(ck, []).extend(zip(known[1:], np.abs(np.diff(laps)), strict=True))
    per_class = {}
    for ck, p in pairs.items():
        p.sort()
        arr = np.asarray(p, dtype=float).reshape(-1, 2)
        per_class[ck] = {"known_s": arr[:, 0], "cum_err": np.cumsum(arr[:, 1])}
    return per_class, per_car


@dataclass
class PreparedRace:
    """Causal per-lap columns and the race's own evidence, each item stamped with when it was
    known (``known_s``: for a fuel stint, the out-lap crossing of the refuelling stop that
    ended it; for a stop, its out-lap crossing)."""

    laps: pd.DataFrame
    periods: pd.DataFrame
    stints: pd.DataFrame
    stops: pd.DataFrame
    track: str
    series: str
    end_s: float | None = None     # scheduled race end (s from the start), None = unknown
    by_class: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    repeat_class: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    repeat_car: dict[object, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


PRIOR_STOPS = 3   # history's routine PIT_TIME counts as this many stops of the race
OTHER_TRACK_WEIGHT = 1.0   # the class's PIT_TIME at other tracks counts as one stop


def cost_prior(history: History, track: str, ck: str, params: CostParams,
               ) -> tuple[float, float, CostParams]:
    """History's routine PIT_TIME and pit-lane offset for the point estimate of a stop's
    cost, and the parameters to blend them with: the track's at ``params.history_weight``;
    a first visit gets the class's PIT_TIME at the other tracks at ``OTHER_TRACK_WEIGHT``
    (pit lanes differ in length: a weak prior, soon outweighed by this race's stops)."""
    here = history.routine_pit_time(track, ck)
    if np.isfinite(here):
        return here, history.pit_offset(track), params
    return (history.routine_pit_time(track, ck, anywhere=True), history.pit_offset(track),
            replace(params, history_weight=OTHER_TRACK_WEIGHT))


def _routine_causal(stops: pd.DataFrame, prior_s: dict[str, float] | None = None,
                    ) -> np.ndarray:
    """Routine flag using only the class's stops known before each stop (expanding median,
    with ``PRIOR_STOPS`` copies of the class's routine PIT_TIME in history, ``prior_s``, so
    that a drive-through or a splash that comes first is not taken for a routine stop)."""
    out = np.zeros(len(stops), dtype=bool)
    prior_s = prior_s or {}
    for ck, s in stops.groupby("class_key", sort=False):
        pit = s["pit_time_s"].to_numpy(dtype=float)
        prior = float(prior_s.get(str(ck), np.nan))
        if np.isfinite(prior):
            seen = [prior] * PRIOR_STOPS     # one sorted list: O(log n) a stop
            med = np.empty(len(pit))
            for j, value in enumerate(pit.tolist()):
                bisect.insort(seen, value)
                n = len(seen)
                med[j] = seen[n // 2] if n % 2 else 0.5 * (seen[n // 2 - 1] + seen[n // 2])
        else:
            med = pd.Series(pit).expanding().median().to_numpy()
        ratio = pit / med
        ok = (green_at_pace(s).to_numpy(dtype=bool)
              & (ratio >= ROUTINE_LOW) & (ratio <= ROUTINE_HIGH))
        out[stops.index.get_indexer(s.index)] = ok
    return out


def prepare_race(laps: pd.DataFrame, history: History, *, track: str,
                 series: str = "", end_s: float | None = None) -> PreparedRace:
    """Per-lap causal columns and the race's completed stints and stops.

    Args:
        laps: derived laps of one race (any cut-off), sorted by car then lap.
        history: past races (may be empty).
        track: ``tracks.track_key`` of the race.
        end_s: scheduled race duration (s); known before the start, it is not a peek.
    """
    laps, periods = causal_lap_facts(laps)
    keys = class_keys(laps["class"])
    fractions = {ck: history.fraction(ck, series or None) for ck in keys.unique()}
    units = lap_units(laps, fractions)
    laps["fuel_stint"] = fuel_stint_numbers(
        laps, {ck: history.routine_pit_time(track, ck) for ck in keys.unique()})
    # the first fuel stint's tank also fed the formation laps (measured in history)
    start = keys.map({ck: history.start_units(ck, series or None, track=track)
                      for ck in keys.unique()}).to_numpy(dtype=float)
    first = laps["fuel_stint"].to_numpy() == 1
    progress = stint_progress(laps, units)
    progress["next_units"] += np.where(first & ~laps["in_lap"].to_numpy(dtype=bool), start, 0.0)
    laps = pd.concat([laps, progress, pace_columns(laps), starter_columns(laps)], axis=1)
    laps["class_key"] = keys.to_numpy()
    stints = stint_records(laps, units)
    stints["units"] += stints["class_key"].map(
        {ck: history.start_units(ck, series or None, track=track)
         for ck in keys.unique()}).where(
        stints["stint_number"].eq(1), 0.0).fillna(0.0)
    stops = measure_stops(laps).sort_values("known_s", kind="stable").reset_index(drop=True)
    prior_pit = {ck: history.routine_pit_time(track, ck, anywhere=True)
                 for ck in keys.unique()}
    stops["routine_c"] = _routine_causal(stops, prior_pit)
    race = PreparedRace(laps, periods, stints, stops, track, series, end_s)
    race.repeat_class, race.repeat_car = repeat_evidence(stints)
    cost_params = CostParams()
    for ck in laps["class_key"].unique():
        s = stints[(stints["class_key"] == ck) & stints["green_end"]
                   & (stints["laps"] >= MIN_STINT_LAPS)]
        r = stops[(stops["class_key"] == ck) & stops["routine_c"]]
        race.by_class[ck] = {
            "known_s": s["known_s"].to_numpy(dtype=float),
            "units": s["units"].to_numpy(dtype=float),
            "neutral_laps": s["neutral_laps"].to_numpy(dtype=float),
            "number": s["number"].to_numpy(), "manufacturer": s["manufacturer"].to_numpy(),
            "cost_known_s": r["known_s"].to_numpy(dtype=float),
            "pit_time_s": r["pit_time_s"].to_numpy(dtype=float),
            "offset_s": r["offset_s"].to_numpy(dtype=float),
        }
        # residuals of this race's routine stops against the estimate made before each one
        pit_s, off_s, cost = (r[c].to_numpy(dtype=float) for c in ("pit_time_s", "offset_s",
                                                                    "cost_s"))
        h_pit, h_off, ck_params = cost_prior(history, track, ck, cost_params)
        res = np.array([cost[j] - predict_cost(pit_s[:j], off_s[:j], h_pit, h_off, ck_params)
                        for j in range(len(r))])
        race.by_class[ck]["cost_interval"] = interval_offsets(
            history.cost_residuals(track, ck), res)
    return race


@dataclass(frozen=True)
class EngineParams:
    """Parameters of the window and stop-cost estimates (defaults = the measured best)."""

    window: WindowParams = field(default_factory=WindowParams)
    cost: CostParams = field(default_factory=CostParams)


def predict_rows(race: PreparedRace, history: History, rows: np.ndarray,
                 params: EngineParams | None = None) -> pd.DataFrame:
    """Window and stop cost for the given lap rows, each as known at the end of its lap.

    Args:
        race: ``prepare_race`` output.
        history: past races (history stints and costs of this track and class).
        rows: positional indices into ``race.laps``.

    Returns:
        One row per input row: ``number, at_lap, at_s, pit_earliest_lap, pit_expected_lap,
        pit_latest_lap, stop_cost_s`` (green stop) with ``stop_cost_low80_s`` /
        ``stop_cost_high80_s`` (80 % interval, ``stop_cost.interval_offsets``),
        ``full_tank_laps`` (green laps a full tank gives), ``laps_to_flag`` (laps the car
        still completes before the scheduled end at its pace; NaN when the end is unknown).
        Where the starting drivers of the class hand over at their minimum drive time
        (``handover``), a starter's expected in-lap is the lap that passes it when that comes
        before the fuel stop.
    """
    laps = race.laps
    params = params or EngineParams()
    wp = params.window
    hist_units: dict[str, np.ndarray] = {}
    hist_cost: dict[str, tuple[float, float, CostParams]] = {}
    number = laps["number"].to_numpy()
    ck_arr = laps["class_key"].to_numpy()
    man_arr = laps["manufacturer"].to_numpy()
    lap_no = laps["lap_number"].to_numpy()
    at_s = laps["elapsed_s"].to_numpy(dtype=float)
    used = laps["next_units"].to_numpy(dtype=float)
    pace_arr = laps["pace_s"].to_numpy(dtype=float)
    lap_time = laps["lap_time_s"].to_numpy(dtype=float)
    drive_s = laps["drive_s"].to_numpy(dtype=float)
    starter = laps["starter_driving"].to_numpy(dtype=bool)
    first_lap = laps["next_first_lap"].to_numpy(dtype=float)
    repeat_prior: dict[str, float] = {}
    minimum_s: dict[str, float] = {}   # per class key; NaN where the rule does not apply
    out = np.full((len(rows), 8), np.nan)   # earliest, expected, latest, cost, full, to flag,
                                            # cost low, cost high
    for j, i in enumerate(rows):
        ck = ck_arr[i]
        if ck not in hist_units:
            hist_units[ck] = history.stint_evidence(race.track, ck, race.series)
            hist_cost[ck] = cost_prior(history, race.track, ck, params.cost)
        ev = race.by_class.get(ck)
        t = at_s[i]
        values: list[np.ndarray] = []
        weights: list[np.ndarray] = []
        if ev is not None:
            k = int(np.searchsorted(ev["known_s"], t, side="right"))
            if k:
                v = ev["units"][:k]
                w = np.full(k, wp.class_weight)
                w[ev["manufacturer"][:k] == man_arr[i]] = wp.manufacturer_weight
                w[ev["number"][:k] == number[i]] = wp.own_weight
                # a stint with neutralised laps is uncertain evidence: their fuel share is
                # only known on average
                w = w / (1.0 + wp.neutral_discount * ev["neutral_laps"][:k])
                if wp.recent_half_life > 0:
                    w = w * 0.5 ** ((k - 1 - np.arange(k)) / wp.recent_half_life)
                values.append(v)
                weights.append(w)
            kc = int(np.searchsorted(ev["cost_known_s"], t, side="right"))
            pit_times, offsets = ev["pit_time_s"][:kc], ev["offset_s"][:kc]
            band = ev["cost_interval"][kc]
        else:
            pit_times = offsets = np.zeros(0)
            band = np.array(INTERVAL_FALLBACK_S)
        same, related, durations = hist_units[ck]
        for hu, factor in ((same, 1.0), (related, wp.related_factor)):
            if len(hu):
                w_each = factor * min(wp.history_weight, wp.history_cap / len(hu))
                values.append(hu)
                weights.append(np.full(len(hu), w_each))
        if len(durations) and not len(same) and not len(related):
            pace = pace_arr[i] if np.isfinite(pace_arr[i]) else lap_time[i]
            if np.isfinite(pace) and pace > 0:
                values.append(durations / pace)
                weights.append(np.full(len(durations), wp.transfer_cap / len(durations)))
        factor = 1.0
        if values:
            v, w = np.concatenate(values), np.concatenate(weights)
            window = window_from_candidates(used[i], v, w, wp)
            capacity = full_capacity(v, w, wp)
            out[j, 4] = capacity
            if race.end_s is not None:
                pace = pace_arr[i] if np.isfinite(pace_arr[i]) else lap_time[i]
                to_flag = np.ceil((race.end_s - t) / pace) if pace > 0 else np.nan
                out[j, 5] = to_flag
                plan = PLAN_STOPS.get((race.series.upper(), class_group(ck)), wp.plan_stops)
                window = final_stop_adjust(window, to_flag, capacity, wp, plan_stops=plan)
                if np.isfinite(window[1]) and capacity > 0:
                    factor = splash_factor(race.series, (to_flag - window[1]) / capacity)
            lo, mid, hi = window
            if ck not in repeat_prior:
                repeat_prior[ck] = history.repeat_error(race.track, ck)
            ahead = _repeat_guard(race, ck, number[i], t, first_lap[i], lap_no[i], wp,
                                  repeat_prior[ck])
            if np.isfinite(ahead) and not out[j, 5] < ahead:
                lo, mid, hi = min(lo, ahead), ahead, max(hi, ahead + 1.0)
            if starter[i]:
                if ck not in minimum_s:
                    minimum_s[ck] = (history.starter_minimum(race.series, ck, race.end_s)
                                     if applies(race.series, ck) else np.nan)
                pace = pace_arr[i] if np.isfinite(pace_arr[i]) else lap_time[i]
                ahead = handover_laps(mid, drive_s[i], minimum_s[ck], pace)
                if np.isfinite(ahead):
                    lo, mid = min(lo, ahead), ahead
            out[j, :3] = (lap_no[i] + lo, lap_no[i] + mid, lap_no[i] + hi)
        h_pit, h_off, ck_params = hist_cost[ck]
        out[j, 3] = predict_cost(pit_times, offsets, h_pit, h_off, ck_params, factor=factor)
        out[j, 6:8] = out[j, 3] + band
    return pd.DataFrame({
        "number": number[rows], "at_lap": lap_no[rows], "at_s": at_s[rows],
        "pit_earliest_lap": out[:, 0], "pit_expected_lap": out[:, 1],
        "pit_latest_lap": out[:, 2], "stop_cost_s": out[:, 3],
        "full_tank_laps": out[:, 4], "laps_to_flag": out[:, 5],
        "stop_cost_low80_s": out[:, 6], "stop_cost_high80_s": out[:, 7],
    })


def _repeat_guard(race: PreparedRace, ck: str, number: object, t: float, first_lap: float,
                  lap: float, wp: WindowParams, prior: float) -> float:
    """Laps ahead of the in-lap that repeats the car's last full green stint of this race,
    when this race's cars of the class have been repeating theirs (mean |Δ| ≤
    ``wp.repeat_mae`` over ≥ ``wp.repeat_min_pairs`` stints known by ``t``); else NaN.

    This race's evidence then wins over the pooled window: at Le Mans the cars run a fixed
    number of laps per stint whatever the slow zones and safety cars did to their fuel
    (2019: LMP1 11 laps stint after stint with 0–8 neutralised laps), so counting neutralised
    laps at a fraction, or pooling with the class and past years, only blurs it.
    """
    car = race.repeat_car.get(number)
    if car is None or wp.repeat_min_pairs <= 0:
        return np.nan
    rc = race.repeat_class.get(ck)
    k = int(np.searchsorted(rc["known_s"], t, side="right")) if rc is not None else 0
    total = float(rc["cum_err"][k - 1]) if k else 0.0
    if np.isfinite(prior):      # past races at the track count as repeat_min_pairs stints
        k, total = k + wp.repeat_min_pairs, total + wp.repeat_min_pairs * prior
    if k < wp.repeat_min_pairs or total / k > wp.repeat_mae:
        return np.nan
    m = int(np.searchsorted(car[0], t, side="right"))
    if not m:
        return np.nan
    ahead = first_lap + car[1][m - 1] - 1.0 - lap
    return float(ahead) if ahead >= 1.0 else np.nan


RETIRE_AFTER_LAPS = 3.0     # no crossing for this many laps: stopped (as race.analysis.standings)
PIT_RETIRE_S = 3600.0


def field_from_rows(laps: pd.DataFrame, pred: pd.DataFrame, rows: np.ndarray, t_s: float,
                    crossings: dict[object, np.ndarray]) -> ClassField:
    """The ``ClassField`` of the cars whose latest rows (at ``t_s``) are ``rows``.

    Args:
        laps: ``PreparedRace.laps``.
        pred: ``predict_rows`` output aligned with ``laps`` rows (same positions).
        rows: positional row of each car's latest lap at ``t_s``.
        crossings: per car number, its crossing times of laps 1..n (s).
    """
    number = laps["number"].to_numpy()[rows]
    last_s = laps["elapsed_s"].to_numpy(dtype=float)[rows]
    pace = laps["pace_s"].to_numpy(dtype=float)[rows]
    in_lap = laps["in_lap"].to_numpy(dtype=bool)[rows]
    cost = pred["stop_cost_s"].to_numpy(dtype=float)[rows]
    since = t_s - last_s
    limit = np.where(in_lap, PIT_RETIRE_S,
                     RETIRE_AFTER_LAPS * np.where(np.isfinite(pace), pace, 600.0))
    pending = np.where(in_lap & np.isfinite(cost), cost * (1 - IN_LAP_SHARE), 0.0)
    return ClassField(
        number=number, laps=laps["lap_number"].to_numpy()[rows].astype(np.int64),
        last_s=last_s, pace_s=pace,
        stop_lap=pred["pit_expected_lap"].to_numpy(dtype=float)[rows],
        earliest_lap=pred["pit_earliest_lap"].to_numpy(dtype=float)[rows],
        latest_lap=pred["pit_latest_lap"].to_numpy(dtype=float)[rows],
        cost_s=cost, pending_s=pending, running=since <= limit,
        crossings=[crossings[n] for n in number])


def car_crossings(laps: pd.DataFrame) -> dict[object, np.ndarray]:
    """Per car, the race times of its crossings in lap order (s)."""
    return {n: g["elapsed_s"].to_numpy(dtype=float)
            for n, g in laps.groupby("number", sort=False)}


def replay(race: PreparedRace, history: History, params: EngineParams | None = None, *,
           draws: int = 100, seed: int = 0) -> pd.DataFrame:
    """Replay a race as if live: one row per car per completed lap.

    Each row is what the engine says at the end of that lap, from the crossings of all cars
    up to that instant: the next stop's window and cost, and the class position 2 laps after
    the out-lap of that stop (``class_position_after_stop``).
    """
    laps = race.laps
    pred = predict_rows(race, history, np.arange(len(laps)), params)
    rng = np.random.default_rng(seed)
    crossings = car_crossings(laps)
    order = np.argsort(laps["elapsed_s"].to_numpy(), kind="stable")
    ck = laps["class_key"].to_numpy()
    number = laps["number"].to_numpy()
    expected = pred["pit_expected_lap"].to_numpy(dtype=float)
    t_all = laps["elapsed_s"].to_numpy(dtype=float)
    latest_row: dict[str, dict[object, int]] = {}
    position = np.full(len(laps), np.nan)
    for i in order:
        cars = latest_row.setdefault(ck[i], {})
        cars[number[i]] = i
        if not np.isfinite(expected[i]):
            continue
        rows = np.fromiter(cars.values(), dtype=np.int64)
        class_field = field_from_rows(laps, pred, rows, t_all[i], crossings)
        me = int(np.flatnonzero(rows == i)[0])
        proj = project_after_stop(class_field, me, int(expected[i]), draws=draws, rng=rng)
        position[i] = proj.position
    pred["class_position_after_stop"] = np.floor(position + 0.5)
    return pred
