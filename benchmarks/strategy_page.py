"""How long the Strategy page takes to update after new laps, for a 60-car field.

Imports a 60+ car race into a temporary DuckDB (the real 2024 Le Mans 24 h, 62 cars, when
../shared/realdata is present; else a generated 24 h WEC sample race), then at several race
times measures what the page does when new laps arrive: read the laps from DuckDB and build
the strategy snapshot (windows, costs, rejoin Monte Carlo with 200 draws for every car,
drive time, finish). The history (other races) is built once and cached by the page, so it
is timed separately. Baseline measured in the same run: the running order (``race_state``)
the Live page computes on the same data.

Usage: ``python benchmarks/strategy_page.py [--repeats 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from race.importer import import_lap_file
from race.present.queries import race_state, strategy_history, strategy_laps, strategy_snapshot
from race.store import RaceStore

ROOT = Path(__file__).resolve().parent.parent
REALDATA = Path(os.environ.get("RACE_REALDATA", ROOT.parent / "shared" / "realdata"))
TARGET_MS = 300.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "race.duckdb"
        with RaceStore(db) as store:
            lap_file = REALDATA / "wec" / "2024" / "le-mans-24h" / "laps.csv"
            if lap_file.is_file():
                race_id = import_lap_file(store, lap_file).race_id
                for other in ("spa-6h", "imola-6h"):
                    path = REALDATA / "wec" / "2025" / other / "laps.csv"
                    if path.is_file():
                        import_lap_file(store, path)
            else:
                from race.sample import load_sample_race
                race_id = load_sample_race(store, hours=24.0, seed=3, series="WEC",
                                           folder=tmp).race_id
            t0 = time.perf_counter()
            history = strategy_history(store, race_id)
            history_s = time.perf_counter() - t0
            laps = strategy_laps(store, race_id)
            end = float(laps["elapsed_s"].max())
            cars = laps["number"].nunique()
            print(f"{race_id}: {cars} cars, {len(laps)} laps; history of "
                  f"{len(history.summaries)} race(s) built once in {1000 * history_s:.0f} ms")
            print(f"{'race time':>10}{'laps':>7}{'read ms':>9}{'snapshot ms':>13}"
                  f"{'total ms':>10}{'standings ms':>14}{'ratio':>7}")
            totals = []
            for share in (0.25, 0.5, 0.75, 1.0):
                t_s = share * end
                reads, snaps, boards = [], [], []
                for _ in range(args.repeats):
                    a = time.perf_counter()
                    fresh = strategy_laps(store, race_id)   # new laps arrived: read again
                    b = time.perf_counter()
                    strategy_snapshot(store, race_id, t_s, history=history, laps=fresh)
                    c = time.perf_counter()
                    race_state(store, race_id, t_s)
                    d = time.perf_counter()
                    reads.append(b - a)
                    snaps.append(c - b)
                    boards.append(d - c)
                read, snap, board = (1000 * statistics.median(x) for x in (reads, snaps, boards))
                totals.append(read + snap)
                print(f"{t_s / 3600:>9.1f}h{int((laps['elapsed_s'] <= t_s).sum()):>7}"
                      f"{read:>9.0f}{snap:>13.0f}{read + snap:>10.0f}{board:>14.0f}"
                      f"{(read + snap) / board:>7.1f}")
            worst = max(totals)
            print(f"worst median update {worst:.0f} ms for {cars} cars: "
                  f"{'MET' if worst <= TARGET_MS else 'MISS'} (target ≤ {TARGET_MS:.0f} ms); "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
