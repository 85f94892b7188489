"""CPU time of the Live page's track-position ring fragment on a real 24 h race.

Imports the 2024 Le Mans 24 h lap file (62 cars) into a temporary database, runs the app
in-process with Streamlit's AppTest (as ``benchmarks/live_fragment.py`` does) and prints the
ring fragment's own time (``st.session_state["pw_ring_cpu_ms"]``, process CPU time, and
``pw_ring_ms``, wall time), median of ``--repeat`` runs:

- no new data (the figure of this data version and race second is kept);
- a new race second, same data (a live race between polls: positions and figure remade
  from the kept per-car basis);
- new data (a new ingest id: every cache of the race misses, as after a poll);
- a replay moment (the basis of the laps up to t, then the figure).

Targets (issue #14, #9's budget): no new data ≤ 15 ms, new data ≤ 150 ms. Exit status 1
when one is missed (``--no-fail``: 0).
Usage: ``python benchmarks/ring_fragment.py [path/to/laps.csv] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from live_fragment import DEFAULT_FILE, navigation_only, shared_script_cache  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lap_file", nargs="?", default=str(DEFAULT_FILE))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()
    lap_file = Path(args.lap_file)
    if not lap_file.is_file():
        print(f"no lap file at {lap_file}: pass one (a real 24 h race) as argument")
        return 2
    logging.disable(logging.WARNING)

    from streamlit.testing.v1 import AppTest

    from race.importer import import_lap_file
    from race.store import RaceStore

    navigation_only()
    shared_script_cache()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "race.duckdb"
        os.environ["RACE_DB"] = str(db)
        os.environ["RACE_BACKGROUND_VIDEO"] = str(Path(tmp) / "none.mp4")
        with RaceStore(db) as store:
            result = import_lap_file(store, lap_file)
        print(f"race {result.race_id}: {result.laps} laps, {result.cars} cars "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at.run()
        if at.exception:
            raise SystemExit(f"app raised: {at.exception[0].value}")
        store = at.session_state["pw_selection"].store
        from ui import data as ui_data

        def run() -> tuple[float, float]:
            at.run()
            if at.exception:
                raise SystemExit(f"app raised: {at.exception[0].value}")
            return at.session_state["pw_ring_cpu_ms"], at.session_state["pw_ring_ms"]

        cases: dict[str, list[tuple[float, float]]] = {}
        cases["no new data"] = [run() for _ in range(args.repeat)]
        second = []
        for _ in range(args.repeat):
            ui_data.track_ring.clear()  # the next race second: a new figure, the same basis
            second.append(run())
        cases["new race second, same data"] = second
        fresh = []
        for i in range(args.repeat):
            store.log_ingest(kind="benchmark", source="new data", status="ok",
                             race_id=result.race_id, message=f"bump {i}")
            ui_data.render_cache.clear()
            fresh.append(run())
        cases["new data"] = fresh
        at.toggle(key="pw_replay").set_value(True)
        at.run()
        replay = []
        for i in range(args.repeat):
            at.select_slider(key="pw_replay_t").set_value(300 + 60 * i)
            replay.append(run())
        cases["replay moment (new t)"] = replay

    targets = {"no new data": 15.0, "new data": 150.0}
    missed = []
    print("\nTrack-position ring fragment (median of "
          f"{args.repeat}; CPU = process CPU time, wall in brackets):")
    for name, values in cases.items():
        cpu = statistics.median(v[0] for v in values)
        wall = statistics.median(v[1] for v in values)
        target = targets.get(name)
        verdict = ""
        if target is not None:
            ok = cpu <= target
            verdict = f"  target ≤ {target:.0f} ms: {'ok' if ok else 'MISSED'}"
            if not ok:
                missed.append(f"{name} {cpu:.0f} ms > {target:.0f} ms")
        print(f"  {name:<28} CPU {cpu:7.1f} ms  (wall {wall:7.1f} ms){verdict}")
    if missed:
        print("missed: " + "; ".join(missed))
        return 0 if args.no_fail else 1
    print("every target met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
