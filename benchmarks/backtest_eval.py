"""Forward-in-time backtest of the next-lap predictor and the incident detector (ML.md §1, §2).

Headline (``--split forward``, the default): train on earlier seasons, test on the latest
season of each series that has a flag column (WEC 2025, IMSA 2024 in ../shared/realdata).
Every test race is scored on its own (ML.md: targets hold per race, not only pooled):

- next lap, per test race and class on S_clean: n, MAE model, baseline MAE (min of EWMA and
  last lap), skill, S_green_all MAE model vs EWMA, 80 % interval coverage and a verdict
  against the targets (skill ≥ 0.20 prototypes / ≥ 0.05 GT, no loss on S_green_all,
  coverage 0.75–0.85, ≥ 95 % of S_clean targets predicted);
- incidents, per test race: recall of +6 s and +12 s injected one-lap losses, incident alerts
  on neutralised laps, share of the other green laps alerted, and a verdict against recall
  ≥ 0.85 / ≥ 0.95, 0 neutral alerts, ≤ 1 % green laps alerted; ``--why-missed`` says for
  every missed injected loss why (gated as neutral, a restart lap, no score, under the
  threshold, and by how much).

Then the pooled figures, and timings measured in the same run (training on 20 races, the
backtest of the largest race, one live model update through a DuckDB store: target ≤ 2 s).

``--split loeo`` is the second view: leave-one-track-out over every race with flags (all years
of a track held out together; ``--folds N`` groups tracks into N folds for a quicker look).

Usage: ``python benchmarks/backtest_eval.py [--split forward|loeo] [--only REGEX]
[--unflagged-train] [--why-missed] [--no-timings] [--folds N] [--realdata DIR]``.
``--only`` tests only the races whose path matches (training is unchanged);
``--unflagged-train`` adds the races without a flag column (WEC 2019, periods inferred) to
the training set whenever they are from a season before every test race of the fold.
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

from race.models.anomalies import IncidentDetector, context_features, race_context
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
PROTOTYPES = {"HYPERCAR", "GTP", "DPI", "LMP2", "LMP1", "LMP3"}
GT = {"GTD", "GTDPRO", "GTD PRO", "GTLM", "LMGT3", "LMGTE PRO", "LMGTE AM"}
RECALL_TARGET = {6.0: 0.85, 12.0: 0.95}
MAX_GREEN_ALERTED = 0.01
COVERAGE = (0.75, 0.85)
LOSSES_S = (6.0, 12.0)


def track_of(race: str) -> str:
    for key in TRACKS:
        if re.search(key, race):
            return key
    return race


def skill_target(cls: str) -> float:
    bare = cls.upper()
    return 0.20 if bare in PROTOTYPES else 0.05 if bare in GT else float("nan")


def hits(alerts: pd.DataFrame, injected: pd.DataFrame) -> np.ndarray:
    """Per injected lap: an incident alert on that lap or the next (ML.md §4)."""
    lap_alerts = alerts[~alerts["kind"].str.contains("stop|pit|neutral")]
    found = set(zip(lap_alerts["number"], lap_alerts["lap_number"], strict=True))
    return np.array([(n, lap) in found or (n, lap + 1) in found
                     for n, lap in zip(injected["number"], injected["lap_number"],
                                       strict=True)], dtype=bool)


def load_races(realdata: str, unflagged_train: bool) -> tuple[dict, dict]:
    """Races with flags (scored) and without (training only): name → entry."""
    races: dict[str, dict] = {}
    unflagged: dict[str, dict] = {}
    for path in sorted(Path(realdata).glob("*/*/*/laps.csv")):
        raw = parse_lap_file(path.read_bytes(), str(path))
        name = str(path.parent.relative_to(realdata))
        no_flags = raw["flag"].isna().all()
        if no_flags and not unflagged_train:
            continue
        entry = {"raw": raw, "feats": race_features(raw), "track": track_of(name),
                 "series": path.parts[-4].upper(), "season": int(path.parts[-3])}
        (unflagged if no_flags else races)[name] = entry
    return races, unflagged


def forward_folds(races: dict, unflagged: dict, only: str) -> list[tuple]:
    """One fold per test season: the latest season of each series; train on earlier seasons.

    Training takes every race (either series) of a season before the test season, so a
    test race's season and everything after it are never seen.
    """
    latest = {}
    for r in races.values():
        latest[r["series"]] = max(latest.get(r["series"], 0), r["season"])
    folds = []
    for season in sorted(set(latest.values())):
        test = [n for n, r in races.items() if latest[r["series"]] == season
                and r["season"] == season and re.search(only, n)]
        if not test:
            continue
        train = [r for r in races.values() if r["season"] < season]
        extra = [r for r in unflagged.values() if r["season"] < season]
        series = "/".join(sorted({races[n]["series"] for n in test}))
        label = (f"test {series} {season} ({len(test)} races), train seasons < {season} "
                 f"({len(train)} races with flags" + (f" + {len(extra)} without" if extra
                                                      else "") + ")")
        folds.append((label, train, extra, test))
    return folds


def loeo_folds(races: dict, unflagged: dict, only: str, n_folds: int) -> list:
    """Leave-one-track-out: all years of a track held out together."""
    tracks = sorted({r["track"] for r in races.values()})
    fold_of = {t: (i % n_folds if n_folds else i) for i, t in enumerate(tracks)}
    folds = []
    for fold in sorted(set(fold_of.values())):
        test = [n for n, r in races.items() if fold_of[r["track"]] == fold
                and re.search(only, n)]
        if not test:
            continue
        train = [r for r in races.values() if fold_of[r["track"]] != fold]
        first_season = min(races[n]["season"] for n in test)
        extra = [r for r in unflagged.values()
                 if fold_of.get(r["track"]) != fold or r["season"] < first_season]
        folds.append((f"fold {fold}: {len(test)} test races", train, extra, test))
    return folds


def fit_fold(train: list, extra: list) -> tuple[NextLapModel, IncidentDetector]:
    rows = pd.concat([training_rows(r["feats"]) for r in train + extra], ignore_index=True)
    model = NextLapModel().fit(rows[FEATURES], rows["target_rel"], rows["next5_rel"])
    ctx = pd.concat([race_context(r["feats"]) for r in train], ignore_index=True)  # flagged
    return model, IncidentDetector().fit(ctx)


def score_incidents(name: str, r: dict, detector: IncidentDetector,
                    why_missed: bool) -> tuple[dict, pd.DataFrame, list[dict]]:
    """Alerts on the real race, recall of injected losses, and why each miss was missed."""
    feats = r["feats"]
    alerts = detector.detect(feats)
    incident = alerts[~alerts["kind"].str.contains("stop|pit|neutral")]
    merged = incident.merge(feats[["number", "lap_number", "neutralised"]],
                            on=["number", "lap_number"], how="left")
    green = feats[(feats["lap_number"] > 1) & ~feats["neutralised"]]
    row = {"race": name, "green": len(green), "alerted": int((~merged["neutralised"]).sum()),
           "on_neutral": int(merged["neutralised"].sum())}
    misses = []
    for loss in LOSSES_S:
        laps, injected = inject_losses(r["raw"], loss)
        f = race_features(laps)
        ctx = context_features(f)
        found = hits(detector.detect(f, ctx), injected)
        row[f"n{loss:.0f}"] = len(injected)
        row[f"recall{loss:.0f}"] = float(found.mean()) if len(found) else float("nan")
        if why_missed:
            misses.extend(explain_misses(name, loss, f, ctx, detector, injected[~found]))
    return row, alerts.assign(race=name), misses


def explain_misses(name: str, loss: float, f: pd.DataFrame, ctx: pd.DataFrame,
                   detector: IncidentDetector, missed: pd.DataFrame) -> list[dict]:
    """Why each missed injected lap (and the lap after it) raised no incident alert."""
    key = pd.MultiIndex.from_frame(f[["number", "lap_number"]])
    thresholds = detector.thresholds_s(f, ctx)
    out = []
    for n, lap in zip(missed["number"], missed["lap_number"], strict=True):
        i = key.get_loc((n, lap))
        if f["neutralised_c"].iat[i]:
            why = "gated: neutralised (causal)"
        elif f["restart_c"].iat[i]:
            why = "gated: restart lap"
        elif not ctx["scored"].iat[i] or not np.isfinite(ctx["score_s"].iat[i]):
            why = "no score"
        else:
            why = "under threshold"
        out.append({"race": name, "loss": loss, "number": n, "lap": lap, "why": why,
                    "class": f["class"].iat[i], "score_s": ctx["score_s"].iat[i],
                    "threshold_s": thresholds[i], "field_s": ctx["field_sector_s"].iat[i],
                    "own_sector_s": ctx["own_sector_loss_s"].iat[i],
                    "lap_loss_s": ctx["loss_lap_s"].iat[i], "sector": ctx["sector"].iat[i]})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("forward", "loeo"), default="forward")
    parser.add_argument("--folds", type=int, default=0,
                        help="loeo: group tracks into N folds")
    parser.add_argument("--only", default="", help="test only races matching this regex")
    parser.add_argument("--unflagged-train", action="store_true",
                        help="train also on races without flags from earlier seasons")
    parser.add_argument("--why-missed", action="store_true",
                        help="print why each missed injected loss was missed")
    parser.add_argument("--no-timings", action="store_true", help="skip the timings")
    parser.add_argument("--realdata", default=str(REALDATA))
    args = parser.parse_args()
    t0 = time.perf_counter()
    races, unflagged = load_races(args.realdata, args.unflagged_train)
    print(f"{len(races)} races with flags, {len(unflagged)} without (training only), "
          f"features in {time.perf_counter() - t0:.1f} s")
    if args.split == "forward":
        print("split: forward in time (train on earlier seasons, test on the latest season "
              "of each series)")
        folds = forward_folds(races, unflagged, args.only)
    else:
        print("split: leave-one-track-out over the races with flags (all years of a track "
              "held out together)" + ("; training adds the races without flags from seasons "
                                      "before every test race of the fold"
                                      if args.unflagged_train else ""))
        folds = loeo_folds(races, unflagged, args.only, args.folds)

    predictions, alert_rows, incident_rows, misses = [], [], [], []
    t_fit = []
    for label, train, extra, test in folds:
        t = time.perf_counter()
        model, detector = fit_fold(train, extra)
        t_fit.append(time.perf_counter() - t)
        for name in test:
            r = races[name]
            p = predict_features(model, r["feats"])
            p["race"], p["series"] = name, r["series"]
            predictions.append(p)
            row, alerts, missed = score_incidents(name, r, detector, args.why_missed)
            incident_rows.append(row)
            alert_rows.append(alerts)
            misses.extend(missed)
        print(f"{label}: fit {t_fit[-1]:.1f} s, alert threshold {detector.threshold_s_:.2f} s "
              f"({time.perf_counter() - t0:.0f} s so far)", flush=True)
    if not predictions:
        print("no test race matches")
        return 1

    P = pd.concat(predictions, ignore_index=True)
    P["cls"] = P["series"] + " " + P["class"].astype(str)
    report_predictions_per_race(P)
    report_incidents_per_race(pd.DataFrame(incident_rows))
    if args.why_missed:
        report_misses(pd.DataFrame(misses))
    report_predictions_pooled(P)
    print("  alert kinds on the real races:",
          pd.concat(alert_rows, ignore_index=True)["kind"].value_counts().to_dict())
    if not args.no_timings:
        report_timings(races)
    print(f"total {time.perf_counter() - t0:.0f} s; model fit per fold "
          f"{np.mean(t_fit):.1f} s mean on {os.cpu_count()} cores (shared)")
    return 0


def _errors(P: pd.DataFrame) -> pd.DataFrame:
    return P.assign(err_m=(P["actual_s"] - P["predicted_s"]).abs(),
                    err_e=(P["actual_s"] - P["ewma_s"]).abs(),
                    err_l=(P["actual_s"] - P["last_s"]).abs(),
                    covered=(P["actual_s"] >= P["lower80_s"])
                    & (P["actual_s"] <= P["upper80_s"]))


def prediction_cells(P: pd.DataFrame) -> pd.DataFrame:
    """Per race and class: n, MAEs, skill, S_green_all MAEs, coverage, verdict."""
    P = _errors(P)
    rows = []
    for (race, cls), g in P.groupby(["race", "class"], sort=True):
        clean = g[g["s_clean"]]
        green = g[g["s_green"]]
        if not len(clean):
            continue
        base = min(clean["err_e"].mean(), clean["err_l"].mean())
        skill = 1 - clean["err_m"].mean() / base
        target = skill_target(str(cls))
        cover = clean["covered"].mean()
        predicted = clean["predicted_s"].notna().mean()
        fails = []
        if not skill >= target:
            fails.append(f"skill<{target:.2f}")
        if green["err_m"].mean() > green["err_e"].mean():
            fails.append("green loss")
        if not COVERAGE[0] <= cover <= COVERAGE[1]:
            fails.append(f"cover {cover:.2f}")
        if predicted < 0.95:
            fails.append(f"predicted {predicted:.2f}")
        rows.append({"race": race, "class": cls, "n": len(clean),
                     "model": clean["err_m"].mean(), "baseline": base, "skill": skill,
                     "target": target, "green_model": green["err_m"].mean(),
                     "green_ewma": green["err_e"].mean(), "cover": cover,
                     "verdict": "ok" if not fails else "FAIL " + ", ".join(fails)})
    return pd.DataFrame(rows)


def report_predictions_per_race(P: pd.DataFrame) -> None:
    cells = prediction_cells(P)
    print("\nNext lap per test race and class, S_clean (baseline = min of EWMA and last-lap "
          "MAE; skill = 1 − model / baseline); S_green_all MAE model vs EWMA; 80 % coverage")
    print(f"{'race':<48}{'class':<10}{'n':>6}{'model':>8}{'baseline':>9}{'skill':>7}"
          f"{'target':>7}{'g.model':>8}{'g.EWMA':>8}{'cover':>7}  verdict")
    for r in cells.to_dict("records"):
        print(f"{r['race']:<48}{r['class']:<10}{r['n']:>6}{r['model']:>8.3f}"
              f"{r['baseline']:>9.3f}{r['skill']:>7.3f}{r['target']:>7.2f}"
              f"{r['green_model']:>8.3f}{r['green_ewma']:>8.3f}{r['cover']:>7.3f}  "
              f"{r['verdict']}")
    ok = (cells["verdict"] == "ok").sum()
    print(f"race×class cells meeting every target: {ok} of {len(cells)}")


def report_incidents_per_race(rows: pd.DataFrame) -> None:
    print("\nIncidents per test race (injected one-lap losses in sector 2, one per car per "
          "25 laps; targets recall ≥ 0.85 at +6 s and ≥ 0.95 at +12 s, 0 alerts on "
          "neutralised laps, ≤ 1 % of green laps alerted)")
    print(f"{'race':<48}{'n6':>5}{'recall6':>8}{'n12':>5}{'recall12':>9}{'neutral':>8}"
          f"{'green':>7}{'% alerted':>10}  verdict")
    for r in rows.to_dict("records"):
        share = r["alerted"] / r["green"] if r["green"] else float("nan")
        fails = [f"recall{loss:.0f}" for loss in LOSSES_S
                 if not r[f"recall{loss:.0f}"] >= RECALL_TARGET[loss]]
        if r["on_neutral"]:
            fails.append("neutral alerts")
        if not share <= MAX_GREEN_ALERTED:
            fails.append("alerted")
        print(f"{r['race']:<48}{r['n6']:>5}{r['recall6']:>8.3f}{r['n12']:>5}"
              f"{r['recall12']:>9.3f}{r['on_neutral']:>8}{r['green']:>7}{100 * share:>9.2f}%"
              f"  {'ok' if not fails else 'FAIL ' + ', '.join(fails)}")
    pooled = {loss: (rows[f"recall{loss:.0f}"] * rows[f"n{loss:.0f}"]).sum()
              / rows[f"n{loss:.0f}"].sum() for loss in LOSSES_S}
    print(f"pooled: recall +6 s {pooled[6.0]:.3f}, +12 s {pooled[12.0]:.3f}; neutral alerts "
          f"{rows['on_neutral'].sum()}; green laps alerted {rows['alerted'].sum()} / "
          f"{rows['green'].sum()} = {100 * rows['alerted'].sum() / rows['green'].sum():.2f} %")


def report_misses(misses: pd.DataFrame) -> None:
    print("\nWhy injected losses were missed (per race and loss: count by reason; under the "
          "threshold: median score, threshold, field term and the loss vs own sector pace)")
    if misses.empty:
        print("  none missed")
        return
    for (race, loss), g in misses.groupby(["race", "loss"]):
        counts = g["why"].value_counts().to_dict()
        under = g[g["why"] == "under threshold"]
        extra = ""
        if len(under):
            extra = (f"; under: score {under['score_s'].median():+.1f} s vs threshold "
                     f"{under['threshold_s'].median():.1f} s, field term "
                     f"{under['field_s'].median():+.1f} s, own sector "
                     f"{under['own_sector_s'].median():+.1f} s, by class "
                     f"{under['class'].value_counts().to_dict()}")
        print(f"  {race} +{loss:.0f} s: {counts}{extra}")


def report_predictions_pooled(P: pd.DataFrame) -> None:
    P = _errors(P)
    clean = P[P["s_clean"]]
    print("\nPooled over the test races, per series and class (S_clean)")
    print(f"{'class':<16}{'n':>7}{'model':>8}{'EWMA':>8}{'last':>8}{'skill':>8}{'target':>8}"
          f"{'green n':>9}{'g.model':>8}{'g.EWMA':>8}{'cover':>7}{'n5 mod':>8}{'n5 EWMA':>8}")
    for cls, g in clean.groupby("cls"):
        green = P[(P["cls"] == cls) & P["s_green"]]
        skill = 1 - g["err_m"].mean() / min(g["err_e"].mean(), g["err_l"].mean())
        n5 = g[g["next5_actual_s"].notna()]
        print(f"{cls:<16}{len(g):>7}{g['err_m'].mean():>8.3f}{g['err_e'].mean():>8.3f}"
              f"{g['err_l'].mean():>8.3f}{skill:>8.3f}{skill_target(cls.split(' ', 1)[1]):>8.2f}"
              f"{len(green):>9}{green['err_m'].mean():>8.3f}{green['err_e'].mean():>8.3f}"
              f"{g['covered'].mean():>7.3f}"
              f"{(n5['next5_actual_s'] - n5['next5_s']).abs().mean():>8.3f}"
              f"{(n5['next5_actual_s'] - n5['ewma_s']).abs().mean():>8.3f}")
    cells = clean.groupby(["race", "cls"])["covered"].mean()
    inside = ((cells >= COVERAGE[0]) & (cells <= COVERAGE[1])).mean()
    green_all = P[P["s_green"]]
    print(f"pooled coverage {clean['covered'].mean():.3f} (target 0.78–0.82); "
          f"race×class cells in 0.75–0.85: {inside:.3f} of {len(cells)} (target ≥ 0.90)")
    print(f"S_green_all overall: MAE model {green_all['err_m'].mean():.3f} vs EWMA "
          f"{green_all['err_e'].mean():.3f}; predicted share of S_clean targets "
          f"{clean['predicted_s'].notna().mean():.3f}")


def report_timings(races: dict[str, dict]) -> None:
    from race.models.anomalies import fit_detector
    from race.models.predict import fit_model
    names = sorted(races, key=lambda n: len(races[n]["raw"]))
    twenty = names[-20:]
    t = time.perf_counter()
    feats = [race_features(races[n]["raw"]) for n in twenty]
    model = fit_model(feats)
    detector = fit_detector(feats)
    train_s = time.perf_counter() - t
    laps = sum(len(races[n]["raw"]) for n in twenty)
    biggest = max(names, key=lambda n: races[n]["feats"]["elapsed_s"].max()
                  + len(races[n]["raw"]) * 1e-3)
    raw = races[biggest]["raw"]
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
