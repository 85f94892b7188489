"""Final classification rebuilt from laps vs the official IMSA results, race by race.

Imports every IMSA lap file of ../shared/realdata that has an official results file beside
it into a temporary database (or uses ``--db`` as it is), rebuilds the final order with
``race.present.queries.race_state`` at the end of the race and compares class position and laps for
every classified car (a race ending under a red flag is counted back to its last green
crossing, ``race.analysis.standings.final_order_time_s``). Prints the match rate per race
and overall, then every mismatch with its reason (time or position penalty, displaced by
another car's penalty, zero-lap entry, laps differ).

Usage: ``python benchmarks/official_classification.py [--realdata DIR] [--db FILE]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from race.importer import import_lap_file  # noqa: E402
from race.present.queries import official_comparison  # noqa: E402
from race.store import RaceStore  # noqa: E402

TARGET = 0.95


def imsa_lap_files(realdata: Path) -> list[Path]:
    """IMSA lap files (``laps.csv`` or ``<session>-laps.csv``) with a results file beside."""
    return [p for p in sorted((realdata / "imsa").glob("*/*/*laps.csv"))
            if any(q.name.lower().endswith("results.csv") for q in p.parent.iterdir())]


def compare_all(store: RaceStore) -> pd.DataFrame:
    """Comparison rows of every IMSA race in ``store`` that has an official classification."""
    frames = []
    races = store.races()
    for race_id in races.loc[races["series"].eq("IMSA"), "race_id"]:
        comparison = official_comparison(store, race_id)
        if not comparison.empty:
            frames.append(comparison.assign(race_id=race_id))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=ROOT.parent / "shared" / "realdata")
    parser.add_argument("--db", type=Path, help="use this database as it is (no import)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.db:
            store = RaceStore(args.db, read_only=True)
        else:
            files = imsa_lap_files(args.realdata)
            if not files:
                print(f"no IMSA lap files with results under {args.realdata}")
                return 1
            store = RaceStore(Path(tmp) / "race.duckdb")
            for path in files:
                import_lap_file(store, path)
        with store:
            rows = compare_all(store)
    if rows.empty:
        print("no race with an official classification")
        return 1
    print(f"{'race':<58} {'match':>9} {'rate':>7}")
    for race_id, group in rows.groupby("race_id", sort=True):
        print(f"{race_id:<58} {int(group['match'].sum()):>4}/{len(group):<4} "
              f"{group['match'].mean():>7.1%}")
    matched, total = int(rows["match"].sum()), len(rows)
    rate = matched / total
    print(f"\noverall: {matched}/{total} classified cars match (class position and laps): "
          f"{rate:.2%} (target ≥ {TARGET:.0%}) in {rows['race_id'].nunique()} races")
    bad = rows[~rows["match"]].sort_values(["race_id", "official_position"])
    if len(bad):
        print(f"\n{len(bad)} mismatches:")
        for row in bad.to_dict("records"):
            print(f"  {row['race_id']} #{row['number']} {row['class']}: official "
                  f"P{row['official_class_position']} {row['official_laps']} laps, rebuilt "
                  f"P{row['rebuilt_class_position']} {row['rebuilt_laps']} laps: "
                  f"{row['reason']}")
        print("\nreasons:")
        kinds = bad["reason"].str.extract(r"^(displaced by a penalty|time penalty|position "
                                          r"penalty|zero-lap entry|laps differ|\w+)")[0]
        for reason, count in kinds.value_counts().items():
            print(f"  {count:>3}  {reason}")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
