"""Model jobs: train from stored races, and refresh a race's predictions and alerts.

``update_race_models(store, race_id)`` is what the scheduler calls (race.monitor): UI-free,
it starts once the leader has 10 laps, recomputes every 5 leader laps and writes the race's
``predictions`` and ``alerts`` tables in one transaction. The whole race is replayed causally
each time (``race.models.features``), so what is stored for past laps is exactly what was
predictable then; nothing is predicted past the chequered flag. The model is the current one
(``race.models.training``, trained by the monitor's job on every stored race with flags); a
live race with no history trains on its own laps; with neither, EWMA-baseline predictions
and rule-only alerts are stored and say so (``model`` column ``ewma-baseline``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from race.analysis.flags import finish_s
from race.errors import RaceDataError
from race.models.anomalies import IncidentDetector, fit_detector
from race.models.features import BASE_COLUMNS
from race.models.model_io import (
    DEFAULT_NAME,
    ModelBundle,
    ModelVersionError,
    load_bundle,
    model_paths,
    save_bundle,
)
from race.models.predict import fit_model, predict_features, race_features, summarise
from race.models.training import (
    TrainingState,
    get_trainer,
    live_race_ids,
    model_label,
    trainable_races,
)
from race.settings import Settings
from race.store import RaceStore

log = logging.getLogger(__name__)

START_AFTER_LAPS = 10
EVERY_LAPS = 5
BASELINE = "ewma-baseline"
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


def train_bundle(races: dict[str, pd.DataFrame], *,
                 progress: Callable[[float], None] | None = None) -> ModelBundle:
    """Fit predictor and detector on races (race id → lap rows) with flags.

    Races without a flag column (WEC ≤ 2019) are left out: ML.md judges with flags.
    ``progress`` receives the fraction done (0–1) after each step.

    Raises:
        RaceDataError: no race with flags, or too few clean laps (< 200).
    """
    started = time.perf_counter()
    report = progress or (lambda _f: None)
    usable = {rid: laps for rid, laps in races.items()
              if "flag" in laps and laps["flag"].notna().any()}
    if not usable:
        raise RaceDataError("no race with a flag column to train on: import official lap "
                            "files of 2021+ IMSA or 2024+ WEC races first")
    feats = []
    for i, laps in enumerate(usable.values()):  # features: ~15 % of the time
        feats.append(race_features(laps))
        report(0.15 * (i + 1) / len(usable))
    predictor = fit_model(feats)                 # the trees: ~60 %
    report(0.75)
    detector = fit_detector(feats)
    report(0.85)
    in_sample = summarise(pd.concat([predict_features(predictor, f) for f in feats]))
    report(1.0)
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


def start_retrain(store: RaceStore, models_dir: Path) -> threading.Thread | None:
    """Train and save the current model in a daemon thread (``race.models.training``) unless
    one is running or has run for this folder. The app's monitor runs the same training as
    a scheduler job; this is for a process without one."""
    key = str(models_dir)
    trainer = get_trainer(store, models_dir)
    with _lock:
        if key in _retrains or trainer.busy:
            return None
        thread = threading.Thread(target=trainer.train, name="pitwall-retrain", daemon=True)
        _retrains[key] = thread
    thread.start()
    log.info("training a model in the background (saved under %s)", models_dir)
    return thread


def cached_bundle(models_dir: Path, name: str = DEFAULT_NAME,
                  ) -> tuple[ModelBundle | None, str]:
    """The saved bundle (reloaded when its file changes) and its label, or
    (None, "ewma-baseline") when there is none this installation can use."""
    model_path, _ = model_paths(models_dir, name)
    mtime = model_path.stat().st_mtime_ns if model_path.exists() else -1
    key = f"{models_dir}::{name}"
    cached = _bundles.get(key)
    if cached and cached[0] == mtime:
        return cached[1], cached[2]
    try:
        bundle: ModelBundle | None = load_bundle(models_dir, name)
        label = model_label(bundle.metadata)
    except ModelVersionError as exc:
        if mtime != -1:
            log.warning("%s; using the EWMA baseline until a model is trained", exc)
        bundle, label = None, BASELINE
    _bundles[key] = (mtime, bundle, label)
    return bundle, label


def own_model_name(race_id: str) -> str:
    """File name of the model a live race without history trains on its own laps."""
    return "live-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", race_id)


def train_on_own_laps(store: RaceStore, race_id: str, laps: pd.DataFrame,
                      models_dir: Path) -> tuple[ModelBundle | None, str]:
    """A live race with no stored history: fit on its own laps so far (all causal: only
    crossings up to now exist) and save it; (None, reason) when too few clean laps."""
    try:
        bundle = train_bundle({race_id: laps})
    except RaceDataError as exc:
        return None, str(exc)
    save_bundle(bundle, models_dir, own_model_name(race_id))
    leader = int(laps["lap_number"].max()) if len(laps) else 0
    return bundle, f"trees on this race's first {leader} laps"


def compute_race_outputs(laps: pd.DataFrame, bundle: ModelBundle | None, *,
                         finish_s: float | None = None,
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions (every lap so far + each car's next lap) and alerts of one race.

    With ``finish_s`` (the chequered flag's race time) no prediction made at or after it is
    kept: a car's lap after its finish is never driven.
    """
    feats = race_features(laps)
    predictor = bundle.predictor if bundle else None
    detector = bundle.detector if bundle else IncidentDetector.untrained()
    predictions = predict_features(predictor, feats)
    if finish_s is not None:
        predictions = predictions[predictions["made_at_s"] < finish_s].reset_index(drop=True)
    alerts = detector.detect(feats)
    return predictions, alerts


def update_race_models(store: RaceStore, race_id: str, *, models_dir: Path | None = None,
                       force: bool = False, auto_train: bool = True) -> ModelUpdate | None:
    """Refresh a race's stored predictions and alerts when due; None when not due.

    Due once the leader has ``START_AFTER_LAPS`` laps and then every ``EVERY_LAPS`` leader
    laps (``force`` ignores both). Safe to call from a scheduler thread every few seconds:
    a call that is not due costs one small query.

    The model: the current one (``race.models.training``: every stored race with flags).
    Without one, with ``auto_train``: a race followed live with no other race to learn from
    trains on its own laps so far (each update, once it has 200 clean laps); otherwise a
    training of the stored races starts in a background thread and the EWMA baseline is
    stored meanwhile (``model`` column ``ewma-baseline``); the next update picks it up.
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
    laps = stored_laps(store, race_id)
    live = race_id in live_race_ids(store)
    if bundle is None and auto_train:
        if live and not trainable_races(store):
            bundle, own = train_on_own_laps(store, race_id, laps, models_dir)
            label = own if bundle is not None else label
        elif trainable_races(store):
            start_retrain(store, models_dir)
    finish = finish_s(laps, complete=not live)
    predictions, alerts = compute_race_outputs(laps, bundle, finish_s=finish)
    predictions = predictions.assign(model=label)
    store.replace_model_outputs(race_id, predictions, alerts)
    update = ModelUpdate(race_id, leader, len(predictions),
                         int((alerts["kind"] != "neutralised").sum()), label,
                         time.perf_counter() - started)
    log.info("models updated for %s at %d laps: %d predictions, %d alerts (%.2f s)",
             race_id, leader, update.predictions, update.alerts, update.seconds)
    return update


@dataclass(frozen=True)
class ModelChoice:
    """The model a race's predictions come from, and why when it is the EWMA baseline."""

    label: str                      # "trees …" or "ewma-baseline"
    reason: str                     # why no trained model ("" when there is one)
    training: TrainingState         # the trainer's state (sidebar / progress)
    training_races: tuple[str, ...]  # what the model learnt from
    live: bool                      # the race is followed live (the monitor updates it)


def model_for_race(store: RaceStore, race_id: str, models_dir: Path | None = None, *,
                   background: bool = True) -> ModelChoice:
    """Which model predicts ``race_id`` now (``background``: the app's monitor trains due
    models; without it training waits for *Train now*)."""
    models_dir = Path(models_dir or Settings.from_env().models_dir)
    trainer = get_trainer(store, models_dir)
    state = trainer.status()
    live = race_id in live_race_ids(store)
    bundle, label = cached_bundle(models_dir)
    if bundle is None and live:
        own, own_label = cached_bundle(models_dir, own_model_name(race_id))
        if own is not None:
            return ModelChoice(f"trees on this race's laps ({own_label})", "", state,
                               tuple(own.training_races), live)
    if bundle is not None:
        return ModelChoice(label, "", state, tuple(bundle.training_races), live)
    if state.state in ("none", "failed"):
        reason = state.message
        if live and state.state == "none":
            reason = ("no other race to learn from: this race trains its own model once it "
                      "has 200 clean laps (checked every 5 laps)")
    elif background:
        reason = ""  # due or training: the monitor's job is on it
    else:
        reason = ("no model trained yet, and the app's background jobs are off "
                  "($RACE_MONITOR=off): press Train now")
    return ModelChoice(BASELINE, reason, state, (), live)
