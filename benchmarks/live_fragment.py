"""Server-side cost of the Live fragment and of page loads on a real 24 h race.

Imports the 2024 Le Mans 24 h lap file into a temporary database, runs the app in-process
with Streamlit's AppTest and prints:

- the Live fragment (``@st.fragment(run_every="5s")``) body with no new data (caches hit)
  and with new data (a new ingest id: every cache of the race misses, as after a poll);
  the fragment times itself into ``st.session_state["pw_live_ms"]``;
- in the same run, the same fragment with every cache missing (``ui.data.VERSIONED`` and
  ``ui.render_cache`` cleared before each run, the data unchanged): what each refresh
  would cost without them, and ``race.present.queries.race_state`` alone (the running
  order from the database);
- a whole script run (frame + page) per page: cold (first run after new laps: a new data
  version and every memo of content, ``ui.render_cache``, emptied), warm (nothing new), and
  after another race was polled (a new data version, this race's content unchanged).

Targets (issue 13): fragment ≤ 15 ms without new data, ≤ 150 ms with new data; every page
warm ≤ 300 ms, cold ≤ 800 ms. Exit status 1 when one is missed (``--no-fail``: 0).
Usage: ``python benchmarks/live_fragment.py [path/to/laps.csv] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

DEFAULT_FILE = ROOT.parent / "shared" / "realdata" / "wec" / "2024" / "le-mans-24h" / "laps.csv"
PAGES = ["pages/live.py", "pages/feed.py", "pages/laps.py", "pages/head_to_head.py",
         "pages/stints.py", "pages/strategy.py", "pages/predictions.py", "pages/anomalies.py",
         "pages/data.py"]


def navigation_only() -> None:
    """Make AppTest rerun through app.py as the server does (see tests/test_app.py)."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    app_test.PagesManager = NavigationPagesManager


def shared_script_cache() -> None:
    """One compiled-script cache for every run, as the server keeps (AppTest makes a new one
    per run, so each run would re-parse and compile the page: 10–40 ms the server never
    spends)."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner

    shared = ScriptCache()
    app_test.ScriptCache = lambda: shared
    local_script_runner.ScriptCache = lambda: shared


CPU: list[float] = []  # process CPU time of each timed run (ms), robust to a busy machine


def timed_run(at: AppTest) -> float:
    started, started_cpu = time.perf_counter(), time.process_time()
    at.run()
    if at.exception:
        raise SystemExit(f"app raised: {at.exception[0].value}")
    CPU.append((time.process_time() - started_cpu) * 1000)
    return (time.perf_counter() - started) * 1000


def cpu_ms(at: AppTest) -> float:
    """The fragment's own CPU time (NaN when the page does not record it)."""
    state = at.session_state
    return state["pw_live_cpu_ms"] if "pw_live_cpu_ms" in state else float("nan")


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lap_file", nargs="?", default=str(DEFAULT_FILE))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-fail", action="store_true",
                        help="exit 0 even when a target is missed")
    args = parser.parse_args()
    lap_file = Path(args.lap_file)
    if not lap_file.is_file():
        print(f"no lap file at {lap_file}: pass one (a real 24 h race) as argument")
        return 2
    logging.disable(logging.WARNING)

    from streamlit.testing.v1 import AppTest

    from race.importer import import_lap_file
    from race.present.queries import race_state
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
        timed_run(at)  # imports, first caches
        store = at.session_state["pw_selection"].store

        # Baseline: no cache, the running order recomputed from the database each time.
        baseline = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            race_state(store, result.race_id)
            baseline.append((time.perf_counter() - started) * 1000)

        warm_fragment, warm_run, warm_cpu, warm_feed, new_feed = [], [], [], [], []
        for _ in range(args.repeat):
            warm_run.append(timed_run(at))
            warm_fragment.append(at.session_state["pw_live_ms"])
            warm_cpu.append(cpu_ms(at))
            warm_feed.append(at.session_state["pw_feed_ms"])

        from ui import data as ui_data

        def new_data(label: str, laps_changed: bool = True) -> None:
            """A new data version; with ``laps_changed`` also every memo of content (what
            new laps of this race do), else as when another race was polled."""
            store.log_ingest(kind="benchmark", source="new data", status="ok",
                             race_id=result.race_id, message=label)
            if laps_changed and hasattr(ui_data, "render_cache"):
                ui_data.render_cache.clear()

        new_fragment, new_run, new_cpu, other_fragment = [], [], [], []
        for i in range(args.repeat):
            new_data(f"version bump {i}")
            new_run.append(timed_run(at))
            new_fragment.append(at.session_state["pw_live_ms"])
            new_cpu.append(cpu_ms(at))
            new_feed.append(at.session_state["pw_feed_ms"])
        for i in range(args.repeat):
            new_data(f"other race {i}", laps_changed=False)
            timed_run(at)
            other_fragment.append(at.session_state["pw_live_ms"])
        missing_fragment = []
        for _ in range(args.repeat):
            for cached in ui_data.VERSIONED:
                cached.clear()
            if hasattr(ui_data, "render_cache"):  # (absent before issue 13)
                ui_data.render_cache.clear()
            timed_run(at)
            missing_fragment.append(at.session_state["pw_live_ms"])

        base, warm, new = median(baseline), median(warm_fragment), median(new_fragment)
        missing = median(missing_fragment)
        missed: list[str] = []

        def verdict(name: str, value: float, target: float) -> str:
            if value > target:
                missed.append(f"{name} {value:.0f} ms > {target:.0f} ms")
                return "MISSED"
            return "ok"

        print(f"\nLive fragment body (median of {args.repeat}; CPU = process CPU time):")
        print(f"  no new data   {warm:7.1f} ms (CPU {median(warm_cpu):6.1f})  target ≤ 15 ms: "
              f"{verdict('fragment, no new data', warm, 15):<6}  "
              f"({warm / missing:.2f}× the same fragment with every cache missing)")
        print(f"  new data      {new:7.1f} ms (CPU {median(new_cpu):6.1f})  target ≤ 150 ms: "
              f"{verdict('fragment, new data', new, 150):<6} "
              f"({new / base:.2f}× race_state() alone)")
        print(f"  another race polled (new version, this race unchanged): "
              f"{median(other_fragment):.1f} ms")
        print(f"  every cache missing (same data): {missing:.1f} ms")
        print(f"  baseline: race_state() from the database, no cache: {base:.1f} ms")
        print(f"Race feed fragment beside the board (latest 15 events): no new data "
              f"{median(warm_feed):.1f} ms, new data {median(new_feed):.1f} ms; board + feed: "
              f"{warm + median(warm_feed):.1f} ms (budget #9: ≤ 15) and "
              f"{new + median(new_feed):.1f} ms (≤ 150)")
        print("Whole Live script run (frame + page + fragments):")
        print(f"  no new data   {median(warm_run):7.1f} ms")
        print(f"  new data      {median(new_run):7.1f} ms")

        print("\nPage loads, whole script run (cold = first run after new laps; "
              "targets warm ≤ 300 ms, cold ≤ 800 ms):")
        for page in PAGES:
            at.switch_page(page)
            timed_run(at)  # the page's first run: module imports, not a data change
            cold, warm_page, other, cold_cpu, warm_page_cpu = [], [], [], [], []
            for i in range(max(3, args.repeat // 2)):
                new_data(f"page bump {page} {i}")
                cold.append(timed_run(at))
                cold_cpu.append(CPU[-1])
                warm_page.append(timed_run(at))
                warm_page_cpu.append(CPU[-1])
                new_data(f"other race {page} {i}", laps_changed=False)
                other.append(timed_run(at))
            name = page.removeprefix("pages/")
            print(f"  {page:<22} cold {median(cold):7.1f} ms (CPU {median(cold_cpu):6.1f}) "
                  f"{verdict(name + ' cold', median(cold), 800):<6}  "
                  f"warm {median(warm_page):7.1f} ms (CPU {median(warm_page_cpu):6.1f}) "
                  f"{verdict(name + ' warm', median(warm_page), 300):<6}  "
                  f"another race polled {median(other):7.1f} ms")
        if missed:
            print("\nmissed: " + "; ".join(missed))
            return 0 if args.no_fail else 1
        print("\nevery target met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
