"""Import speed vs DuckDB's own CSV reader, measured in the same run.

For the largest real 24 h lap file (and, with ``--strict``, also the largest lap file of
all) this times, alternately and several times each:

- baseline: DuckDB reading the CSV, ``read_csv(path, all_varchar=true)``, fully materialised
  as an Arrow table;
- import: ``race.importer.import_lap_file`` into a fresh database file (parse, derive every
  table, one transaction, commit), as ``python -m race import`` does it.

Prints the medians and the ratio import / baseline (target ≤ 3, aim ≤ 2.5).

Usage: ``python benchmarks/import_speed.py [--runs N] [--strict] [--file PATH] [--profile]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from race.importer import import_lap_file  # noqa: E402
from race.store import RaceStore  # noqa: E402

TARGET = 3.0


def duckdb_read_s(path: Path) -> float:
    """Seconds for DuckDB to read the whole CSV as text columns into an Arrow table."""
    con = duckdb.connect()
    try:
        started = time.perf_counter()
        table = con.sql("SELECT * FROM read_csv($path, all_varchar = true)",
                        params={"path": str(path)}).to_arrow_table()
        elapsed = time.perf_counter() - started
    finally:
        con.close()
    assert table.num_rows > 0
    return elapsed


def import_s(path: Path, folder: Path, run: int) -> float:
    """Seconds to import the file into a fresh database (commit included)."""
    with RaceStore(folder / f"run{run}.duckdb") as store:
        started = time.perf_counter()
        import_lap_file(store, path)
        return time.perf_counter() - started


def measure(path: Path, runs: int) -> tuple[float, float]:
    """Median baseline and import seconds, interleaved so both see the same machine load."""
    baseline, imports = [], []
    with tempfile.TemporaryDirectory() as tmp:
        duckdb_read_s(path)
        import_s(path, Path(tmp), -1)  # warm-up: imports, page cache, first-call costs
        for run in range(runs):
            baseline.append(duckdb_read_s(path))
            imports.append(import_s(path, Path(tmp), run))
    return statistics.median(baseline), statistics.median(imports)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=ROOT.parent / "shared" / "realdata")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--strict", action="store_true",
                        help="also the largest lap file of all, not only the largest 24 h")
    parser.add_argument("--file", type=Path, help="time this lap file instead")
    parser.add_argument("--profile", action="store_true", help="cProfile one import")
    args = parser.parse_args()
    if args.file:
        files = [args.file]
    else:
        all_files = sorted(args.realdata.glob("*/*/*/*laps.csv"))
        day = [p for p in all_files if "24h" in p.parent.name]
        if not day:
            print(f"no 24 h lap file under {args.realdata}")
            return 1
        files = [max(day, key=lambda p: p.stat().st_size)]
        largest = max(all_files, key=lambda p: p.stat().st_size)
        if args.strict and largest not in files:
            files.append(largest)
    if args.profile:
        import cProfile
        import pstats
        with tempfile.TemporaryDirectory() as tmp:
            import_s(files[0], Path(tmp), -1)
            profiler = cProfile.Profile()
            profiler.enable()
            import_s(files[0], Path(tmp), 0)
            profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    worst = 0.0
    for path in files:
        base, imp = measure(path, args.runs)
        ratio = imp / base
        worst = max(worst, ratio)
        rows = sum(1 for _ in path.open("rb")) - 1
        print(f"{path.relative_to(path.parents[3])}: {path.stat().st_size / 1e6:.2f} MB, "
              f"{rows} laps")
        print(f"  duckdb read_csv(all_varchar=true): {base * 1000:7.1f} ms (median of "
              f"{args.runs})")
        print(f"  import_lap_file (fresh DB):        {imp * 1000:7.1f} ms (median of "
              f"{args.runs})")
        print(f"  ratio import / read:               {ratio:7.2f} (target ≤ {TARGET:g})")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
