"""Incident detector: single-car problems (slow lap, spin/off, damage run, slow stop).

Raw lap times mostly find full-course yellows, not incidents (ML.md §2). The detector works
on class-relative residuals instead, computed causally at the end of each lap:

- class at that moment: the median lap (and sector) time of the car's class over the racing
  laps completed in the last 5 minutes; ratio = lap / class median.
- own recent relative pace: the median of the ratios of the car's previous 8 racing laps.
- loss vs class = (ratio − own recent ratio − what the field's last 12 crossings lost the
  same way) × class median (s), per lap and per sector. The field term removes slow zones and
  local yellows (every car passing there loses); the sector form is sharper (the other
  sectors' noise stays out) and is the rule's score when sectors exist, the lap form
  otherwise.

A lap is an incident when its score reaches a threshold calibrated on training races to a
target share of green laps (``alert_rate``), held per race: the threshold is multiplied by the
class's recent scatter in this race (robust σ of the scores of its last 200 racing laps
already completed) over the training races' median scatter, clipped to 1.0–1.4 and never
above 4.5 s, so a race whose green laps scatter more (track, season, weather) raises no more
alerts and still shows a one-lap loss of a few seconds. The car's own recent pace counts
its racing laps only: after a long caution the first green laps compare with the pace
before it. Laps overlapping a neutralisation period are
never incidents: a score over the threshold there is labelled ``neutralised``. In- and out-laps
are left to the pit-stop check: a stop whose PIT_TIME is well above the class median of the
green stops so far is a ``slow stop``. An Isolation Forest on the context features (not on raw
times) is fitted too; its score can be fused into the rule's (``iso_weight``) — on real races
with injected losses it ranked incidents worse than the rule, so the default weight is 0 and
its score is reported beside each alert.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

CLASS_WINDOW_S = 300
FIELD_CROSSINGS = 12
SCATTER_LAPS = 200       # the class's racing laps its recent scatter is measured over
SCATTER_MIN_LAPS = 30
OWN_LAPS = 8
SECTORS = ("s1_s", "s2_s", "s3_s")
ISO_FEATURES = ["rel_lap", "rel_sector", "laps_since_restart", "near_cars", "pass_other",
                "trend_class"]
ALERT_COLUMNS = ["number", "class", "lap_number", "elapsed_s", "kind", "score", "reason",
                 "iso_score"]


def _class_rolling_median(values: np.ndarray, cls: np.ndarray, t: pd.DatetimeIndex,
                          window_s: int) -> np.ndarray:
    """Median of each class's values over the trailing time window (rows in time order)."""
    out = np.full(len(values), np.nan)
    for c in pd.unique(cls):
        sel = cls == c
        out[sel] = pd.Series(values[sel], index=t[sel]).rolling(
            f"{window_s}s", min_periods=1).median().to_numpy()
    return out


def _own_recent(values: np.ndarray, number: np.ndarray, own_laps: int) -> np.ndarray:
    """Per row: the median of the car's last ``own_laps`` finite values strictly before it.

    Rows must be grouped by car in lap order. Only the car's racing laps carry a value, so
    pit and neutralised laps neither count nor push the earlier laps out of the window: after
    a long caution the first green laps are compared with the pace before it (a window of
    rows would hold caution laps only and leave them unscored).
    """
    out = np.full(len(values), np.nan)
    ok = np.isfinite(values)
    if not ok.any():
        return out
    idx = np.flatnonzero(ok)
    upto = (pd.Series(values[idx]).groupby(number[idx]).rolling(own_laps, min_periods=2)
            .median().reset_index(level=0, drop=True).sort_index().to_numpy())
    carried = pd.Series(np.nan, index=np.arange(len(values)))
    carried.iloc[idx] = upto
    # the value known before row i is the one after the car's last valued row before i
    before = carried.groupby(number).shift().groupby(number).ffill()
    return before.to_numpy()


def context_features(feats: pd.DataFrame, window_s: int = CLASS_WINDOW_S,
                     own_laps: int = OWN_LAPS) -> pd.DataFrame:
    """Per-lap context of ``race.models.features.causal_features`` output, causal, in its row order.

    Adds ``class_median_s``, ``loss_lap_s`` (lap loss vs class at that moment, against the
    car's own recent relative pace), ``loss_sector_s`` and ``sector`` (the worst sector),
    ``own_sector_loss_s`` (that sector vs the car's own recent sector times), ``rel_lap``,
    ``rel_sector`` (losses / class median), ``racing`` (lap that may hold an incident) and
    ``score_s`` (the rule's score: the sector loss, else the lap loss).
    """
    f = feats
    order = np.lexsort((f["lap_number"].to_numpy(), f["number"].to_numpy().astype(str),
                        f["elapsed_s"].to_numpy(dtype=float)))
    t = pd.to_datetime(f["elapsed_s"].to_numpy(dtype=float)[order] * 1e9, unit="ns")
    cls = f["class"].astype(str).to_numpy()[order]
    racing = ((f["lap_number"] > 1) & ~f["in_lap"] & ~f["out_lap"] & ~f["neutralised_c"]
              & ~f["restart_c"] & f["lap_time_s"].notna()).to_numpy()
    usable = (f["lap_number"] > 1) & ~f["in_lap"] & ~f["out_lap"]  # neutral laps get scored
    number = f["number"].to_numpy()
    out = pd.DataFrame(index=f.index)
    losses, fields = {}, {}
    for col in ("lap_time_s", *SECTORS):
        vals = f[col].to_numpy(dtype=float)
        med = np.full(len(f), np.nan)
        med[order] = _class_rolling_median(np.where(racing, vals, np.nan)[order], cls, t,
                                           window_s)
        ratio = pd.Series(np.where(usable, vals / med, np.nan), index=f.index)
        own_ratio = _own_recent(ratio.where(racing).to_numpy(), number, own_laps)
        dev = (ratio - own_ratio).to_numpy()
        # What the last crossings of the whole field lost in the same place: slow zones and
        # local yellows cost every car passing there, which is not a single-car incident.
        field = np.full(len(f), np.nan)
        field[order] = (pd.Series(np.where(racing, dev, np.nan)[order])
                        .rolling(FIELD_CROSSINGS, min_periods=5).median().to_numpy())
        fields[col] = np.clip(np.nan_to_num(field), 0.0, None) * med
        losses[col] = dev * med - fields[col]
        if col == "lap_time_s":
            out["class_median_s"] = med
        else:
            own_s = _own_recent(np.where(racing, vals, np.nan), number, own_laps)
            out[f"own_{col}"] = vals - own_s
    sec = np.vstack([losses[c] for c in SECTORS])
    has_sec = np.isfinite(sec).any(axis=0)
    worst = np.argmax(np.where(np.isfinite(sec), sec, -np.inf), axis=0)
    out["loss_lap_s"] = losses["lap_time_s"]
    out["loss_sector_s"] = np.where(has_sec, sec[worst, np.arange(len(f))], np.nan)
    out["sector"] = np.where(has_sec, worst + 1, 0)
    field_sec = np.vstack([fields[c] for c in SECTORS])
    out["field_sector_s"] = np.where(has_sec, field_sec[worst, np.arange(len(f))],
                                     fields["lap_time_s"])
    own = np.vstack([out[f"own_{c}"].to_numpy() for c in SECTORS])
    out["own_sector_loss_s"] = np.where(has_sec, own[worst, np.arange(len(f))], np.nan)
    out = out.drop(columns=[f"own_{c}" for c in SECTORS])
    out["rel_lap"] = out["loss_lap_s"] / out["class_median_s"]
    out["rel_sector"] = out["loss_sector_s"] / out["class_median_s"]
    out["racing"] = racing
    out["scored"] = usable.to_numpy() & f["lap_time_s"].notna().to_numpy()
    out["score_s"] = out["loss_sector_s"].where(np.isfinite(out["loss_sector_s"]),
                                                out["loss_lap_s"])
    out["scatter_s"] = _class_scatter(out["score_s"].to_numpy(dtype=float), racing,
                                      f["class"].astype(str).to_numpy(), order)
    for col in ("laps_since_restart", "near_cars", "pass_other", "trend_class"):
        out[col] = f[col].to_numpy()
    return out


def _class_scatter(score: np.ndarray, racing: np.ndarray, cls: np.ndarray,
                   order: np.ndarray) -> np.ndarray:
    """Per row: robust σ (IQR / 1.349) of the class's scores over its last ``SCATTER_LAPS``
    racing laps completed before this one in the race (NaN until ``SCATTER_MIN_LAPS``).

    Causal (only laps already crossed count) and robust: an incident is one lap in dozens
    and leaves the interquartile range where it was.
    """
    out = np.full(len(score), np.nan)
    cls_t = cls[order]
    vals_t = np.where(racing, score, np.nan)[order]
    for c in pd.unique(cls_t):
        pos = np.flatnonzero(cls_t == c)
        v = pd.Series(vals_t[pos]).dropna()
        if v.empty:
            continue
        roll = v.rolling(SCATTER_LAPS, min_periods=SCATTER_MIN_LAPS)
        upto = (roll.quantile(0.75) - roll.quantile(0.25)) / 1.349
        placed = pd.Series(np.nan, index=np.arange(len(pos)))
        placed.iloc[v.index.to_numpy()] = upto.to_numpy()
        carried = placed.shift().ffill()  # the last value known before each row
        out[order[pos]] = carried.to_numpy()
    return out


class IncidentDetector(BaseEstimator):
    """Class-relative residual rule (+ optional Isolation Forest) calibrated on training races.

    Args:
        alert_rate: share of training green laps the lap threshold lets through.
        min_threshold_s: the lap threshold is never below this (s).
        spin_s: a loss at least this big, mostly in one sector, is a ``spin/off`` (s).
        damage_s: each lap of a ``damage run`` loses at least this much (s) …
        damage_laps: … for this many racing laps in a row.
        stop_excess_s: a stop is slow when PIT_TIME exceeds the class median of green stops
            so far by this much (s) and by ``stop_excess_ratio`` of it.
        iso_weight: weight of the Isolation Forest score fused into the rule's score.
        random_state: seed of the Isolation Forest.
        scale_range: the threshold follows the class's recent scatter in this race
            (``scatter_s`` / the training races' median), clipped to this range.
        max_threshold_s: a scaled threshold never exceeds this (s), so a race that scatters
            more does not hide a one-lap loss of a few seconds.
    """

    def __init__(self, alert_rate: float = 0.007, min_threshold_s: float = 3.5,
                 spin_s: float = 12.0, damage_s: float = 2.5, damage_laps: int = 3,
                 stop_excess_s: float = 30.0, stop_excess_ratio: float = 0.4,
                 iso_weight: float = 0.0, random_state: int = 0,
                 scale_range: tuple[float, float] = (1.0, 1.4),
                 max_threshold_s: float = 4.5) -> None:
        self.alert_rate = alert_rate
        self.min_threshold_s = min_threshold_s
        self.scale_range = scale_range
        self.max_threshold_s = max_threshold_s
        self.spin_s = spin_s
        self.damage_s = damage_s
        self.damage_laps = damage_laps
        self.stop_excess_s = stop_excess_s
        self.stop_excess_ratio = stop_excess_ratio
        self.iso_weight = iso_weight
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: None = None) -> IncidentDetector:
        """Calibrate on ``context_features`` rows of training races (``green`` column added).

        Args:
            X: context rows with a boolean ``green`` column (lap not neutralised, not lap 1).
        """
        with threadpool_limits(limits=1):
            racing = X[X["racing"]]
            sample = racing[ISO_FEATURES].fillna(0.0)
            if len(sample) > 50_000:
                sample = sample.sample(50_000, random_state=self.random_state)
            self.iso_ = IsolationForest(n_estimators=100, max_samples=512,
                                        random_state=self.random_state).fit(sample)
            score = self._fused(racing)
        scatter = racing["scatter_s"].to_numpy(dtype=float)
        self.scatter_ref_s_ = (float(np.nanmedian(scatter)) if np.isfinite(scatter).any()
                               else float("nan"))
        # Calibrated on the scores as the detector sees them: divided by the lap's scale.
        score = score / self._scale(racing)
        green = int(X["green"].sum())
        values = np.sort(score[np.isfinite(score)])[::-1]
        k = int(self.alert_rate * green)
        threshold = values[k] if k < len(values) else self.min_threshold_s
        self.threshold_s_ = float(max(threshold, self.min_threshold_s))
        self.n_features_in_ = len(ISO_FEATURES)
        return self

    @classmethod
    def untrained(cls, threshold_s: float = 4.0, **params: object) -> IncidentDetector:
        """A detector usable before any training: the rule alone at ``threshold_s``."""
        detector = cls(**params)
        detector.threshold_s_ = threshold_s
        detector.scatter_ref_s_ = float("nan")
        detector.iso_ = None
        detector.n_features_in_ = len(ISO_FEATURES)
        return detector

    def _iso(self, ctx: pd.DataFrame) -> np.ndarray:
        if self.iso_ is None:
            return np.full(len(ctx), np.nan)
        return -self.iso_.score_samples(ctx[ISO_FEATURES].fillna(0.0))

    def _fused(self, ctx: pd.DataFrame) -> np.ndarray:
        score = ctx["score_s"].to_numpy(dtype=float)
        if self.iso_weight and self.iso_ is not None:
            score = score + self.iso_weight * np.clip(self._iso(ctx) - 0.5, 0.0, None)
        return score

    def _scale(self, ctx: pd.DataFrame) -> np.ndarray:
        """Per lap: the class's recent scatter in this race vs the training races' (1 when
        either is unknown), clipped to ``scale_range``."""
        ref = getattr(self, "scatter_ref_s_", float("nan"))
        if not np.isfinite(ref) or ref <= 0 or "scatter_s" not in ctx:
            return np.ones(len(ctx))
        ratio = ctx["scatter_s"].to_numpy(dtype=float) / ref
        return np.clip(np.where(np.isfinite(ratio), ratio, 1.0), *self.scale_range)

    def thresholds_s(self, feats: pd.DataFrame, ctx: pd.DataFrame) -> np.ndarray:
        """The incident threshold of each lap (s), in the rows' order.

        The calibrated threshold times the lap's scale (the class's recent scatter in this
        race vs training, causal), never above ``max_threshold_s`` unless the calibrated
        threshold itself is.
        """
        scaled = self.threshold_s_ * self._scale(ctx)
        return np.minimum(scaled, max(self.max_threshold_s, self.threshold_s_))

    def detect(self, feats: pd.DataFrame, ctx: pd.DataFrame | None = None) -> pd.DataFrame:
        """Alerts of one race, each known at the end of its lap (``ALERT_COLUMNS``).

        Args:
            feats: ``race.models.features.causal_features`` of the race.
            ctx: its ``context_features`` when already computed.
        """
        check_is_fitted(self, "threshold_s_")
        ctx = context_features(feats) if ctx is None else ctx
        with threadpool_limits(limits=1):
            iso = self._iso(ctx)
            score = self._fused(ctx)
        f = feats
        over = ctx["scored"].to_numpy() & (score >= self.thresholds_s(feats, ctx))
        neutral = f["neutralised_c"].to_numpy()
        restart = f["restart_c"].to_numpy()
        rows = []
        for i in np.flatnonzero(over & ~restart):
            if neutral[i]:
                kind, reason = "neutralised", "lap overlaps a neutralisation period"
            else:
                kind = self._lap_kind(ctx, i)
                reason = self._reason(f, ctx, i)
            rows.append(self._row(f, i, kind, score[i], reason, iso[i]))
        rows.extend(self._damage_runs(f, ctx, iso))
        rows.extend(self._slow_stops(f))
        alerts = pd.DataFrame(rows, columns=ALERT_COLUMNS)
        return alerts.sort_values(["elapsed_s", "number"], kind="stable").reset_index(drop=True)

    def _lap_kind(self, ctx: pd.DataFrame, i: int) -> str:
        lap_loss = ctx["loss_lap_s"].iat[i]
        sector_loss = ctx["loss_sector_s"].iat[i]
        if (np.isfinite(lap_loss) and lap_loss >= self.spin_s and np.isfinite(sector_loss)
                and sector_loss >= 0.7 * lap_loss):
            return "spin/off"
        return "slow lap"

    @staticmethod
    def _flag_text(f: pd.DataFrame, i: int) -> str:
        flag = f["flag"].iat[i]
        if flag is None or (isinstance(flag, float) and np.isnan(flag)):
            return "no flag data"
        return "green flag" if flag in ("GF", "FF") else f"{flag} at the line"

    def _reason(self, f: pd.DataFrame, ctx: pd.DataFrame, i: int) -> str:
        parts = []
        sector = int(ctx["sector"].iat[i])
        own = ctx["own_sector_loss_s"].iat[i]
        if sector and np.isfinite(own):
            parts.append(f"S{sector} {own:+.1f} s vs own pace")
        lap = ctx["loss_lap_s"].iat[i]
        if np.isfinite(lap):
            parts.append(f"{lap:+.1f} s vs class at that moment")
        parts.append(self._flag_text(f, i))
        return ", ".join(parts)

    @staticmethod
    def _row(f: pd.DataFrame, i: int, kind: str, score: float, reason: str,
             iso: float) -> dict:
        return {"number": f["number"].iat[i], "class": f["class"].iat[i],
                "lap_number": int(f["lap_number"].iat[i]),
                "elapsed_s": float(f["elapsed_s"].iat[i]), "kind": kind,
                "score": round(float(score), 3), "reason": reason,
                "iso_score": round(float(iso), 4)}

    def _damage_runs(self, f: pd.DataFrame, ctx: pd.DataFrame, iso: np.ndarray) -> list[dict]:
        """``damage_laps`` racing laps in a row each ≥ ``damage_s`` down vs class: one alert."""
        loss = ctx["loss_lap_s"].to_numpy(dtype=float)
        racing = ctx["racing"].to_numpy()
        number = f["number"].to_numpy()
        rows, run, car = [], 0, None
        for i in range(len(f)):
            if number[i] != car:
                car, run = number[i], 0
            if not racing[i]:
                continue  # pit and neutral laps neither extend nor break a run
            run = run + 1 if loss[i] >= self.damage_s else 0
            if run == self.damage_laps:
                window = loss[i - self.damage_laps + 1:i + 1]
                rows.append(self._row(
                    f, i, "damage run", float(np.nanmean(window)),
                    f"{self.damage_laps} laps in a row {np.nanmin(window):+.1f} s or worse vs "
                    f"class at that moment (mean {np.nanmean(window):+.1f} s), "
                    f"{self._flag_text(f, i)}", iso[i]))
        return rows

    def _slow_stops(self, f: pd.DataFrame) -> list[dict]:
        """Green stops whose PIT_TIME is well above the class median of green stops so far."""
        number = f["number"].to_numpy()
        first = np.r_[True, number[1:] != number[:-1]]
        stop = f["pit_time_s"].notna().to_numpy() & ~first
        prev_in_neutral = np.r_[False, f["neutralised_c"].to_numpy()[:-1]]
        green = stop & ~f["neutralised_c"].to_numpy() & ~prev_in_neutral
        idx = np.flatnonzero(green)
        if not len(idx):
            return []
        stops = f.iloc[idx][["class", "elapsed_s", "pit_time_s"]].assign(row=idx)
        stops = stops.sort_values("elapsed_s", kind="stable")
        rows = []
        for _, grp in stops.groupby("class", sort=False):
            times = grp["pit_time_s"].to_numpy(dtype=float)
            for j, i in enumerate(grp["row"].to_numpy()):
                if j < 3:
                    continue  # too few earlier stops for a class median
                med = float(np.median(times[:j]))
                excess = times[j] - med
                if excess >= max(self.stop_excess_s, self.stop_excess_ratio * med):
                    rows.append(self._row(
                        f, int(i), "slow stop", excess,
                        f"pit stop {times[j]:.1f} s vs class median {med:.1f} s "
                        f"({excess:+.1f} s)", float("nan")))
        return rows


def race_context(feats: pd.DataFrame) -> pd.DataFrame:
    """``context_features`` plus the ``green`` column ``IncidentDetector.fit`` counts."""
    ctx = context_features(feats)
    ctx["green"] = ((feats["lap_number"] > 1) & ~feats["neutralised"]).to_numpy()
    return ctx


def fit_detector(feature_frames: list[pd.DataFrame], **params: object) -> IncidentDetector:
    """Fit an ``IncidentDetector`` on several races' ``causal_features`` frames."""
    ctx = pd.concat([race_context(f) for f in feature_frames], ignore_index=True)
    return IncidentDetector(**params).fit(ctx)
