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


def app_store(db: Path) -> RaceStore:
    """The app's own connection (the file is open in this process)."""
    from ui.state import get_store
    return get_store(str(db))


def _text(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption]
                     + [i.value for i in at.info])


def test_finished_race_names_the_model_and_predicts_nothing_after_the_flag(
        model_db, monkeypatch) -> None:
    """Issue 13 items 1 and 5: no model can be trained here (the monitor is off), so the
    baseline is named with its reason; the race is over, so there is no next lap."""
    db, _ = model_db
    monkeypatch.setenv("RACE_MODELS_DIR", str(db.parent / MODELS))
    at = run_app(db, monkeypatch, "pages/predictions.py")
    assert_clean(at)
    text = _text(at)
    assert "**Model:** ewma-baseline" in text and "press Train now" in text
    assert "Race finished at" in text and "Next lap per car" not in text
    assert len(at.dataframe) >= 1          # per-class accuracy
    store = app_store(db)
    rid = store.races()["race_id"].iloc[0]
    laps = store.table("laps", rid, ["elapsed_s", "flag"])
    flag_s = laps.loc[laps["flag"] == "FF", "elapsed_s"].min()
    assert (store.predictions(rid)["made_at_s"] < flag_s).all()


def test_train_now_then_predictions_without_a_click(tmp_path: Path, monkeypatch) -> None:
    """The sample race alone is enough to train on; a stored race's predictions are made
    on opening the page, with the model it names."""
    db = tmp_path / "race.duckdb"
    with RaceStore(db) as store:
        load_sample_race(store, hours=1.5, seed=3, series="IMSA", folder=tmp_path)
    at = run_app(db, monkeypatch, "pages/predictions.py")
    assert_clean(at)
    assert "**Model:** ewma-baseline" in _text(at)
    at.button(key="pw_train_now").click().run()
    assert_clean(at)
    text = _text(at)
    assert "**Model:** trees " in text and ", 1 race" in text
    assert "ewma-baseline" not in text
    assert "one of the model's training races" in text
    store = app_store(db)
    rid = store.races()["race_id"].iloc[0]
    assert store.predictions(rid)["model"].str.startswith("trees ").all()


def test_live_race_shows_next_laps_and_says_neutralised(tmp_path: Path, monkeypatch) -> None:
    """A race still running (followed live, cut under a caution): next lap per car, and
    "neutralised" where a band would be minutes wide."""
    db = tmp_path / "race.duckdb"
    with RaceStore(db) as store:
        rid = load_sample_race(store, hours=2.0, seed=7, series="IMSA",
                               folder=tmp_path).race_id
        periods = store.table("flag_periods", rid)
        period = periods.iloc[len(periods) // 2]
        cut = float(period["start_s"] + period["end_s"]) / 2
        for table in ("laps", "stints", "pit_stops"):  # the race as it stood at ``cut``
            column = {"laps": "elapsed_s", "stints": "start_s",
                      "pit_stops": "pit_in_elapsed_s"}[table]
            store.cursor().execute(f"DELETE FROM {table} WHERE race_id = ? AND {column} > ?",
                                   [rid, cut])
        store.create_live_race(rid, {}, source="imsa", url="http://127.0.0.1:9/feed")
        update_race_models(store, rid, models_dir=tmp_path / "none", force=True,
                           auto_train=False)
    monkeypatch.setenv("RACE_MODELS_DIR", str(tmp_path / "none"))
    at = run_app(db, monkeypatch, "pages/predictions.py")
    assert_clean(at)
    text = _text(at)
    assert "Next lap per car" in text and "Race finished" not in text
    assert "**Model:** ewma-baseline" in text
    assert len(at.dataframe[0].value) > 5
    from race.present import queries
    next_laps = queries.prediction_overview(app_store(db), rid).next_laps
    assert next_laps["neutralised"].mean() > 0.8   # cut under a caution (but retired cars)
    assert (next_laps["lower80_s"] < next_laps["predicted_s"]).all()


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
