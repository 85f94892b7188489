"""Leave-one-event-out backtest of the next-lap predictor and the incident detector.

Runs over every race with a flag column in ../shared/realdata. Folds group races by track
(all years of Sebring are held out together), which is stricter than one race per fold.
Prints, per class: n, MAE model, MAE EWMA, MAE last lap, skill on S_clean, MAE on S_green_all
(model vs EWMA), 80 % interval coverage; pooled coverage and the share of race×class cells in
0.75–0.85; next-5 pace MAE; incident recall at +6 s / +12 s injected one-lap losses, alerts on
neutralised laps and the share of green laps alerted; then timings (training on 20 races, one
live update, backtesting the largest 24 h race) measured in the same run.

Usage: ``python benchmarks/backtest_eval.py [--folds N] [--only REGEX] [--unflagged-train]
[--realdata DIR]`` (``--folds 4`` groups tracks into 4 folds for a quicker look; ``--only``
tests only the races whose path matches; ``--unflagged-train`` adds the races without a flag
column (WEC 2019, periods inferred) to the training set of every fold whose test races are all
from later seasons: still leave-one-event-out and forward-by-season, no longer track-out).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from race.models.anomalies import IncidentDetector, race_context
from race.models.features import FEATURES
from race.models.injection import inject_losses
from race.models.predict import NextLapModel, predict_features, race_features, training_rows
from race.sources.lapfile import parse_lap_file

ROOT = Path(__file__).resolve().parent.parent
REALDATA = Path(os.environ.get("RACE_REALDATA", ROOT.parent / "shared" / "realdata"))
TRACKS = ["sebring", "road-atlanta", "watkins|wgi", "lime-rock", "road-america", "laguna",
          "long-beach", "virginia", "mid-ohio", "roar", "belle-isle", "detroit", "canadian",
          "indianapolis|bricks", "bahrain", "fuji", "le-mans", "cota", "imola", "qatar",
          "sao-paulo", "spa"]
PROTOTYPES = {"HYPERCAR", "GTP", "DPI", "LMP2", "LMP1"}
GT = {"GTD", "GTDPRO", "GTD PRO", "GTLM", "LMGT3", "LMGTE PRO", "LMGTE AM"}


def track_of(race: str) -> str:
    for key in TRACKS:
        if re.search(key, race):
            return key
    return race


def recall(alerts: pd.DataFrame, injected: pd.DataFrame) -> float:
    """Share of injected laps with an incident alert on that lap or the next."""
    lap_alerts = alerts[~alerts["kind"].str.contains("stop|pit|neutral")]
    hits = set(zip(lap_alerts["number"], lap_alerts["lap_number"], strict=True))
    found = [(n, lap) in hits or (n, lap + 1) in hits
             for n, lap in zip(injected["number"], injected["lap_number"], strict=True)]
    return float(np.mean(found)) if found else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=0, help="group tracks into N folds")
    parser.add_argument("--only", default="", help="test only races matching this regex")
    parser.add_argument("--unflagged-train", action="store_true",
                        help="train also on races without flags from earlier seasons")
    parser.add_argument("--realdata", default=str(REALDATA))
    args = parser.parse_args()
    files = sorted(Path(args.realdata).glob("*/*/*/laps.csv"))
    t0 = time.perf_counter()
    races: dict[str, dict] = {}
    unflagged: dict[str, dict] = {}  # training only (ML.md scores races with flags)
    for path in files:
        raw = parse_lap_file(path.read_bytes(), str(path))
        name = str(path.parent.relative_to(args.realdata))
        if raw["flag"].isna().all() and not args.unflagged_train:
            continue
        entry = {"raw": raw, "feats": race_features(raw), "track": track_of(name),
                 "series": path.parts[-4].upper(), "season": int(path.parts[-3])}
        (unflagged if raw["flag"].isna().all() else races)[name] = entry
    print(f"{len(races)} races with flags, {len(unflagged)} without (training only), "
          f"features in {time.perf_counter() - t0:.1f} s")
    print("split: leave-one-track-out over the races with flags (all years of a track held out "
          "together)" + ("; training adds the races without flags from seasons before every "
                         "test race of the fold" if args.unflagged_train else ""))
    tracks = sorted({r["track"] for r in races.values()})
    fold_of = {t: (i % args.folds if args.folds else i) for i, t in enumerate(tracks)}
    folds = sorted(set(fold_of.values()))

    predictions, alert_rows, recall_rows, green_rows = [], [], [], []
    t_fit = []
    for fold in folds:
        test = [n for n, r in races.items() if fold_of[r["track"]] == fold
                and re.search(args.only, n)]
        if not test:
            continue
        train = [r for n, r in races.items() if fold_of[r["track"]] != fold]
        first_season = min(races[n]["season"] for n in test)
        extra = [r for r in unflagged.values()
                 if fold_of.get(r["track"]) != fold or r["season"] < first_season]
        t = time.perf_counter()
        rows = pd.concat([training_rows(r["feats"]) for r in train + extra], ignore_index=True)
        model = NextLapModel().fit(rows[FEATURES], rows["target_rel"], rows["next5_rel"])
        ctx = pd.concat([race_context(r["feats"]) for r in train], ignore_index=True)  # flagged
        detector = IncidentDetector().fit(ctx)
        t_fit.append(time.perf_counter() - t)
        for name in test:
            r = races[name]
            p = predict_features(model, r["feats"])
            p["race"], p["series"] = name, r["series"]
            predictions.append(p)
            alerts = detector.detect(r["feats"])
            alerts["race"] = name
            alert_rows.append(alerts)
            green = r["feats"][(r["feats"]["lap_number"] > 1) & ~r["feats"]["neutralised"]]
            incident = alerts[~alerts["kind"].str.contains("stop|pit|neutral")]
            merged = incident.merge(r["feats"][["number", "lap_number", "neutralised"]],
                                    on=["number", "lap_number"], how="left")
            green_rows.append({"race": name, "green": len(green),
                               "alerted": int((~merged["neutralised"]).sum()),
                               "on_neutral": int(merged["neutralised"].sum())})
            for loss in (6.0, 12.0):
                laps, injected = inject_losses(r["raw"], loss)
                feats = race_features(laps)
                a = detector.detect(feats)
                recall_rows.append({"race": name, "loss": loss, "n": len(injected),
                                    "recall": recall(a, injected)})
        print(f"fold {fold}: {len(test)} test races, fit {t_fit[-1]:.1f} s "
              f"({time.perf_counter() - t0:.0f} s so far)", flush=True)

    P = pd.concat(predictions, ignore_index=True)
    P["cls"] = P["series"] + " " + P["class"].astype(str)
    report_predictions(P)
    report_anomalies(pd.DataFrame(recall_rows), pd.DataFrame(green_rows),
                     pd.concat(alert_rows, ignore_index=True))
    report_timings(races)
    print(f"total {time.perf_counter() - t0:.0f} s; model fit per fold "
          f"{np.mean(t_fit):.1f} s mean on {os.cpu_count()} cores (shared)")
    return 0


def report_predictions(P: pd.DataFrame) -> None:
    P = P.assign(err_m=(P["actual_s"] - P["predicted_s"]).abs(),
                 err_e=(P["actual_s"] - P["ewma_s"]).abs(),
                 err_l=(P["actual_s"] - P["last_s"]).abs(),
                 covered=(P["actual_s"] >= P["lower80_s"]) & (P["actual_s"] <= P["upper80_s"]))
    clean = P[P["s_clean"]]
    print("\nNext lap, S_clean (skill = 1 − MAE_model / min(MAE_EWMA, MAE_last)); "
          "S_green_all MAE; 80 % coverage on S_clean; next-5 mean on S_clean")
    print(f"{'class':<16}{'n':>7}{'model':>8}{'EWMA':>8}{'last':>8}{'skill':>8}{'target':>8}"
          f"{'green n':>9}{'g.model':>8}{'g.EWMA':>8}{'cover':>7}{'n5 mod':>8}{'n5 EWMA':>8}")
    for cls, g in clean.groupby("cls"):
        green = P[(P["cls"] == cls) & P["s_green"]]
        bare = cls.split(" ", 1)[1].upper()
        target = 0.20 if bare in PROTOTYPES else 0.05 if bare in GT else float("nan")
        skill = 1 - g["err_m"].mean() / min(g["err_e"].mean(), g["err_l"].mean())
        n5 = g[g["next5_actual_s"].notna()]
        print(f"{cls:<16}{len(g):>7}{g['err_m'].mean():>8.3f}{g['err_e'].mean():>8.3f}"
              f"{g['err_l'].mean():>8.3f}{skill:>8.3f}{target:>8.2f}{len(green):>9}"
              f"{green['err_m'].mean():>8.3f}{green['err_e'].mean():>8.3f}"
              f"{g['covered'].mean():>7.3f}"
              f"{(n5['next5_actual_s'] - n5['next5_s']).abs().mean():>8.3f}"
              f"{(n5['next5_actual_s'] - n5['ewma_s']).abs().mean():>8.3f}")
    cells = clean.groupby(["race", "cls"])["covered"].mean()
    inside = ((cells >= 0.75) & (cells <= 0.85)).mean()
    green_all = P[P["s_green"]]
    print(f"pooled coverage {clean['covered'].mean():.3f} (target 0.78–0.82); "
          f"race×class cells in 0.75–0.85: {inside:.3f} of {len(cells)} (target ≥ 0.90)")
    print(f"S_green_all overall: MAE model {green_all['err_m'].mean():.3f} vs EWMA "
          f"{green_all['err_e'].mean():.3f}; predicted share of S_clean targets "
          f"{clean['predicted_s'].notna().mean():.3f}")
    outside = cells[(cells < 0.75) | (cells > 0.85)]
    if len(outside):
        print("cells outside 0.75–0.85:", ", ".join(f"{r} {c} {v:.2f}" for (r, c), v
                                                    in outside.items()))


def report_anomalies(recalls: pd.DataFrame, green: pd.DataFrame, alerts: pd.DataFrame) -> None:
    print("\nIncidents (injected one-lap losses in sector 2, one per car per 25 laps)")
    for loss, g in recalls.groupby("loss"):
        n = g["n"].sum()
        pooled = (g["recall"] * g["n"]).sum() / n
        target = 0.85 if loss == 6 else 0.95
        print(f"  +{loss:.0f} s: recall {pooled:.3f} over {n} injected laps (target ≥ {target})")
    share = green["alerted"].sum() / green["green"].sum()
    print(f"  alerts on neutralised laps: {green['on_neutral'].sum()} (target 0); "
          f"green laps alerted {green['alerted'].sum()} / {green['green'].sum()} = "
          f"{share:.4f} (target ≤ 0.01)")
    print("  alert kinds on the real races:", alerts["kind"].value_counts().to_dict())


def report_timings(races: dict[str, dict]) -> None:
    from race.models.anomalies import fit_detector
    from race.models.predict import fit_model
    names = sorted(races, key=lambda n: len(races[n]["raw"]))
    twenty = names[-20:]
    t = time.perf_counter()
    feats = [race_features(races[n]["raw"]) for n in twenty]
    model = fit_model(feats)
    fit_detector(feats)
    train_s = time.perf_counter() - t
    laps = sum(len(races[n]["raw"]) for n in twenty)
    biggest = max(names, key=lambda n: races[n]["feats"]["elapsed_s"].max()
                  + len(races[n]["raw"]) * 1e-3)
    raw = races[biggest]["raw"]
    detector = fit_detector(feats)
    t = time.perf_counter()
    f = race_features(raw)
    predict_features(model, f)
    detector.detect(f)
    backtest_s = time.perf_counter() - t
    live_s = live_update_seconds(biggest, model, detector)
    print(f"\nTimings: training on 20 races ({laps} laps: features + model + detector) "
          f"{train_s:.1f} s (target ≤ 120 s); backtest of {biggest} ({len(raw)} laps, "
          f"trained model given) {backtest_s:.1f} s (target ≤ 180 s); one live update of that "
          f"race through a DuckDB store (read laps, replay, write predictions + alerts) "
          f"{live_s:.2f} s (target ≤ 2 s)")


def live_update_seconds(race: str, model: object, detector: object) -> float:
    """Import the race into a temporary store and time ``update_race_models`` (median of 3)."""
    import tempfile

    from race.importer import import_lap_file
    from race.models.live_models import update_race_models
    from race.models.model_io import ModelBundle, save_bundle
    from race.store import RaceStore
    with tempfile.TemporaryDirectory() as tmp, RaceStore(Path(tmp) / "b.duckdb") as store:
        save_bundle(ModelBundle(model, detector, ["benchmark"]), Path(tmp) / "models")
        result = import_lap_file(store, Path(args_realdata()) / race / "laps.csv")
        times = []
        for _ in range(3):
            update = update_race_models(store, result.race_id, models_dir=Path(tmp) / "models",
                                        force=True)
            times.append(update.seconds)
        return float(np.median(times))


def args_realdata() -> str:
    return os.environ.get("RACE_REALDATA", str(REALDATA))


if __name__ == "__main__":
    sys.exit(main())
