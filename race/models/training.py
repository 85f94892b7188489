"""The current model: which stored races it should learn from, training it with progress, and
what the app says about it.

A model is *current* when it loads (same library versions, same features) and was trained on
exactly the stored races with flags that are not being followed live. ``ModelTrainer.due``
says when it is not (none yet, a race imported or deleted since); ``ModelTrainer.train``
trains on them and saves through ``race.models.model_io``, reporting progress. The app's
scheduler (``race.monitor``) runs ``train`` as a job when due and when *Train now* is
pressed; nothing here touches Streamlit. A failure (too few clean laps) is remembered for
that set of races, so the job does not retry every check until the races change.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from race.errors import RaceDataError
from race.settings import Settings
from race.store import RaceStore

if TYPE_CHECKING:
    import pandas as pd

    from race.models.model_io import ModelBundle

# scikit-learn (model_io, live_models) is imported only once a model exists or is trained:
# the sidebar asks for the status on the app's first run.

log = logging.getLogger(__name__)

NO_RACE_REASON = ("no stored race with flags to train on: load the sample race or import "
                  "official lap files (2021+ IMSA, 2024+ WEC)")


@dataclass(frozen=True)
class TrainingState:
    """What the trainer is doing, as plain values (JSON-ready).

    ``state``: ``none`` (nothing to train on), ``due`` (trainable, not trained yet),
    ``training``, ``trained`` or ``failed``.
    """

    state: str = "due"
    progress: float = 0.0          # 0–1 while training
    races: int = 0                 # races being / last trained on
    trained_at: str | None = None  # ISO time of the model in use
    message: str = ""              # the reason when there is no model
    seconds: float | None = None   # duration of the last training


def live_race_ids(store: RaceStore) -> set[str]:
    """Races the monitor is following (their laps still grow)."""
    states = store.live_states()
    if states.empty:
        return set()
    return set(states.loc[states["active"].fillna(False).astype(bool), "race_id"])


def trainable_races(store: RaceStore) -> list[str]:
    """Stored races with a flag column, not followed live, sorted (the training set)."""
    races = store.races()
    if races.empty:
        return []
    flagged = races.loc[races["has_flags"].fillna(False).astype(bool), "race_id"]
    live = live_race_ids(store)
    return sorted(r for r in flagged if r not in live)


def model_label(metadata: dict) -> str:
    """The name of a saved model the pages show (``Model: …``) and predictions carry."""
    created = metadata.get("created_at") or ""
    try:
        when = datetime.fromisoformat(created).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        when = created or "unknown time"
    races = len(metadata.get("training_races", []))
    return f"trees {when}, {races} race{'s' if races != 1 else ''}"


def _when(iso: str | None) -> str:
    """``03:50 UTC 02 Dec`` for an ISO time (the text itself when it is not one)."""
    try:
        return datetime.fromisoformat(iso or "").astimezone(UTC).strftime("%H:%M UTC %d %b")
    except ValueError:
        return iso or "at an unknown time"


def status_line(state: TrainingState) -> str:
    """One line for the sidebar and the Predictions page."""
    n = f"{state.races} race{'s' if state.races != 1 else ''}"
    if state.state == "training":
        return f"training on {n}… {100 * state.progress:.0f} %"
    if state.state == "trained":
        return f"model trained {_when(state.trained_at)}, {n}"
    if state.state == "due":
        return f"model due: {n} to train on"
    return f"no model: {state.message}"


class ModelTrainer:
    """Trains and saves the current model of one database (one per store and folder).

    Args:
        store: the process's database (reads only; the model goes to ``models_dir``).
        models_dir: where ``race.models.model_io`` saves it.
    """

    def __init__(self, store: RaceStore, models_dir: str | Path) -> None:
        self.store = store
        self.models_dir = Path(models_dir)
        self._run = threading.Lock()
        self._state_lock = threading.Lock()
        self._state = TrainingState()
        self._failed_on: tuple[str, ...] | None = None

    # -- state -----------------------------------------------------------------------------
    def _set(self, **changes: object) -> None:
        with self._state_lock:
            self._state = replace(self._state, **changes)  # type: ignore[arg-type]

    @property
    def busy(self) -> bool:
        return self._run.locked()

    def status(self) -> TrainingState:
        """The trainer's state; when idle, the saved model's (it stays in use while a newer
        set of races waits for training)."""
        if self.busy:
            with self._state_lock:
                return self._state
        bundle = self._saved()
        if bundle is not None:
            return TrainingState("trained", 1.0, len(bundle.training_races),
                                 bundle.metadata.get("created_at"), "",
                                 bundle.metrics.get("train_seconds"))
        races = trainable_races(self.store)
        if not races:
            return TrainingState("none", 0.0, 0, None, NO_RACE_REASON)
        with self._state_lock:
            state = self._state
        if state.state == "failed" and self._failed_on == tuple(races):
            return state
        return TrainingState("due", 0.0, len(races))

    def due(self) -> bool:
        """A model should be trained: trainable races exist and the saved model (if any) was
        not trained on exactly them, unless training already failed on this set."""
        return not self.busy and self._due_for(trainable_races(self.store))

    # -- training --------------------------------------------------------------------------
    def train(self, *, force: bool = False) -> ModelBundle | None:
        """Train on ``trainable_races`` and save; None when another training is running,
        nothing is due (unless ``force``) or training failed (the reason is in ``status``).
        Safe to call from a scheduler thread."""
        if not self._run.acquire(blocking=False):
            return None
        try:
            races = trainable_races(self.store)
            if not force and not self._due_for(races):
                return None
            if not races:
                self._set(state="none", progress=0.0, races=0, message=NO_RACE_REASON)
                return None
            return self._train(races)
        finally:
            self._run.release()

    def _due_for(self, races: list[str]) -> bool:
        if not races or self._failed_on == tuple(races):
            return False
        bundle = self._saved()
        return bundle is None or sorted(bundle.training_races) != races

    def _saved(self) -> ModelBundle | None:
        """The saved model this installation can use, or None."""
        from race.models.model_io import model_paths

        if not model_paths(self.models_dir)[0].exists():
            return None
        from race.models.live_models import cached_bundle

        return cached_bundle(self.models_dir)[0]

    def _train(self, races: list[str]) -> ModelBundle | None:
        from race.models.live_models import stored_laps, train_bundle
        from race.models.model_io import save_bundle

        started = time.perf_counter()
        self._set(state="training", progress=0.0, races=len(races), message="")
        log.info("training a model on %d stored race(s)", len(races))
        try:
            laps: dict[str, pd.DataFrame] = {}
            for i, race_id in enumerate(races):
                laps[race_id] = stored_laps(self.store, race_id)
                self._set(progress=0.05 * (i + 1) / len(races))
            bundle = train_bundle(laps, progress=lambda f: self._set(
                progress=0.05 + 0.9 * min(max(f, 0.0), 1.0)))
            save_bundle(bundle, self.models_dir)
        except RaceDataError as exc:
            self._failed_on = tuple(races)
            self._set(state="failed", progress=0.0, message=str(exc))
            log.warning("cannot train a model: %s", exc)
            return None
        self._failed_on = None
        seconds = round(time.perf_counter() - started, 1)
        self._set(state="trained", progress=1.0, trained_at=bundle.metadata.get("created_at"),
                  message="", seconds=seconds)
        log.info("model trained on %d race(s) in %.1f s", len(races), seconds)
        return bundle

    def as_json(self) -> dict:
        return asdict(self.status())


_TRAINERS: dict[tuple[str, str], ModelTrainer] = {}
_TRAINERS_LOCK = threading.Lock()


def get_trainer(store: RaceStore, models_dir: str | Path | None = None) -> ModelTrainer:
    """The process's trainer for ``store`` and ``models_dir`` (default: settings)."""
    folder = Path(models_dir or Settings.from_env().models_dir)
    key = (store.path, str(folder.resolve()))
    with _TRAINERS_LOCK:
        trainer = _TRAINERS.get(key)
        if trainer is None or trainer.store is not store:
            trainer = _TRAINERS[key] = ModelTrainer(store, folder)
    return trainer
