"""``backtest strategy``: replay a test race as if live and score the strategy engine.

The training races only feed ``History`` (stint lengths, stop costs, pit-lane offsets,
neutral-lap fuel fraction, caution stops). The test race is replayed lap by lap: each row is
what the engine said at the end of that lap of that car, from the crossings of all cars up
to that instant (ML.md §4). Scoring is in ``race.strategy.scoring``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from race.analysis.laps import derive_laps
from race.errors import RaceDataError
from race.importer import detect_series, meta_from_path
from race.sources.lapfile import parse_lap_file
from race.strategy.engine import EngineParams, prepare_race, replay
from race.strategy.history import History, RaceSummary, summarise_race
from race.strategy.scoring import score_costs, score_pit_laps, score_positions
from race.strategy.tracks import ENERGY_BOP, FUEL_LIMITED, OTHER, class_group, track_key

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ["number", "at_lap", "pit_expected_lap", "pit_earliest_lap",
                  "pit_latest_lap", "stop_cost_s", "stop_cost_low80_s", "stop_cost_high80_s",
                  "class_position_after_stop"]
_HOURS = re.compile(r"(?<![0-9])(\d{1,2})\s*h(?:ours?)?(?![a-z])", re.I)


@dataclass
class RaceFile:
    """One lap file, derived, with what the engine needs to know about it."""

    path: Path
    race_id: str
    series: str
    track: str
    end_s: float | None
    laps: pd.DataFrame


def scheduled_end_s(event: str, laps: pd.DataFrame) -> float | None:
    """The scheduled race length (s): from the event name (``6h``), else the winner's
    chequered-flag crossing rounded down to 5 minutes (a timed race's length is published
    before the start; the lap file does not carry it), else the last crossing rounded down."""
    match = _HOURS.search(event.replace("-", " ").replace("_", " "))
    if match and 1 <= int(match.group(1)) <= 24:
        return float(match.group(1)) * 3600.0
    flags = laps["flag"] if "flag" in laps else pd.Series(dtype=object)
    ff = laps.loc[flags.eq("FF"), "elapsed_s"]
    end = float(ff.min()) if len(ff) else float(laps["elapsed_s"].max()) if len(laps) else 0.0
    return float(np.floor(end / 300.0) * 300.0) if end >= 300.0 else None


def load_race_file(path: str | Path) -> RaceFile:
    """Parse and derive one official lap file.

    Raises:
        RaceDataError: unreadable or invalid file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RaceDataError(f"{path}: cannot read ({exc.strerror})") from None
    laps = parse_lap_file(data, str(path))
    derived, _ = derive_laps(laps)
    event, year, _ = meta_from_path(path)
    classes = sorted(derived["class"].dropna().unique().tolist())
    series = detect_series(classes, path)
    race_id = f"{series}-{year or 'unknown'}-{event}".lower()
    return RaceFile(path, race_id, series, track_key(event), scheduled_end_s(event, derived),
                    derived)


def summarise_file(race: RaceFile) -> RaceSummary:
    return summarise_race(race.laps, race_id=race.race_id, series=race.series,
                          track=race.track)


def run_backtest(test: RaceFile, history: History, *, draws: int = 100,
                 params: EngineParams | None = None) -> pd.DataFrame:
    """Replay ``test``: one row per car per completed lap (``OUTPUT_COLUMNS`` and more)."""
    race = prepare_race(test.laps, history, track=test.track, series=test.series,
                        end_s=test.end_s)
    return replay(race, history, params, draws=draws)


def score(rows: pd.DataFrame, laps: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Scored points of the three questions (pit lap, stop cost, position after the stop)."""
    pit = score_pit_laps(rows, laps)
    pit["group"] = pit["cls"].map(class_group)
    cost = score_costs(rows, laps)
    cost["group"] = cost["class_key"].map(class_group)
    pos = score_positions(rows, laps)
    pos["group"] = pos["cls"].map(class_group)
    return {"pit": pit, "cost": cost, "position": pos}


def summary_table(scored: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per class group (and all): the figures ML.md §3 judges, model against baseline."""
    rows = []
    for group in (FUEL_LIMITED, ENERGY_BOP, OTHER, "all"):
        pit, cost, pos = (scored[k] if group == "all" else scored[k][scored[k]["group"] == group]
                          for k in ("pit", "cost", "position"))
        both = pit[pit["baseline_error"].notna()]
        rows.append({
            "group": group, "pit_n": len(pit), "pit_mae": pit["error"].mean(),
            "pit_missing": pit["pit_expected_lap"].isna().mean(),
            "pit_hit1": pit["hit1"].mean(), "pit_late": pit["late"].mean(),
            "pit_width": (pit["pit_latest_lap"] - pit["pit_earliest_lap"]).mean(),
            "pit_n_vs_baseline": len(both), "pit_mae_vs_baseline": both["error"].mean(),
            "baseline_mae": both["baseline_error"].mean(),
            "cost_n": int(cost["error"].notna().sum()), "cost_medae": cost["error"].median(),
            "cost_baseline_medae": cost["baseline_error"].median(),
            "pos_n": len(pos), "pos_mae": pos["error"].mean(),
            "pos_baseline_mae": pos["baseline_error"].mean(),
        })
    return pd.DataFrame(rows)


def format_summary(table: pd.DataFrame) -> str:
    """The summary as printed by the command."""
    head = (f"{'group':<13}{'stops':>6}{'MAE':>7}{'±1':>7}{'late':>7}{'width':>7}"
            f"{'| vs base n':>11}{'MAE':>7}{'base':>7}{'| cost n':>9}{'medAE':>7}{'base':>7}"
            f"{'| pos n':>8}{'MAE':>7}{'no chg':>8}")
    lines = [head]
    for r in table.to_dict("records"):
        lines.append(
            f"{r['group']:<13}{r['pit_n']:>6}{r['pit_mae']:>7.2f}{r['pit_hit1']:>7.3f}"
            f"{r['pit_late']:>7.3f}{r['pit_width']:>7.1f}{r['pit_n_vs_baseline']:>11}"
            f"{r['pit_mae_vs_baseline']:>7.2f}{r['baseline_mae']:>7.2f}{r['cost_n']:>9}"
            f"{r['cost_medae']:>7.2f}{r['cost_baseline_medae']:>7.2f}{r['pos_n']:>8}"
            f"{r['pos_mae']:>7.2f}{r['pos_baseline_mae']:>8.2f}")
    return "\n".join(lines)


def cli_strategy(train_paths: list[Path], test_path: Path, out: Path, *,
                 draws: int = 100) -> int:
    """The ``backtest strategy`` command: write the rows, print the summary."""
    if any(p.resolve() == test_path.resolve() for p in train_paths):
        raise RaceDataError(f"{test_path} is also in --train: a backtest never trains on its "
                            "test race")
    history = History.from_summaries(summarise_file(load_race_file(p)) for p in train_paths)
    test = load_race_file(test_path)
    rows = run_backtest(test, history, draws=draws)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows[OUTPUT_COLUMNS].to_csv(out, index=False, float_format="%.3f")
    table = summary_table(score(rows, test.laps))
    print(format_summary(table))
    print(f"history: {len(history.summaries)} race(s), neutral-lap fuel fraction "
          f"{history.fraction('*'):.2f}; {test.race_id} ({test.track}, end "
          f"{(test.end_s or 0) / 3600:.2f} h): {len(rows)} rows → {out}")
    return 0
