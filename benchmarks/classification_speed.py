"""Running order at time t on a full 24 h race, in-process (``classification --at``).

Imports the largest real 24 h lap file into a temporary database, then times at seeded
random race times:

- load + compute: ``race.present.queries.race_state(store, race_id, t)`` (reads the laps and flag
  periods from DuckDB, prepares them, computes the order), what one CLI call does in-process;
- compute only: ``standings_at(prepared, t)`` with the prepared laps reused, what the live
  leaderboard does on every refresh.

Prints the medians (target ≤ 50 ms).

Usage: ``python benchmarks/classification_speed.py [--runs N] [--file PATH]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from race.analysis.standings import standings_at  # noqa: E402
from race.importer import import_lap_file  # noqa: E402
from race.present.queries import load_prepared, race_state  # noqa: E402
from race.store import RaceStore  # noqa: E402

TARGET_MS = 50.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdata", type=Path, default=ROOT.parent / "shared" / "realdata")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--file", type=Path, help="lap file (default: the largest 24 h one)")
    args = parser.parse_args()
    path = args.file or max((p for p in args.realdata.glob("*/*/*/*laps.csv")
                             if "24h" in p.parent.name), key=lambda p: p.stat().st_size,
                            default=None)
    if path is None:
        print(f"no 24 h lap file under {args.realdata}")
        return 1
    rng = random.Random(2024)
    with tempfile.TemporaryDirectory() as tmp, RaceStore(Path(tmp) / "race.duckdb") as store:
        result = import_lap_file(store, path)
        prepared = load_prepared(store, result.race_id)
        end = float(prepared.laps["elapsed_s"].max())
        times = [rng.uniform(0.0, end) for _ in range(args.runs)]
        race_state(store, result.race_id, times[0])  # warm-up
        full, compute = [], []
        for t in times:
            started = time.perf_counter()
            race_state(store, result.race_id, t)
            full.append(time.perf_counter() - started)
            started = time.perf_counter()
            standings_at(prepared, t)
            compute.append(time.perf_counter() - started)
        started = time.perf_counter()
        load_prepared(store, result.race_id)
        load_once = time.perf_counter() - started
    full_ms, compute_ms = statistics.median(full) * 1000, statistics.median(compute) * 1000
    print(f"{path.relative_to(path.parents[3])}: {result.laps} laps, {result.cars} cars, "
          f"{end / 3600:.1f} h; {args.runs} random times")
    print(f"  load + compute (race_state):     {full_ms:6.1f} ms median (target ≤ "
          f"{TARGET_MS:g})")
    print(f"  compute only (standings_at):     {compute_ms:6.1f} ms median")
    print(f"  load only (load_prepared, once): {load_once * 1000:6.1f} ms")
    return 0 if full_ms <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
