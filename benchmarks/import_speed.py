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
import os
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


def duckdb_read_s(path: Path) -> tuple[float, float]:
    """(wall, CPU) seconds for DuckDB to read the whole CSV as text into an Arrow table."""
    con = duckdb.connect()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        table = con.sql("SELECT * FROM read_csv($path, all_varchar = true)",
                        params={"path": str(path)}).to_arrow_table()
        elapsed = time.perf_counter() - started, time.process_time() - cpu
    finally:
        con.close()
    assert table.num_rows > 0
    return elapsed


def import_s(path: Path, folder: Path, run: int) -> tuple[float, float]:
    """(wall, CPU) seconds to import the file into a fresh database (commit included)."""
    with RaceStore(folder / f"run{run}.duckdb") as store:
        started, cpu = time.perf_counter(), time.process_time()
        import_lap_file(store, path)
        return time.perf_counter() - started, time.process_time() - cpu


def measure(path: Path, runs: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Median (wall, CPU) of baseline and import, interleaved so both see the same load."""
    baseline, imports = [], []
    with tempfile.TemporaryDirectory() as tmp:
        duckdb_read_s(path)
        import_s(path, Path(tmp), -1)  # warm-up: imports, page cache, first-call costs
        for run in range(runs):
            baseline.append(duckdb_read_s(path))
            imports.append(import_s(path, Path(tmp), run))

    def medians(pairs: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)

    return medians(baseline), medians(imports)


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
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (other processes "
          "slow both timings; the CPU columns count every thread of this process)")
    for path in files:
        (base, base_cpu), (imp, imp_cpu) = measure(path, args.runs)
        ratio = imp / base
        worst = max(worst, ratio)
        rows = sum(1 for _ in path.open("rb")) - 1
        print(f"{path.relative_to(path.parents[3])}: {path.stat().st_size / 1e6:.2f} MB, "
              f"{rows} laps (medians of {args.runs})")
        print(f"  duckdb read_csv(all_varchar=true): {base * 1000:7.1f} ms wall "
              f"{base_cpu * 1000:7.1f} ms CPU")
        print(f"  import_lap_file (fresh DB):        {imp * 1000:7.1f} ms wall "
              f"{imp_cpu * 1000:7.1f} ms CPU")
        print(f"  ratio import / read:               {ratio:7.2f} wall "
              f"{imp_cpu / base_cpu:7.2f} CPU (target ≤ {TARGET:g} wall)")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
