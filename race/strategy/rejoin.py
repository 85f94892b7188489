"""Rejoin projection ("ghost"): where a car would be in its class after a pit stop.

Every class car's crossing of a target lap L is projected from its last crossing, its pace
and its own next stop: ``T(L) = last crossing + (L − laps) × pace + stop cost`` when its stop
falls before L. A car is ahead at lap L when it crosses lap L first (DATA.md §2 order: more
laps, then the earlier crossing). Monte Carlo draws the rivals' stop laps inside their
windows and lap-time noise; the projected class position is the median over draws, and
P(ahead of rival X) the share of draws where the car crosses L before X.

Pace comes from ``race.strategy.pace`` (EWMA of clean laps). A lap-time predictor can
replace the ``pace_s`` input car by car; nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IN_LAP_SHARE = 0.11     # share of a stop's cost carried by the in-lap (measured, median)
LAP_NOISE = 0.012       # lap-time noise per lap as a fraction of pace (≈ 1 s on 90 s laps)
PACE_NOISE = 0.004      # systematic pace error over the horizon, fraction of pace
COST_NOISE_S = 5.0      # stop cost noise (s), the measured median error of the cost model
STOP_AT_EXPECTED = 0.5  # share of draws where a rival stops exactly at its expected lap


@dataclass
class ClassField:
    """The cars of one class as known at race time ``t_s`` (one entry per car).

    Attributes:
        number: car numbers.
        laps: laps completed.
        last_s: race time of the last crossing (s).
        pace_s: expected green lap time (s).
        stop_lap, earliest_lap, latest_lap: the next stop's in-lap window (NaN = none known).
        cost_s: expected cost of that stop (s).
        pending_s: time still to lose on the next lap for a car whose last lap was an in-lap.
        running: False for cars that stopped (retired); they never reach a later lap.
        crossings: per car, race times of its crossings of laps 1..laps (s).
    """

    number: np.ndarray
    laps: np.ndarray
    last_s: np.ndarray
    pace_s: np.ndarray
    stop_lap: np.ndarray
    earliest_lap: np.ndarray
    latest_lap: np.ndarray
    cost_s: np.ndarray
    pending_s: np.ndarray
    running: np.ndarray
    crossings: list[np.ndarray]


@dataclass
class Projection:
    """A car's projected class position at a target lap and its duel with each rival."""

    target_lap: int
    position: float            # median over draws
    position_mean: float
    p_ahead: np.ndarray        # per car of the field (self = NaN)
    gap_s: np.ndarray          # rival's projected crossing − the car's (s); >0 = behind


def _crossing_times(field: ClassField, target_lap: int, stop_laps: np.ndarray,
                    noise: np.ndarray | None) -> np.ndarray:
    """Projected crossing time of ``target_lap`` per car (rows) and draw (columns)."""
    n = len(field.number)
    draws = stop_laps.shape[1]
    ahead = target_lap - field.laps
    out = np.full((n, draws), np.inf)
    for i in range(n):
        if ahead[i] <= 0:
            out[i] = field.crossings[i][target_lap - 1]
    go = (ahead > 0) & field.running & np.isfinite(field.pace_s)
    base = (field.last_s + ahead * field.pace_s + field.pending_s)[go][:, None]
    stops = stop_laps[go] < target_lap
    cost = np.where(np.isfinite(field.cost_s[go]), field.cost_s[go], 0.0)[:, None]
    total = base + stops * cost
    if noise is not None:
        total = total + noise[go]
    out[go] = np.broadcast_to(total, (int(go.sum()), draws))
    return out


def project_after_stop(field: ClassField, car: int, stop_lap: int, *, laps_after: int = 3,
                       draws: int = 200, rng: np.random.Generator | None = None,
                       ) -> Projection:
    """Class position of ``car`` when it completes lap ``stop_lap + laps_after``.

    ``laps_after = 3`` is the 2nd lap after the out-lap (the backtest's definition);
    ``laps_after = 1`` is the out-lap, where the car rejoins.

    Args:
        field: the class as known now.
        car: index of the car in ``field``.
        stop_lap: the car's in-lap.
        draws: Monte Carlo draws (1 = deterministic: every rival at its expected stop).
    """
    rng = rng or np.random.default_rng(0)
    target = int(stop_lap + laps_after)
    n = len(field.number)
    expected = np.where(np.isfinite(field.stop_lap), field.stop_lap, np.inf)
    if draws <= 1:
        stop_laps = expected[:, None]
        noise = None
    else:
        lo = np.where(np.isfinite(field.earliest_lap), field.earliest_lap, expected)
        hi = np.where(np.isfinite(field.latest_lap), field.latest_lap, expected)
        with np.errstate(invalid="ignore"):   # no stop known (inf): drawn as "never"
            width = np.maximum(hi - lo, 0.0)
            uniform = np.floor(lo[:, None] + rng.random((n, draws)) * (width[:, None] + 1))
        at_expected = rng.random((n, draws)) < STOP_AT_EXPECTED
        stop_laps = np.where(at_expected | ~np.isfinite(uniform), expected[:, None], uniform)
        horizon = np.maximum(target - field.laps, 0).astype(float)
        pace = np.where(np.isfinite(field.pace_s), field.pace_s, 0.0)
        noise = (rng.standard_normal((n, draws)) * (LAP_NOISE * pace * np.sqrt(horizon))[:, None]
                 + rng.standard_normal((n, draws)) * (PACE_NOISE * pace * horizon)[:, None]
                 + rng.standard_normal((n, draws)) * COST_NOISE_S)
    stop_laps = stop_laps.copy()
    stop_laps[car] = stop_lap
    times = _crossing_times(field, target, stop_laps, noise)
    mine = times[car]
    others = np.ones(n, dtype=bool)
    others[car] = False
    ahead = times[others] < mine[None, :]
    positions = 1 + ahead.sum(axis=0)
    p_ahead = np.full(n, np.nan)
    p_ahead[others] = 1.0 - ahead.mean(axis=1)   # P(car ahead of that rival)
    gap = np.full(n, np.nan)
    with np.errstate(invalid="ignore"):   # a stopped car against a stopped car: no gap
        gap[others] = np.median(times[others] - mine[None, :], axis=1)
    return Projection(target, float(np.median(positions)), float(positions.mean()), p_ahead,
                      gap)
