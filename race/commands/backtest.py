"""``python -m race backtest predict|anomalies|strategy``: replay a test race lap by lap as if live.

The models are trained on ``--train`` lap files, then the ``--test`` race is replayed: at the
end of lap n of a car only the crossings (of all cars) up to that instant are used
(``race.models.features``). This is the only way accuracy is claimed (ML.md §4).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from race.cli import command, lap_files_in
from race.errors import RaceDataError

PREDICT_COLUMNS = ["number", "lap_number", "predicted_s", "lower80_s", "upper80_s"]
ANOMALY_COLUMNS = ["number", "lap_number", "kind", "score", "reason"]


def _backtest_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="mode", metavar="MODE", required=True)
    for mode, text in (("predict", "next-lap predictions with 80 % intervals"),
                       ("anomalies", "incident alerts"),
                       ("strategy", "pit windows, stop cost, class position after the stop")):
        # argparse %-formats help strings: "80 % i…" would be read as a format directive.
        q = sub.add_parser(mode, help=text.replace("%", "%%"), description=text)
        q.add_argument("--train", nargs="+", required=True, metavar="PATH",
                       help="lap files (or folders of them) to train on")
        q.add_argument("--test", required=True, metavar="PATH", help="the race to replay")
        q.add_argument("--out", required=True, metavar="FILE.csv", help="output CSV")


def _read(path: Path) -> pd.DataFrame:
    from race.sources.lapfile import parse_lap_file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RaceDataError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_lap_file(data, str(path))


def _load(args: argparse.Namespace) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, Path]:
    test = Path(args.test)
    train_files = lap_files_in(args.train)
    if any(f.resolve() == test.resolve() for f in train_files):
        raise RaceDataError(f"{test} is also in --train: a backtest never trains on its test "
                            "race")
    train = {str(f): _read(f) for f in train_files}
    return train, _read(test), test


@command("backtest", "replay a race as if live: predictions or incident alerts (CSV)",
         _backtest_args)
def cmd_backtest(args: argparse.Namespace) -> int:
    if args.mode == "strategy":  # the strategy engine learns from history, not a model bundle
        from race.strategy.backtest import cli_strategy
        return cli_strategy(lap_files_in(args.train), Path(args.test), Path(args.out))
    from race.models.live_models import train_bundle
    from race.models.predict import predict_features, race_features

    started = time.perf_counter()
    train, test_laps, test = _load(args)
    bundle = train_bundle(train)
    trained = time.perf_counter()
    feats = race_features(test_laps)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.mode == "predict":
        predictions = predict_features(bundle.predictor, feats)
        has_next = np.r_[feats["number"].to_numpy()[1:] == feats["number"].to_numpy()[:-1],
                         False]
        rows = predictions[has_next]
        rows[PREDICT_COLUMNS].round(3).to_csv(out, index=False)
        print_predict_summary(rows)
    else:
        alerts = bundle.detector.detect(feats)
        alerts[ANOMALY_COLUMNS].to_csv(out, index=False)
        print_anomaly_summary(alerts, feats)
    print(f"trained on {len(bundle.training_races)} race(s) in {trained - started:.1f} s; "
          f"replayed {test} ({len(test_laps)} laps) in {time.perf_counter() - trained:.1f} s; "
          f"wrote {out}")
    return 0


def print_predict_summary(predictions: pd.DataFrame) -> None:
    """Per class on S_clean: n, MAE model, MAE EWMA, MAE last lap, skill, 80 % coverage."""
    from race.models.predict import summarise
    table = summarise(predictions)
    print(f"{'class':<12}{'n':>7}{'MAE model':>11}{'MAE EWMA':>10}{'MAE last':>10}"
          f"{'skill':>8}{'cover80':>9}{'green n':>9}{'green model':>13}{'green EWMA':>12}")
    for r in table.to_dict("records"):
        print(f"{r['class']:<12}{r['n']:>7}{r['mae_model']:>11.3f}{r['mae_ewma']:>10.3f}"
              f"{r['mae_last']:>10.3f}{r['skill']:>8.3f}{r['coverage']:>9.3f}"
              f"{r['green_n']:>9}{r['green_mae_model']:>13.3f}{r['green_mae_ewma']:>12.3f}")
    clean = predictions[predictions["s_clean"]]
    covered = ((clean["actual_s"] >= clean["lower80_s"])
               & (clean["actual_s"] <= clean["upper80_s"]))
    print(f"S_clean laps: {len(clean)}, predicted {clean['predicted_s'].notna().mean():.3f}, "
          f"pooled 80 % coverage {covered.mean():.3f}")


def print_anomaly_summary(alerts: pd.DataFrame, feats: pd.DataFrame) -> None:
    """Per class: alerts by kind, green laps, share of green laps alerted."""
    green = feats[(feats["lap_number"] > 1) & ~feats["neutralised"]]
    incident = ~alerts["kind"].str.contains("stop|pit|neutral")
    kinds = sorted(alerts["kind"].unique())
    print(f"{'class':<12}{'green laps':>11}" + "".join(f"{k:>13}" for k in kinds)
          + f"{'alerted':>9}")
    for cls, laps in green.groupby("class"):
        mine = alerts[alerts["class"] == cls]
        counts = mine["kind"].value_counts()
        share = (incident[mine.index]).sum() / max(len(laps), 1)
        print(f"{cls:<12}{len(laps):>11}" + "".join(f"{counts.get(k, 0):>13}" for k in kinds)
              + f"{share:>9.4f}")
    on_neutral = alerts[incident].merge(feats[["number", "lap_number", "neutralised"]],
                                        on=["number", "lap_number"])["neutralised"].sum()
    print(f"alerts: {int(incident.sum())} incidents, "
          f"{int(alerts['kind'].str.contains('stop').sum())} slow stops, "
          f"{int((alerts['kind'] == 'neutralised').sum())} neutralised labels; "
          f"incidents on neutralised laps: {int(on_neutral)}")
