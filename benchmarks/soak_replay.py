"""Soak: a real 24 h race replayed through the live path at high speed while the app reruns.

A ``Replay`` of WEC Le Mans 2024 (62 cars, 15,593 laps) runs in a background thread at
``--speed`` (default 1000×: the 24 h in about 90 s) into a fresh database. Meanwhile the
main thread reruns the dashboard against the same database, as a browser left open on the
Live page would:

- ``--mode apptest`` (default): ``streamlit.testing.v1.AppTest`` reruns of ``app.py`` with
  the replay race selected (the Live page's leaderboard, flag banner and clock);
- ``--mode queries``: a loop of the ``race.queries``/store calls those pages make.

Prints the resident memory (RSS) at the start, the middle and the end, the reruns done, any
error, and the replay's figures. Expected: no errors, every lap stored once, RSS flat once
warmed up (the race's own data grows to a few MB).

Usage: ``python benchmarks/soak_replay.py [--file PATH] [--speed X] [--mode apptest|queries]``
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from race.live.replay import Replay, parse_speed  # noqa: E402
from race.queries import race_state  # noqa: E402
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT, help="official lap file")
    parser.add_argument("--speed", default="1000", help="replay speed (1–1000 or max)")
    parser.add_argument("--mode", choices=["apptest", "queries"], default="apptest")
    args = parser.parse_args()
    if not args.file.exists():
        print(f"{args.file} is absent (../shared/realdata): nothing to soak")
        return 0
    logging.basicConfig(level=logging.ERROR)
    speed = parse_speed(args.speed)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "soak.duckdb"
        store = RaceStore(db)
        replay = Replay(store, str(args.file), speed=speed, race_id="soak-replay")
        thread = threading.Thread(target=replay.run, name="replay", daemon=True)
        print(f"RSS start: {rss_mb():.0f} MB (replay of {args.file.parent.name} at "
              f"{args.speed}×, mode {args.mode})", flush=True)
        started = time.perf_counter()
        thread.start()
        app = AppReruns(db, replay.race_id) if args.mode == "apptest" else QueryLoop(
            store, replay.race_id)
        reruns, errors, samples = 0, [], []
        middle_done = False
        while thread.is_alive():
            try:
                errors.extend(app.rerun())
            except Exception as exc:  # a soak reports every failure, it does not stop
                errors.append(f"{type(exc).__name__}: {exc}")
            reruns += 1
            samples.append(rss_mb())
            if not middle_done and replay.t >= replay.end_s / 2:
                print(f"RSS middle: {samples[-1]:.0f} MB at race time "
                      f"{replay.t / 3600:.1f} h, {reruns} reruns", flush=True)
                middle_done = True
        for _ in range(5):  # the finished race, a few more reruns
            errors.extend(app.rerun())
            reruns += 1
            samples.append(rss_mb())
        seconds = time.perf_counter() - started
        status = replay.status()
        laps = len(store.table("laps", replay.race_id))
        store.close()
    warm = samples[len(samples) // 4:]
    print(f"RSS end: {samples[-1]:.0f} MB (after warm-up: min {min(warm):.0f}, "
          f"max {max(warm):.0f} MB)")
    print(f"replay: {status.polls} polls, {laps} laps stored, race time "
          f"{status.race_time_s / 3600:.1f} h in {seconds:.0f} s; {reruns} reruns; "
          f"{len(errors)} errors; replay error: {status.error}")
    for error in errors[:5]:
        print(f"  error: {error[:300]}")
    return 1 if errors or status.error else 0


if __name__ == "__main__":
    sys.exit(main())
