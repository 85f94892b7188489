"""Soak: a real 24 h race replayed through the live path at high speed while the app reruns.

A ``Replay`` of WEC Le Mans 2024 (62 cars, 15,593 laps) runs in a background thread at
``--speed`` (default 1000×: the 24 h in about 90 s) into a fresh database. Meanwhile the
main thread reruns the dashboard against the same database, as a browser left open on the
Live page would:

- ``--mode apptest`` (default): ``streamlit.testing.v1.AppTest`` reruns of ``app.py`` with
  the replay race selected (the Live page's leaderboard, flag banner and clock);
- ``--mode queries``: a loop of the ``race.present.queries``/store calls those pages make.

The race is played ``--passes`` times (default 3) into the same database (each pass recreates
the replay race). Pass 1 is the warm-up: modules load, the race grows from nothing to its
full 15.6k laps, and with it the per-rerun working set (every new data version reloads and
prepares the whole race's laps). Later passes repeat exactly the same work, so a leak shows
as growth from one pass to the next. Prints RSS at the start, at 25/50/75/100 % of every pass
(with, at each pass end, what DuckDB, Arrow's pool and Python's live objects hold) and after
a few reruns on the finished race, the reruns, the errors and the replay's figures.

Criterion (exit 1 otherwise): no errors, every lap stored, and memory flat:
- nothing kept: Python's allocated blocks at the end of the last pass within ``--tolerance``
  (default 5 %) of the warm-up pass's end (a leak keeps objects);
- RSS steady: at the end of the last pass within ``--tolerance`` of the pass before. Measured:
  the C allocators reach their high-water mark over about two passes (RSS at the warm-up's
  end varies by 40 MB between runs of the same code, the plateau after it much less), so
  RSS is compared pass to pass, not with the warm-up.
The race's own data is a few MB (its laps ~4 MB as a DataFrame, ~7 MB prepared for the
running order).

Usage: ``python benchmarks/soak_replay.py [--file PATH] [--speed X] [--passes N]
[--mode apptest|queries] [--tolerance PCT]``
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402

from race.live.replay import Replay, parse_speed  # noqa: E402
from race.present.queries import race_state  # noqa: E402
from race.store import RaceStore  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "realdata" / "wec" / "2024" / "le-mans-24h" / "laps.csv"


def rss_mb() -> float:
    """Resident set size of this process (MB), from /proc."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class AppReruns:
    """The dashboard rerun again and again on the replay race (AppTest)."""

    def __init__(self, db: Path, race_id: str) -> None:
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.testing.v1 import AppTest, app_test

        class NavigationPagesManager(PagesManager):  # as the server: app.py navigates
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, **kwargs)
                PagesManager.uses_pages_directory = False

        app_test.PagesManager = NavigationPagesManager
        os.environ["RACE_DB"] = str(db)
        os.environ["RACE_BACKGROUND_VIDEO"] = str(db.parent / "no-video.mp4")
        self.at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        self.race_id = race_id
        self.selected = False

    def rerun(self) -> list[str]:
        if not self.selected:
            self.at.session_state["pw_pending_race"] = self.race_id
        self.at.run()
        self.selected = True
        return [str(e.value) for e in self.at.exception] + [str(e.value) for e in self.at.error]


class QueryLoop:
    """What the pages ask the store for, in a loop."""

    def __init__(self, store: RaceStore, race_id: str) -> None:
        self.store, self.race_id = store, race_id

    def rerun(self) -> list[str]:
        store = self.store
        store.data_version()
        if store.races().empty:
            return []
        state = race_state(store, self.race_id)
        if state.standings.empty and len(store.table("laps", self.race_id)):
            return ["laps stored but the running order is empty"]
        for table in ("laps", "stints", "pit_stops", "flag_periods", "cars"):
            store.table(table, self.race_id)
        store.ingest_log(50)
        return []


def held(store: RaceStore) -> str:
    """Where the memory is: DuckDB's own (buffers, indexes), Arrow's pool, and Python's
    live objects (blocks allocated and objects the garbage collector tracks): when these
    stay level while RSS creeps, the allocator's heap is fragmenting, nothing is kept."""
    return (f"DuckDB {store.memory_mb():.0f} MB, Arrow pool "
            f"{pa.total_allocated_bytes() / 2 ** 20:.0f} MB, Python "
            f"{sys.getallocatedblocks() / 1e6:.2f} M blocks, {len(gc.get_objects()) / 1e6:.2f} M "
            "objects")


def play(replay: Replay, app: AppReruns | QueryLoop, label: str,
         errors: list[str], store: RaceStore) -> tuple[int, float, int]:
    """One pass: the replay in its thread, the app rerun meanwhile; RSS at each quarter.

    Returns:
        (reruns done, RSS at the end in MB, Python's allocated blocks at the end).
    """
    thread = threading.Thread(target=replay.run, name="replay", daemon=True)
    thread.start()
    reruns, quarters = 0, [0.25, 0.5, 0.75]
    while thread.is_alive():
        try:
            errors.extend(app.rerun())
        except Exception as exc:  # a soak reports every failure, it does not stop
            errors.append(f"{type(exc).__name__}: {exc}")
        reruns += 1
        if quarters and replay.t >= replay.end_s * quarters[0]:
            print(f"  {label} {quarters.pop(0):4.0%}: RSS {rss_mb():4.0f} MB "
                  f"({reruns} reruns)", flush=True)
    gc.collect()
    end = rss_mb()
    print(f"  {label} 100%: RSS {end:4.0f} MB ({reruns} reruns; {held(store)})", flush=True)
    return reruns, end, sys.getallocatedblocks()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT, help="official lap file")
    parser.add_argument("--speed", default="1000", help="replay speed (1–1000 or max)")
    parser.add_argument("--passes", type=int, default=3, help="replays of the race (≥ 3)")
    parser.add_argument("--mode", choices=["apptest", "queries"], default="apptest")
    parser.add_argument("--tolerance", type=float, default=5.0,
                        help="allowed growth of kept objects over the warm-up pass and of "
                             "RSS over the pass before (%%)")
    args = parser.parse_args()
    if not args.file.exists():
        print(f"{args.file} is absent (../shared/realdata): nothing to soak")
        return 0
    logging.basicConfig(level=logging.ERROR)
    speed = parse_speed(args.speed)
    passes = max(3, args.passes)
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "soak.duckdb"
        store = RaceStore(db)
        print(f"RSS start: {rss_mb():.0f} MB (replay of {args.file.parent.name} at "
              f"{args.speed}×, {passes} passes, mode {args.mode})", flush=True)
        started = time.perf_counter()
        ends, blocks, reruns, status = [], [], 0, None
        app: AppReruns | QueryLoop | None = None
        for number in range(1, passes + 1):
            replay = Replay(store, str(args.file), speed=speed, race_id="soak-replay")
            if app is None:
                app = AppReruns(db, replay.race_id) if args.mode == "apptest" else QueryLoop(
                    store, replay.race_id)
            label = "pass 1 (warm-up)" if number == 1 else f"pass {number}"
            done, end, allocated = play(replay, app, label, errors, store)
            reruns += done
            ends.append(end)
            blocks.append(allocated)
            status = replay.status()
        for _ in range(20):  # the finished race, a few more reruns
            errors.extend(app.rerun())
            reruns += 1
        gc.collect()
        final = rss_mb()
        seconds = time.perf_counter() - started
        laps = len(store.table("laps", replay.race_id))
        store.close()
    tolerance = args.tolerance / 100
    kept = blocks[-1] / blocks[0] - 1
    steady = ends[-1] / ends[-2] - 1
    flat = kept <= tolerance and steady <= tolerance
    print(f"RSS end: {final:.0f} MB after 20 more reruns; pass ends "
          f"{' → '.join(f'{e:.0f}' for e in ends)} MB (last − warm-up: "
          f"{ends[-1] - ends[0]:+.0f} MB, {ends[-1] / ends[0] - 1:+.1%})")
    print(f"kept objects: Python's allocated blocks, last pass end vs warm-up end {kept:+.1%}; "
          f"RSS, last pass end vs the pass before {steady:+.1%} (limit {args.tolerance:g} % "
          f"each): {'flat' if flat else 'GROWING'}")
    print(f"replay: {status.polls} polls a pass, {laps} laps stored, race time "
          f"{status.race_time_s / 3600:.1f} h; {passes} passes in {seconds:.0f} s; "
          f"{reruns} reruns; {len(errors)} errors; replay error: {status.error}")
    for error in errors[:5]:
        print(f"  error: {error[:300]}")
    return 1 if errors or status.error or not flat or not laps else 0


if __name__ == "__main__":
    sys.exit(main())
