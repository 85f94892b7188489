"""Next-lap predictor: the residual from the car's EWMA, with 80 % intervals recalibrated online.

At the end of lap n of a car (only crossings up to that instant exist) the model predicts lap
n+1 as ``base × (1 + r̂)``: ``base`` is the car's EWMA of clean stint laps (ML.md §1) and r̂ a
gradient-boosted tree's median of the relative residual given causal features
(``race.models.features``): multi-class traffic, recent laps and sectors vs the EWMA, class and
field trend, stint and restart state. Trees cannot extrapolate, so they only predict the residual,
and only where ML.md's S_clean situation holds at prediction time (origin lap clean, ≥ 5 laps
in the EWMA); elsewhere the prediction is the EWMA itself (or the car's last pace).

Intervals: split-conformal on relative residuals, recalibrated online per class (rolling
window of the residuals of laps already completed) with adaptive conformal inference (the
miscoverage level is nudged after each outcome) so coverage holds through rain and night.
Per class, the model is shown only while it beats the EWMA on the race's completed clean
laps so far (after 40 of them); otherwise the EWMA is the prediction.
"""

from __future__ import annotations

import bisect
import logging
from collections import deque

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from race.models.features import FEATURES, MIN_EWMA_LAPS, add_targets, causal_features

log = logging.getLogger(__name__)

LEVEL = 0.8              # nominal interval coverage
MAX_TRAIN_REL = 0.5      # drop training targets over +50 % (red flags, stoppages)
SELECT_AFTER = 40        # clean laps of a class before the model can be switched off
FIELD_CRAWL = 0.5        # field's recent laps this far over their pace: unflagged neutral
PREDICTION_COLUMNS = ["number", "class", "lap_number", "made_at_s", "predicted_s", "lower80_s",
                      "upper80_s", "ewma_s", "last_s", "next5_s", "actual_s", "next5_actual_s",
                      "s_clean", "s_green", "model_used"]


def _regressor(params: dict) -> Pipeline:
    select = ColumnTransformer([("features", "passthrough", FEATURES)], remainder="drop",
                               verbose_feature_names_out=False)
    return Pipeline([("select", select),
                     ("trees", HistGradientBoostingRegressor(loss="absolute_error", **params))])


class NextLapModel(BaseEstimator, RegressorMixin):
    """Median of the relative residual from the EWMA for the next lap and the next 5 laps.

    Args:
        max_iter, learning_rate, max_leaf_nodes, min_samples_leaf: passed to
            ``HistGradientBoostingRegressor`` (absolute-error loss: MAE is the score).
        random_state: seed.
    """

    def __init__(self, max_iter: int = 300, learning_rate: float = 0.08,
                 max_leaf_nodes: int = 31, min_samples_leaf: int = 100,
                 random_state: int = 0) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def _params(self) -> dict:
        return {"max_iter": self.max_iter, "learning_rate": self.learning_rate,
                "max_leaf_nodes": self.max_leaf_nodes,
                "min_samples_leaf": self.min_samples_leaf, "random_state": self.random_state}

    def fit(self, X: pd.DataFrame, y: pd.Series, y_next5: pd.Series | None = None,
            ) -> NextLapModel:
        """Fit on S_clean rows.

        Args:
            X: feature frame (columns of ``race.models.features.FEATURES``).
            y: next lap / base − 1.
            y_next5: mean of the next 5 clean laps / base − 1 (NaN where fewer remain).
        """
        with threadpool_limits(limits=1):  # OpenMP threads crawl on a shared 2-core box
            self._fit(X, y, y_next5)
        return self

    def _fit(self, X: pd.DataFrame, y: pd.Series, y_next5: pd.Series | None) -> None:
        self.point_ = _regressor(self._params()).fit(X, y)
        residual = np.asarray(y) - self.point_.predict(X)
        # Prior interval quantiles until a race has residuals of its own.
        self.prior_quantiles_ = np.quantile(residual, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        self.next5_ = None
        if y_next5 is not None:
            ok = np.isfinite(np.asarray(y_next5, dtype=float))
            if ok.sum() >= 200:
                self.next5_ = _regressor({**self._params(), "max_iter": 150}).fit(
                    X[ok], np.asarray(y_next5, dtype=float)[ok])
        self.n_features_in_ = len(FEATURES)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Relative residual of the next lap (median)."""
        check_is_fitted(self, "point_")
        with threadpool_limits(limits=1):
            return self.point_.predict(X)

    def predict_next5(self, X: pd.DataFrame) -> np.ndarray:
        """Relative residual of the mean of the next 5 green laps (0 without that model)."""
        check_is_fitted(self, "point_")
        if self.next5_ is None:
            return np.zeros(len(X))
        with threadpool_limits(limits=1):
            return self.next5_.predict(X)


def training_rows(features: pd.DataFrame) -> pd.DataFrame:
    """S_clean rows usable for training (targets known, no stoppage-sized outliers)."""
    ok = (features["s_clean"] & features["target_rel"].abs().lt(MAX_TRAIN_REL)
          & features["base_s"].notna())
    return features.loc[ok]


def race_features(laps: pd.DataFrame) -> pd.DataFrame:
    """Causal features and scoring targets of one race (``race.models.features``)."""
    return add_targets(causal_features(laps))


def fit_model(feature_frames: list[pd.DataFrame], **params: object) -> NextLapModel:
    """Fit a ``NextLapModel`` on the S_clean rows of several races' feature frames."""
    rows = pd.concat([training_rows(f) for f in feature_frames], ignore_index=True)
    if len(rows) < 200:
        from race.errors import RaceDataError
        raise RaceDataError(f"only {len(rows)} clean laps to train on: give more races")
    return NextLapModel(**params).fit(rows[FEATURES], rows["target_rel"], rows["next5_rel"])


class _Pool:
    """Recent relative residuals of one (class, regime), kept in arrival and sorted order,
    and its adaptive miscoverage level."""

    def __init__(self, window: int) -> None:
        self.fifo: deque[float] = deque()
        self.sorted: list[float] = []
        self.window = window
        self.alpha = 1.0 - LEVEL

    def __len__(self) -> int:
        return len(self.fifo)

    def add(self, value: float) -> None:
        self.fifo.append(value)
        bisect.insort(self.sorted, value)
        if len(self.fifo) > self.window:
            old = self.fifo.popleft()
            del self.sorted[bisect.bisect_left(self.sorted, old)]

    def quantile(self, q: float) -> float:
        """Linear-interpolated quantile, as ``numpy.quantile``."""
        pos = q * (len(self.sorted) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(self.sorted) - 1)
        return self.sorted[lo] + (self.sorted[hi] - self.sorted[lo]) * (pos - lo)


class OnlineIntervals:
    """Rolling per-class residual quantiles with adaptive conformal inference (ACI).

    Args:
        prior: (low, high) relative residual quantiles used until a pool has residuals.
        window: residuals kept per pool (most recent laps).
        min_pool: residuals needed before a class pool is used (else the all-class pool).
        gamma: ACI step: after each outcome α ← α + γ (0.2 − miss).
    """

    def __init__(self, prior: tuple[float, float], window: int = 150, min_pool: int = 30,
                 gamma: float = 0.01) -> None:
        self.prior = prior
        self.window = window
        self.min_pool = min_pool
        self.gamma = gamma
        self.pools: dict[tuple[str, str], _Pool] = {}

    def _pool(self, key: tuple[str, str]) -> _Pool:
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = _Pool(self.window)
        return pool

    def interval(self, cls: str, regime: str) -> tuple[float, float, float]:
        """Relative (low, median, high) residual quantiles for a new prediction.

        The median is where the point prediction goes: the raw prediction's residuals are
        often one-sided (an EWMA of the fastest clean laps is beaten by few laps), and a
        point at the edge of its own interval is not a median. Until a pool has
        ``min_pool`` residuals the prior is used, which contains 0: the point stays as is.
        """
        pool = self._pool((cls, regime))
        source = pool if len(pool) >= self.min_pool else self._pool(("*", regime))
        alpha = min(max(pool.alpha, 0.02), 0.6)
        if len(source) < self.min_pool:
            scale = (1.0 - alpha) / LEVEL
            return min(self.prior[0] * scale, 0.0), 0.0, max(self.prior[1] * scale, 0.0)
        return (source.quantile(alpha / 2.0), source.quantile(0.5),
                source.quantile(1.0 - alpha / 2.0))

    def update(self, cls: str, regime: str, residual: float, missed: bool) -> None:
        """Record a completed lap's relative residual and whether its interval missed."""
        pool = self._pool((cls, regime))
        pool.add(residual)
        self._pool(("*", regime)).add(residual)
        pool.alpha += self.gamma * ((1.0 - LEVEL) - float(missed))


def predict_features(model: NextLapModel | None, feats: pd.DataFrame) -> pd.DataFrame:
    """Predictions for lap n+1 of every car at the end of each lap n, replayed causally.

    Args:
        model: fitted model, or None for the EWMA baseline with the same intervals.
        feats: ``race_features`` of one race (targets are read only once their lap is done).

    Returns:
        ``PREDICTION_COLUMNS``, one row per lap n (``lap_number`` = n+1, the predicted lap).
    """
    base = feats["base_s"].to_numpy(dtype=float)
    ewma = feats["ewma_s"].to_numpy(dtype=float)
    last = feats["lap_time_s"].to_numpy(dtype=float)
    fallback = np.where(np.isfinite(base), base, last)
    use_model = (feats["clean_c"].to_numpy() & (feats["ewma_count"].to_numpy() >= MIN_EWMA_LAPS)
                 & np.isfinite(base))
    model_pred = fallback.copy()
    next5 = fallback.copy()
    if model is not None and use_model.any():
        X = feats.loc[use_model, FEATURES]
        model_pred[use_model] = base[use_model] * (1.0 + model.predict(X))
        next5[use_model] = base[use_model] * (1.0 + model.predict_next5(X))
        # The field's last crossings all far off the pace (> +50 %) is a neutralisation the
        # flag column does not show (it happens in real files): the next lap is as slow.
        # Too rare for the trees to learn (a few dozen laps in all the training races).
        # When the field's last crossings have no racing lap to say it (a red flag the file
        # does not show: the other cars are in the pit lane), the class's laps of the last
        # 3 minutes say it (Spa 2025: two 315 s laps in a row, predicted 147 s).
        recent = feats["field_recent_rel"].to_numpy(dtype=float)
        slow = np.where(np.isfinite(recent), recent,
                        feats["trend_class_short"].to_numpy(dtype=float))
        crawl = use_model & (slow > FIELD_CRAWL)
        model_pred[crawl] = base[crawl] * (1.0 + slow[crawl])
    raw, pred, chosen, low, high = _online_intervals(model, feats, model_pred, fallback,
                                                     use_model)
    # next 5 laps: the same median shift as the next lap
    next5 = np.where(chosen, next5, fallback) * np.where(np.isfinite(raw) & (raw > 0),
                                                         pred / raw, 1.0)
    return pd.DataFrame({
        "number": feats["number"].to_numpy(), "class": feats["class"].to_numpy(),
        "lap_number": feats["lap_number"].to_numpy() + 1,
        "made_at_s": feats["elapsed_s"].to_numpy(dtype=float),
        "predicted_s": pred, "lower80_s": raw * (1.0 + low), "upper80_s": raw * (1.0 + high),
        "ewma_s": np.where(np.isfinite(ewma), ewma, fallback), "last_s": last,
        "next5_s": next5,
        "actual_s": feats["target_s"].to_numpy(dtype=float),
        "next5_actual_s": feats["next5_s"].to_numpy(dtype=float),
        "s_clean": feats["s_clean"].to_numpy(dtype=bool),
        "s_green": feats["s_green"].to_numpy(dtype=bool),
        "model_used": chosen,
    })


def _online_intervals(model: NextLapModel | None, feats: pd.DataFrame,
                      model_pred: np.ndarray, fallback: np.ndarray, use_model: np.ndarray,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Replay predictions and outcomes in time order; outcomes at time t precede predictions.

    Two things are recalibrated online, per class, from laps already completed:
    - the model is shown only while it beats the EWMA on this race's clean laps so far (after
      ``SELECT_AFTER`` of them); otherwise the prediction is the EWMA (ML.md: a model that
      does not beat its naive baseline is not shown);
    - the interval quantiles (``OnlineIntervals``). Where the model regime holds (clean
      origin lap, ≥ 5 laps in the EWMA: every S_clean prediction) the point moves to their
      median, the raw prediction × (1 + the median of the pool's recent residuals), which
      keeps the interval's coverage and puts the point inside it. Elsewhere (out-laps,
      restarts, short stints: a mixed pool whose median fits none of them; measured on
      Sebring 2024, moving the point there made the GT classes' S_green_all MAE ~10 %
      worse) the point stays and the band is centred on it, as wide as its farther bound.
    A lap's residual counts when the lap is completed (its crossing), and only when the lap
    is, as known then, a racing lap (clean for the model regime; not in/out and not
    neutralised for the fallback regime).

    Returns:
        (raw prediction, prediction, model shown, relative low, relative high) per row; the
        bounds are relative to the raw prediction (the pools hold its residuals).
    """
    n = len(feats)
    prior = tuple(model.prior_quantiles_) if model is not None else (-0.012, 0.02)
    online = OnlineIntervals(prior)
    made = feats["elapsed_s"].to_numpy(dtype=float)
    number = feats["number"].to_numpy()
    same_car_next = np.r_[number[1:] == number[:-1], False]
    done = np.where(same_car_next, np.r_[made[1:], np.nan], np.nan)  # target lap's crossing
    target = feats["target_s"].to_numpy(dtype=float)
    nxt = lambda col: np.r_[feats[col].to_numpy()[1:], False].astype(bool)  # noqa: E731
    target_clean = nxt("clean_c") & same_car_next
    target_racing = (same_car_next & ~nxt("in_lap") & ~nxt("out_lap") & ~nxt("neutralised_c")
                     & np.isfinite(target))
    has_model = model is not None
    regime = np.where(use_model, "model", "base")
    accept = np.where(use_model, target_clean, target_racing) & np.isfinite(fallback)
    cls = feats["class"].astype(str).to_numpy()
    ok_out = np.flatnonzero(accept & np.isfinite(done))
    times = np.r_[done[ok_out], made]
    kinds = np.r_[np.zeros(len(ok_out), dtype=np.int8), np.ones(n, dtype=np.int8)]
    rows = np.r_[ok_out, np.arange(n)]
    order = np.lexsort((rows, kinds, times))
    err_model = np.abs(target - model_pred).tolist()
    err_base = np.abs(target - fallback).tolist()
    model_l, base_l, target_l = model_pred.tolist(), fallback.tolist(), target.tolist()
    use_l = (use_model & has_model).tolist()
    cls_l, regime_l = cls.tolist(), regime.tolist()
    pred_l = fallback.tolist()
    shifted_l = list(pred_l)
    chosen = [False] * n
    lo_l, hi_l = [float("nan")] * n, [float("nan")] * n
    score: dict[str, list[float]] = {}  # class → [laps, Σ|err model|, Σ|err EWMA|]
    for i, kind in zip(rows[order].tolist(), kinds[order].tolist(), strict=True):
        c = cls_l[i]
        if kind == 1:
            if use_l[i]:
                s = score.get(c)
                chosen[i] = s is None or s[0] < SELECT_AFTER or s[1] <= s[2]
            pred_l[i] = model_l[i] if chosen[i] else base_l[i]
            shifted_l[i] = pred_l[i]
            if pred_l[i] == pred_l[i]:
                lo, mid, hi = online.interval(c, regime_l[i])
                if regime_l[i] == "model":
                    shifted_l[i] = pred_l[i] * (1.0 + mid)
                    lo_l[i], hi_l[i] = lo, hi
                else:  # the point stays (see above), centred in a band at least as wide
                    half = max(abs(lo), abs(hi))
                    lo_l[i], hi_l[i] = -half, half
            continue
        if use_l[i]:
            s = score.setdefault(c, [0, 0.0, 0.0])
            s[0] += 1
            s[1] += err_model[i]
            s[2] += err_base[i]
        r = target_l[i] / pred_l[i] - 1.0
        online.update(c, regime_l[i], r, not (lo_l[i] <= r <= hi_l[i]))
    return (np.asarray(pred_l, dtype=float), np.asarray(shifted_l, dtype=float),
            np.asarray(chosen, dtype=bool), np.asarray(lo_l, dtype=float),
            np.asarray(hi_l, dtype=float))


def summarise(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per class on S_clean: n, MAE model, MAE EWMA, MAE last lap, skill, coverage.

    Skill = 1 − MAE_model / min(MAE_EWMA, MAE_last-lap) (ML.md §1). ``green_*`` columns are
    MAEs on S_green_all (every non-neutralised racing lap).
    """
    p = predictions.copy()
    p["err_model"] = (p["actual_s"] - p["predicted_s"]).abs()
    p["err_ewma"] = (p["actual_s"] - p["ewma_s"]).abs()
    p["err_last"] = (p["actual_s"] - p["last_s"]).abs()
    p["covered"] = (p["actual_s"] >= p["lower80_s"]) & (p["actual_s"] <= p["upper80_s"])
    rows = []
    for cls, grp in p.groupby("class", sort=True):
        clean = grp[grp["s_clean"]]
        green = grp[grp["s_green"]]
        mae_m = clean["err_model"].mean()
        mae_e = clean["err_ewma"].mean()
        mae_l = clean["err_last"].mean()
        rows.append({"class": cls, "n": len(clean), "mae_model": mae_m, "mae_ewma": mae_e,
                     "mae_last": mae_l,
                     "skill": 1.0 - mae_m / np.nanmin([mae_e, mae_l]) if len(clean) else np.nan,
                     "coverage": clean["covered"].mean() if len(clean) else np.nan,
                     "green_n": len(green), "green_mae_model": green["err_model"].mean(),
                     "green_mae_ewma": green["err_ewma"].mean()})
    return pd.DataFrame(rows)
