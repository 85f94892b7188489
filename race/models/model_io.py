"""Persist the fitted pipeline (predictor + detector) under ``models/`` with its metadata.

Two files per model: ``NAME.joblib`` (the fitted estimators) and ``NAME.json`` (format version,
library versions, training races, metrics, creation time). The JSON is read first: a model
written by other library versions is refused with a message saying what differs, *before*
unpickling (pickles of scikit-learn estimators are not portable across versions).
``load_or_train`` turns that refusal into a retrain.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from race.errors import RaceDataError
from race.models.features import FEATURES

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: the detector scales its threshold by the race's scatter
DEFAULT_NAME = "pitwall"


class ModelVersionError(RaceDataError):
    """A stored model cannot be used by this installation (other versions, unreadable)."""


def library_versions() -> dict[str, str]:
    """The versions a pickled model depends on."""
    import sklearn  # here: reading a model's status must not load scikit-learn

    return {"python": ".".join(platform.python_version_tuple()[:2]),
            "scikit-learn": sklearn.__version__, "numpy": np.__version__,
            "pandas": pd.__version__, "joblib": joblib.__version__}


@dataclass
class ModelBundle:
    """The fitted predictor and detector with what they were trained on."""

    predictor: object
    detector: object
    training_races: list[str]
    metrics: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


def model_paths(models_dir: str | Path, name: str = DEFAULT_NAME) -> tuple[Path, Path]:
    base = Path(models_dir)
    return base / f"{name}.joblib", base / f"{name}.json"


def save_bundle(bundle: ModelBundle, models_dir: str | Path, name: str = DEFAULT_NAME) -> Path:
    """Write the bundle and its metadata; returns the ``.joblib`` path."""
    model_path, meta_path = model_paths(models_dir, name)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format_version": FORMAT_VERSION, "versions": library_versions(),
                "features": FEATURES, "training_races": bundle.training_races,
                "metrics": bundle.metrics,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
    # Written beside, then renamed: a reader (the app's jobs) never sees half a file. The
    # metadata goes first; readers key their cache on the model file, which moves last.
    tmp_model = model_path.with_name(model_path.name + ".tmp")
    tmp_meta = meta_path.with_name(meta_path.name + ".tmp")
    joblib.dump({"predictor": bundle.predictor, "detector": bundle.detector}, tmp_model)
    tmp_meta.write_text(json.dumps(metadata, indent=1, default=str), encoding="utf-8")
    os.replace(tmp_meta, meta_path)
    os.replace(tmp_model, model_path)
    bundle.metadata = metadata
    log.info("saved model %s (%d training races)", model_path, len(bundle.training_races))
    return model_path


def check_metadata(metadata: dict, where: str) -> None:
    """Raise ModelVersionError when the stored model does not fit this installation."""
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ModelVersionError(f"model {where} has format {metadata.get('format_version')}, "
                                f"this version reads format {FORMAT_VERSION}: retrain it")
    if metadata.get("features") != FEATURES:
        raise ModelVersionError(f"model {where} was trained on other features: retrain it")
    stored = metadata.get("versions", {})
    here = library_versions()
    differ = [f"{lib} {stored.get(lib, '?')} (here {ver})" for lib, ver in here.items()
              if lib != "joblib" and stored.get(lib) != ver]
    if differ:
        raise ModelVersionError(f"model {where} was trained with {', '.join(differ)}: "
                                "retrain it ('python -m race train')")


def load_bundle(models_dir: str | Path, name: str = DEFAULT_NAME) -> ModelBundle:
    """Load a saved bundle.

    Raises:
        ModelVersionError: missing, unreadable, or written by other library versions.
    """
    model_path, meta_path = model_paths(models_dir, name)
    if not model_path.exists() or not meta_path.exists():
        raise ModelVersionError(f"no trained model at {model_path}: train one "
                                "('python -m race train')")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelVersionError(f"model metadata {meta_path} is unreadable ({exc}): "
                                "retrain it") from None
    check_metadata(metadata, str(model_path))
    try:
        payload = joblib.load(model_path)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError,
            ValueError, TypeError, KeyError) as exc:
        raise ModelVersionError(f"model {model_path} cannot be read "
                                f"({type(exc).__name__}: {exc}): retrain it") from None
    return ModelBundle(payload["predictor"], payload["detector"],
                       list(metadata.get("training_races", [])),
                       dict(metadata.get("metrics", {})), metadata)


def load_or_train(models_dir: str | Path, train: Callable[[], ModelBundle],
                  name: str = DEFAULT_NAME) -> ModelBundle:
    """The saved bundle, or a freshly trained (and saved) one when it cannot be used."""
    try:
        return load_bundle(models_dir, name)
    except ModelVersionError as exc:
        log.warning("%s; retraining", exc)
    bundle = train()
    save_bundle(bundle, models_dir, name)
    return bundle
