"""Predictions and Anomalies pages, and the Live "!", under AppTest on a generated race."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from race.models.live_models import update_race_models
from race.sample import load_sample_race
from race.store import RaceStore
from tests.shown import shown_table
from tests.test_app import _navigation_only, assert_clean, run_app  # noqa: F401

MODELS = "no-models"


@pytest.fixture(scope="module")
def model_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("models-pages")
    db = folder / "race.duckdb"
    with RaceStore(db) as store:
        result = load_sample_race(store, hours=2.0, seed=7, series="IMSA", folder=folder)
        update_race_models(store, result.race_id, models_dir=folder / MODELS, force=True,
                           auto_train=False)
        last = store.table("laps", result.race_id, ["number", "lap_number", "elapsed_s",
                                                      "class"]).iloc[-1]
        alerts = store.alerts(result.race_id, include_labels=True)
        fresh = pd.DataFrame([{"number": last["number"], "lap_number": int(last["lap_number"]),
                               "kind": "slow lap", "class": last["class"],
                               "elapsed_s": float(last["elapsed_s"]), "score": 9.9,
                               "reason": "S2 +9.0 s vs own pace, +9.9 s vs class at that "
                                         "moment, green flag", "iso_score": 0.5}])
        store.replace_model_outputs(result.race_id, alerts=pd.concat([alerts, fresh]))
    return db, str(last["number"])


def test_predictions_page_shows_next_laps_and_accuracy(model_db, monkeypatch) -> None:
    db, _ = model_db
    monkeypatch.setenv("RACE_MODELS_DIR", str(db.parent / MODELS))
    at = run_app(db, monkeypatch, "pages/predictions.py")
    assert_clean(at)
    assert any("Next lap per car" in m.value for m in at.markdown)
    assert len(at.dataframe) >= 2          # next-lap table and per-class accuracy
    assert any("EWMA baseline" in w.value for w in at.warning)


def test_anomalies_page_lists_alerts_newest_first(model_db, monkeypatch) -> None:
    db, number = model_db
    at = run_app(db, monkeypatch, "pages/anomalies.py")
    assert_clean(at)
    feed = shown_table(at.dataframe[0])
    assert feed["Reason"].iloc[0].startswith("S2 +9.0 s vs own pace")
    assert feed["No."].iloc[0] == number


def test_live_board_marks_cars_with_a_fresh_alert(model_db, monkeypatch) -> None:
    db, number = model_db
    at = run_app(db, monkeypatch)
    assert_clean(at)
    shown = shown_table(at.dataframe[0])
    numbers = shown["No."].astype(str).tolist()
    assert f"! {number}" in numbers
