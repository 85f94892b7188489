"""Snapshot publishing for read-only replicas: size and time on a 24 h race and a small one.

A temporary database receives the small sample race (6 h, seed 1) and a real 24 h race (WEC
Le Mans 2024 from ../shared/realdata, 62 cars, 15.6k laps; ``--file`` names another). Then:

1. both finished: the first snapshot (the finished races' file written) and the next one
   (the finished file reused; only the live part, here empty, is written);
2. each race live: the race replayed through the live path to ``--live-h`` (default 12 h;
   the small race to its end) and marked followed, then a snapshot timed ``--repeat`` times
   (what a publisher pays after each stored poll);
3. the replica side: opening the newest snapshot (``ReplicaStore``) and reading the live
   race's laps, against reading them from the writer's own database.

Sizes are of the files written (MB = 10^6 bytes); times are wall time, median of
``--repeat``. ``--block-bytes`` tries another DuckDB block size for the snapshot files.

Usage: ``python benchmarks/publish_snapshot.py [--file PATH] [--live-h H] [--repeat N]
[--block-bytes B]``
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

from race import store as store_module  # noqa: E402
from race.importer import import_lap_file  # noqa: E402
from race.live.replay import Replay  # noqa: E402
from race.sample import load_sample_race  # noqa: E402
from race.store import RaceStore, ReplicaStore  # noqa: E402

LE_MANS = ROOT.parent / "shared" / "realdata" / "wec" / "2024" / "le-mans-24h" / "laps.csv"


def mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def live_case(store: RaceStore, folder: Path, source: str, until_s: float | None,
              repeat: int, label: str) -> None:
    replay = Replay(store, source, speed=float("inf"), race_id=f"live-{label}")
    replay.run(until_s)
    store.set_live_active(replay.race_id, True)  # the replay ended: followed again
    laps = store.max_lap_number(replay.race_id)
    seconds, result = timed(lambda: store.publish_snapshot(folder), repeat)
    print(f"{label} live at {replay.t / 3600:.1f} h ({laps} laps of the leader): live part "
          f"{mb(result.live_bytes)}, finished part {mb(result.finished_bytes)} "
          f"({'rewritten' if result.finished_written else 'reused'}), publish "
          f"{seconds * 1000:.0f} ms")
    opened, replica = timed(lambda: ReplicaStore(folder), 1)
    read_s, _ = timed(lambda: replica.table("laps", replay.race_id, via_arrow=True), repeat)
    own_s, _ = timed(lambda: store.table("laps", replay.race_id, via_arrow=True), repeat)
    print(f"  replica: open {opened * 1000:.0f} ms, laps of the live race "
          f"{read_s * 1000:.1f} ms (writer's own database {own_s * 1000:.1f} ms)")
    replica.close()
    store.delete_race(replay.race_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=LE_MANS)
    parser.add_argument("--live-h", type=float, default=12.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--block-bytes", type=int)
    args = parser.parse_args()
    if args.block_bytes:
        store_module.SNAPSHOT_BLOCK_BYTES = args.block_bytes
    print(f"load average {os.getloadavg()[0]:.2f}; snapshot block size "
          f"{store_module.SNAPSHOT_BLOCK_BYTES} bytes")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with RaceStore(tmp / "race.duckdb") as store:
            small = load_sample_race(store, folder=tmp)
            big = None
            if args.file.exists():
                big = import_lap_file(store, args.file, series="WEC", event="Le Mans 24h",
                                      year=2024)
            else:
                print(f"{args.file} is absent: the small race only")
            print(f"database: {mb((tmp / 'race.duckdb').stat().st_size)} "
                  f"({small.race_id}: {small.laps} laps"
                  + (f"; {big.race_id}: {big.laps} laps" if big else "") + ")")
            folder = tmp / "snapshots"
            first, result = timed(lambda: store.publish_snapshot(folder), 1)
            print(f"all finished, first snapshot: finished part {mb(result.finished_bytes)} "
                  f"written in {first * 1000:.0f} ms, live part {mb(result.live_bytes)}")
            again, result = timed(lambda: store.publish_snapshot(folder), args.repeat)
            print(f"all finished, next snapshots: {again * 1000:.0f} ms (finished part "
                  f"{'rewritten' if result.finished_written else 'reused'})")
            live_case(store, folder, small.race_id, None, args.repeat, "small race (6 h)")
            if big is not None:
                live_case(store, folder, big.race_id, args.live_h * 3600, args.repeat,
                          "Le Mans 2024")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
