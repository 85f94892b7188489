"""Server-side cost of the Live fragment and of page loads on a real 24 h race.

Imports the 2024 Le Mans 24 h lap file into a temporary database, runs the app in-process
with Streamlit's AppTest and prints:

- the Live fragment (``@st.fragment(run_every="5s")``) body with no new data (caches hit)
  and with new data (a new ingest id: every cache of the race misses, as after a poll);
  the fragment times itself into ``st.session_state["pw_live_ms"]``;
- a whole script run (frame + page) per page, cold (new data) and warm;
- baselines measured in the same run: the fragment with every cache missing (what each
  refresh would cost without the data-version cache) and ``race.present.queries.race_state`` alone
  (the running order recomputed from the database, before any styling).

Targets (issue 3): fragment ≤ 50 ms without new data, ≤ 200 ms with new data; every page
< 1 s. Usage: ``python benchmarks/live_fragment.py [path/to/laps.csv] [--repeat N]``.
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
PAGES = ["pages/live.py", "pages/feed.py", "pages/laps.py", "pages/stints.py", "pages/strategy.py",
         "pages/predictions.py", "pages/anomalies.py", "pages/data.py"]


def navigation_only() -> None:
    """Make AppTest rerun through app.py as the server does (see tests/test_app.py)."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    app_test.PagesManager = NavigationPagesManager


def timed_run(at: AppTest) -> float:
    started = time.perf_counter()
    at.run()
    if at.exception:
        raise SystemExit(f"app raised: {at.exception[0].value}")
    return (time.perf_counter() - started) * 1000


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lap_file", nargs="?", default=str(DEFAULT_FILE))
    parser.add_argument("--repeat", type=int, default=7)
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

        warm_fragment, warm_run, warm_feed, new_feed = [], [], [], []
        for _ in range(args.repeat):
            warm_run.append(timed_run(at))
            warm_fragment.append(at.session_state["pw_live_ms"])
            warm_feed.append(at.session_state["pw_feed_ms"])

        new_fragment, new_run = [], []
        for i in range(args.repeat):
            store.log_ingest(kind="benchmark", source="new data", status="ok",
                             race_id=result.race_id, message=f"version bump {i}")
            new_run.append(timed_run(at))
            new_fragment.append(at.session_state["pw_live_ms"])
            new_feed.append(at.session_state["pw_feed_ms"])

        base, warm, new = median(baseline), median(warm_fragment), median(new_fragment)
        print(f"\nLive fragment body (median of {args.repeat}):")
        print(f"  no new data   {warm:7.1f} ms   target ≤ 50 ms    "
              f"({warm / new:.2f}× the same fragment with every cache missing)")
        print(f"  new data      {new:7.1f} ms   target ≤ 200 ms   "
              f"({new / base:.2f}× race_state() alone)")
        print(f"  baseline: race_state() from the database, no cache: {base:.1f} ms")
        print(f"Race feed fragment beside the board (latest 15 events): no new data "
              f"{median(warm_feed):.1f} ms, new data {median(new_feed):.1f} ms; board + feed: "
              f"{warm + median(warm_feed):.1f} ms (budget #9: ≤ 15) and "
              f"{new + median(new_feed):.1f} ms (≤ 150)")
        print("Whole Live script run (frame + page + fragments):")
        print(f"  no new data   {median(warm_run):7.1f} ms")
        print(f"  new data      {median(new_run):7.1f} ms")

        print("\nPage loads, whole script run (cold = first run after new data):")
        for page in PAGES:
            at.switch_page(page)
            cold, warm = [], []
            for i in range(max(3, args.repeat // 2)):
                store.log_ingest(kind="benchmark", source="new data", status="ok",
                                 race_id=result.race_id, message=f"page bump {page} {i}")
                cold.append(timed_run(at))
                warm.append(timed_run(at))
            flag = "ok" if max(cold) < 1000 else "SLOW"
            print(f"  {page:<22} cold {median(cold):7.1f} ms (max {max(cold):6.1f})   "
                  f"warm {median(warm):7.1f} ms   target < 1000 ms: {flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
