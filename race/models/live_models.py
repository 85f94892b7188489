"""Model jobs: train from stored races, and refresh a live race's predictions and alerts.

``update_race_models(store, race_id)`` is what the scheduler calls (race.monitor): UI-free,
it starts once the leader has 10 laps, recomputes every 5 leader laps and writes the race's
``predictions`` and ``alerts`` tables in one transaction. The whole race is replayed causally
each time (``race.models.features``), so what is stored for past laps is exactly what was
predictable then. Without a trained model it stores EWMA-baseline predictions and rule-only alerts
and says so (``model`` column ``ewma-baseline``); ``train_from_store`` (``python -m race train``)
makes the model.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from race.errors import RaceDataError
from race.models.anomalies import IncidentDetector, fit_detector
from race.models.features import BASE_COLUMNS
from race.models.model_io import (
    ModelBundle,
    ModelVersionError,
    load_bundle,
    model_paths,
    save_bundle,
)
from race.models.predict import fit_model, predict_features, race_features, summarise
from race.settings import Settings
from race.store import RaceStore

log = logging.getLogger(__name__)

START_AFTER_LAPS = 10
EVERY_LAPS = 5
_lock = threading.Lock()
_last_update: dict[tuple[str, str], int] = {}
_bundles: dict[str, tuple[float, ModelBundle | None, str]] = {}


@dataclass(frozen=True)
class ModelUpdate:
    """What one update did."""

    race_id: str
    leader_laps: int
    predictions: int
    alerts: int
    model: str
    seconds: float


def train_bundle(races: dict[str, pd.DataFrame]) -> ModelBundle:
    """Fit predictor and detector on races (race id → lap rows) with flags.

    Races without a flag column (WEC ≤ 2019) are left out: ML.md judges with flags.
    """
    started = time.perf_counter()
    usable = {rid: laps for rid, laps in races.items()
              if "flag" in laps and laps["flag"].notna().any()}
    if not usable:
        raise RaceDataError("no race with a flag column to train on: import official lap "
                            "files of 2021+ IMSA or 2024+ WEC races first")
    feats = [race_features(laps) for laps in usable.values()]
    predictor = fit_model(feats)
    detector = fit_detector(feats)
    in_sample = summarise(pd.concat([predict_features(predictor, f) for f in feats]))
    metrics = {"train_seconds": round(time.perf_counter() - started, 1),
               "train_laps": int(sum(len(f) for f in feats)),
               "alert_threshold_s": round(detector.threshold_s_, 3),
               "in_sample": in_sample.round(4).to_dict("records")}
    return ModelBundle(predictor, detector, sorted(usable), metrics)


def stored_laps(store: RaceStore, race_id: str) -> pd.DataFrame:
    """The lap rows the models read, from the store."""
    return store.table("laps", race_id, BASE_COLUMNS)


def train_from_store(store: RaceStore, *, exclude: tuple[str, ...] = ()) -> ModelBundle:
    """Train on every stored race with flags except ``exclude``."""
    ids = [r for r in store.races()["race_id"] if r not in exclude]
    return train_bundle({rid: stored_laps(store, rid) for rid in ids})


def save_trained(store: RaceStore, models_dir: Path | None = None, *,
                 exclude: tuple[str, ...] = ()) -> ModelBundle:
    """Train on the stored races (but ``exclude``) and save under ``models_dir``."""
    bundle = train_from_store(store, exclude=exclude)
    save_bundle(bundle, Path(models_dir or Settings.from_env().models_dir))
    return bundle


_retrains: dict[str, threading.Thread] = {}


def start_retrain(store: RaceStore, models_dir: Path, *,
                  exclude: tuple[str, ...] = ()) -> threading.Thread | None:
    """Train and save a model in a daemon thread unless one is running or has run."""
    key = str(models_dir)
    with _lock:
        if key in _retrains:
            return None

        def work() -> None:
            try:
                save_trained(store, models_dir, exclude=exclude)
            except RaceDataError as exc:
                log.warning("cannot train a model: %s", exc)

        thread = threading.Thread(target=work, name="pitwall-retrain", daemon=True)
        _retrains[key] = thread
    thread.start()
    log.info("training a model in the background (saved under %s)", models_dir)
    return thread


def cached_bundle(models_dir: Path) -> tuple[ModelBundle | None, str]:
    """The saved bundle (reloaded when its file changes) and a label for it."""
    model_path, _ = model_paths(models_dir)
    mtime = model_path.stat().st_mtime if model_path.exists() else -1.0
    key = str(models_dir)
    cached = _bundles.get(key)
    if cached and cached[0] == mtime:
        return cached[1], cached[2]
    try:
        bundle: ModelBundle | None = load_bundle(models_dir)
        label = f"trees {bundle.metadata.get('created_at', '')}"
    except ModelVersionError as exc:
        log.warning("%s; using the EWMA baseline until a model is trained", exc)
        bundle, label = None, "ewma-baseline"
    _bundles[key] = (mtime, bundle, label)
    return bundle, label


def compute_race_outputs(laps: pd.DataFrame, bundle: ModelBundle | None,
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions (every lap so far + each car's next lap) and alerts of one race."""
    feats = race_features(laps)
    predictor = bundle.predictor if bundle else None
    detector = bundle.detector if bundle else IncidentDetector.untrained()
    predictions = predict_features(predictor, feats)
    alerts = detector.detect(feats)
    return predictions, alerts


def update_race_models(store: RaceStore, race_id: str, *, models_dir: Path | None = None,
                       force: bool = False, auto_train: bool = True) -> ModelUpdate | None:
    """Refresh a race's stored predictions and alerts when due; None when not due.

    Due once the leader has ``START_AFTER_LAPS`` laps and then every ``EVERY_LAPS`` leader
    laps (``force`` ignores both). Safe to call from a scheduler thread every few seconds:
    a call that is not due costs one small query. Without a usable model (none saved, or
    saved by other library versions) the EWMA baseline is stored and, with ``auto_train``,
    a retrain on the other stored races starts in a background thread (once per folder);
    the next update picks the new model up.
    """
    started = time.perf_counter()
    leader = store.max_lap_number(race_id)
    key = (store.path, race_id)
    with _lock:
        last = _last_update.get(key)
        due = force or (leader >= START_AFTER_LAPS
                        and (last is None or leader >= last + EVERY_LAPS))
        if not due:
            return None
        _last_update[key] = leader
    models_dir = Path(models_dir or Settings.from_env().models_dir)
    bundle, label = cached_bundle(models_dir)
    if bundle is None and auto_train:
        start_retrain(store, models_dir, exclude=(race_id,))
    laps = stored_laps(store, race_id)
    predictions, alerts = compute_race_outputs(laps, bundle)
    predictions = predictions.assign(model=label)
    store.replace_model_outputs(race_id, predictions, alerts)
    update = ModelUpdate(race_id, leader, len(predictions),
                         int((alerts["kind"] != "neutralised").sum()), label,
                         time.perf_counter() - started)
    log.info("models updated for %s at %d laps: %d predictions, %d alerts (%.2f s)",
             race_id, leader, update.predictions, update.alerts, update.seconds)
    return update
