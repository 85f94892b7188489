"""The current model (issue 13 item 1): when one is due, training with progress, the sample
race alone as training data, a live race with no history training on its own laps, and the
monitor's job that trains without anyone asking."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from race.models.live_models import BASELINE, model_for_race, own_model_name, update_race_models
from race.models.model_io import model_paths
from race.models.training import (
    NO_RACE_REASON,
    ModelTrainer,
    TrainingState,
    get_trainer,
    status_line,
    trainable_races,
)
from race.monitor import DEFAULT_CALENDAR, RaceMonitor
from race.sample import load_sample_race
from race.store import RaceStore


@pytest.fixture
def sample_store(tmp_path: Path):
    with RaceStore(tmp_path / "race.duckdb") as store:
        result = load_sample_race(store, hours=1.5, seed=3, series="IMSA", folder=tmp_path)
        yield store, result.race_id


def test_status_lines() -> None:
    assert status_line(TrainingState("training", 0.4, 3)) == "training on 3 races… 40 %"
    line = status_line(TrainingState("trained", 1.0, 3, "2026-12-02T03:50:00+00:00"))
    assert line == "model trained 03:50 UTC 02 Dec, 3 races"
    assert status_line(TrainingState("none", message=NO_RACE_REASON)).startswith("no model: ")


def test_the_sample_race_alone_trains_a_model_with_progress(sample_store,
                                                            tmp_path: Path) -> None:
    store, race_id = sample_store
    trainer = ModelTrainer(store, tmp_path / "models")
    assert trainable_races(store) == [race_id]
    assert trainer.due() and trainer.status().state == "due"
    seen: list[float] = []
    thread = threading.Thread(target=trainer.train)
    thread.start()
    while thread.is_alive():
        state = trainer.status()
        if state.state == "training":
            seen.append(state.progress)
        time.sleep(0.02)
    thread.join()
    assert seen and seen == sorted(seen) and max(seen) < 1.0
    state = trainer.status()
    assert state.state == "trained" and state.races == 1 and not trainer.due()
    assert model_paths(tmp_path / "models")[0].exists()
    choice = model_for_race(store, race_id, tmp_path / "models")
    assert choice.label.startswith("trees ") and choice.training_races == (race_id,)
    # a second race makes the model stale: due again
    load_sample_race(store, hours=1.0, seed=4, series="IMSA", folder=tmp_path)
    assert trainer.due()


def test_no_race_with_flags_means_the_baseline_with_its_reason(tmp_path: Path) -> None:
    with RaceStore(tmp_path / "race.duckdb") as store:
        trainer = ModelTrainer(store, tmp_path / "models")
        assert not trainer.due() and trainer.train(force=True) is None
        assert trainer.status().message == NO_RACE_REASON
        choice = model_for_race(store, "any", tmp_path / "models")
        assert choice.label == BASELINE and choice.reason == NO_RACE_REASON


def test_a_failed_training_is_not_retried_until_the_races_change(sample_store,
                                                                 tmp_path: Path) -> None:
    store, race_id = sample_store
    store.cursor().execute("DELETE FROM laps WHERE race_id = ? AND lap_number > 4", [race_id])
    trainer = get_trainer(store, tmp_path / "models")   # the one the pages ask
    assert trainer.train() is None
    state = trainer.status()
    assert state.state == "failed" and "clean laps" in state.message
    assert not trainer.due()
    choice = model_for_race(store, race_id, tmp_path / "models")
    assert choice.label == BASELINE and "clean laps" in choice.reason


def test_a_live_race_without_history_trains_on_its_own_laps(sample_store,
                                                            tmp_path: Path) -> None:
    store, race_id = sample_store
    store.create_live_race(race_id, {}, source="imsa", url="http://127.0.0.1:9/feed")
    assert trainable_races(store) == []           # its laps still grow: not history
    models = tmp_path / "models"
    update = update_race_models(store, race_id, models_dir=models, force=True)
    assert update.model.startswith("trees on this race's first")
    assert model_paths(models, own_model_name(race_id))[0].exists()
    assert store.predictions(race_id)["model"].iloc[0] == update.model
    # 10 laps in: too few clean laps yet, the baseline says why
    store.cursor().execute("DELETE FROM laps WHERE race_id = ? AND lap_number > 10",
                           [race_id])
    other = tmp_path / "other-models"
    update = update_race_models(store, race_id, models_dir=other, force=True)
    assert update.model == BASELINE


def test_the_monitor_trains_a_due_model_in_the_background(sample_store,
                                                          tmp_path: Path) -> None:
    store, _ = sample_store
    monitor = RaceMonitor(store, calendar_path=DEFAULT_CALENDAR, check_every_s=3600,
                          models_dir=tmp_path / "monitor-models")
    monitor.start()
    try:
        deadline = time.monotonic() + 120
        while monitor.trainer.status().state != "trained":
            assert time.monotonic() < deadline, monitor.trainer.status()
            time.sleep(0.2)
        assert "model trained" in " ".join(_lines(monitor))
        assert monitor.request_training(force=True)     # Train now: a scheduler job
    finally:
        monitor.shutdown()


def _lines(monitor: RaceMonitor) -> list[str]:
    from race.monitor import sidebar_lines
    return sidebar_lines(monitor.status())
