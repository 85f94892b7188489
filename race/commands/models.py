"""``python -m race train``: fit the next-lap predictor and incident detector on stored races."""

from __future__ import annotations

import argparse
from pathlib import Path

from race.cli import command, open_store
from race.settings import Settings


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="DuckDB file (default: $RACE_DB or data/race.duckdb)")
    p.add_argument("--models", metavar="DIR",
                   help="where to save (default: $RACE_MODELS_DIR or models/)")
    p.add_argument("--exclude", nargs="*", default=[], metavar="RACE_ID",
                   help="races to leave out (e.g. the one you will backtest)")


@command("train", "train the lap-time predictor and incident detector on stored races",
         _train_args)
def cmd_train(args: argparse.Namespace) -> int:
    from race.models.live_models import save_trained
    models = Path(args.models) if args.models else Settings.from_env().models_dir
    with open_store(args, read_only=True) as store:
        bundle = save_trained(store, models, exclude=tuple(args.exclude))
    metrics = bundle.metrics
    print(f"trained on {len(bundle.training_races)} race(s), {metrics['train_laps']} laps, "
          f"in {metrics['train_seconds']} s; alert threshold {metrics['alert_threshold_s']} s; "
          f"saved to {models}")
    return 0
