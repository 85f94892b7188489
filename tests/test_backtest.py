"""End to end: the backtest command on our own synthetic races, and the live model job."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from race.cli import main
from race.sample import write_sample_race


@pytest.fixture(scope="module")
def race_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("races")
    return [write_sample_race(folder / f"r{seed}" / "laps.csv", 1.5, seed, "IMSA")
            for seed in (31, 32, 33)]


def test_backtest_predict_writes_one_row_per_lap(race_files, tmp_path: Path, capsys) -> None:
    out = tmp_path / "pred.csv"
    code = main(["backtest", "predict", "--train", str(race_files[0]), str(race_files[1]),
                 "--test", str(race_files[2]), "--out", str(out)])
    assert code == 0
    rows = pd.read_csv(out, dtype={"number": str})
    assert list(rows.columns) == ["number", "lap_number", "predicted_s", "lower80_s",
                                  "upper80_s"]
    assert (rows["lower80_s"] <= rows["predicted_s"]).all()
    assert (rows["predicted_s"] <= rows["upper80_s"]).all()
    assert rows["lap_number"].min() == 2
    assert not rows.duplicated(["number", "lap_number"]).any()
    text = capsys.readouterr().out
    assert "MAE model" in text and "skill" in text and "coverage" in text


def test_backtest_anomalies_writes_alerts(race_files, tmp_path: Path, capsys) -> None:
    out = tmp_path / "alerts.csv"
    assert main(["backtest", "anomalies", "--train", str(race_files[0]), "--test",
                 str(race_files[2]), "--out", str(out)]) == 0
    rows = pd.read_csv(out, dtype={"number": str})
    assert list(rows.columns) == ["number", "lap_number", "kind", "score", "reason"]
    assert "incidents on neutralised laps: 0" in capsys.readouterr().out


def test_backtest_refuses_to_train_on_its_test_race(race_files, tmp_path: Path,
                                                    capsys) -> None:
    code = main(["backtest", "predict", "--train", str(race_files[0]), "--test",
                 str(race_files[0]), "--out", str(tmp_path / "x.csv")])
    assert code == 2
    assert "also in --train" in capsys.readouterr().err


def test_live_update_stores_predictions_and_alerts(race_files, store, tmp_path: Path) -> None:
    from race.importer import import_lap_file
    from race.models.live_models import save_trained, update_race_models
    result = import_lap_file(store, race_files[2])
    empty = tmp_path / "no-models"
    first = update_race_models(store, result.race_id, models_dir=empty, auto_train=False)
    assert first is not None and first.model == "ewma-baseline"
    assert update_race_models(store, result.race_id, models_dir=empty,
                              auto_train=False) is None  # not due
    predictions = store.predictions(result.race_id)
    laps = store.table("laps", result.race_id, ["elapsed_s", "flag"])
    flag_s = laps.loc[laps["flag"] == "FF", "elapsed_s"].min()
    # one per lap, but none made at or after the chequered flag (those laps never happen)
    assert len(predictions) == int((laps["elapsed_s"] < flag_s).sum())
    assert predictions["lower80_s"].notna().mean() > 0.9
    store.alerts(result.race_id)  # readable, newest first

    import_lap_file(store, race_files[0])
    models = tmp_path / "models"
    bundle = save_trained(store, models, exclude=(result.race_id,))
    assert result.race_id not in bundle.training_races
    again = update_race_models(store, result.race_id, models_dir=models, force=True)
    assert again.model.startswith("trees")
    assert store.predictions(result.race_id)["model_used"].any()


def test_a_model_from_other_versions_is_replaced_by_a_background_retrain(
        race_files, store, tmp_path: Path) -> None:
    import json

    from race.importer import import_lap_file
    from race.models.live_models import _retrains, save_trained, update_race_models
    from race.models.model_io import load_bundle, model_paths
    live = import_lap_file(store, race_files[2]).race_id
    import_lap_file(store, race_files[1])
    models = tmp_path / "models"
    save_trained(store, models, exclude=(live,))
    _, meta_path = model_paths(models)
    meta = json.loads(meta_path.read_text())
    meta["versions"]["scikit-learn"] = "0.1"
    meta_path.write_text(json.dumps(meta))
    update = update_race_models(store, live, models_dir=models, force=True)
    assert update.model == "ewma-baseline"          # not a crash: the baseline meanwhile
    _retrains[str(models)].join(timeout=120)
    assert load_bundle(models).metadata["versions"]["scikit-learn"] != "0.1"
    again = update_race_models(store, live, models_dir=models, force=True)
    assert again.model.startswith("trees")
