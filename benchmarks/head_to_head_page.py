"""CPU time of the Head-to-head page and of the Laps page with its weather strip, cold and warm.

Imports the real 2024 Le Mans 24 h (62 cars, 15.6k laps) and, for the weather, the 2024 Road
Atlanta 10 h (IMSA, with its weather file) from ../shared/realdata into a temporary database
(a generated 24 h race when the real files are absent), then renders each page under
Streamlit's ``AppTest``:

* cold: every Streamlit cache and ``ui.render_cache`` emptied first (the first visit after
  new data), the process CPU time of one run of app.py with the page;
* warm: the same run again (a rerun with no new data);
* baseline, measured in the same run: the Laps page without the weather strip's race (Le
  Mans has no weather), and the Stints page, cold.

Target (issue #14): the Head-to-head page's cold render ≤ 800 ms CPU on a 24 h race.

Usage: ``python benchmarks/head_to_head_page.py [--repeats 3]``
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
REALDATA = Path(os.environ.get("RACE_REALDATA", ROOT.parent / "shared" / "realdata"))
LE_MANS = REALDATA / "wec" / "2024" / "le-mans-24h" / "laps.csv"
ROAD_ATLANTA = REALDATA / "imsa" / "2024" / "19-road-atlanta" / "laps.csv"
TARGET_MS = 800.0


def _app_test(db: Path):
    """AppTest of app.py that keeps ``st.navigation`` between runs (tests/test_app.py)."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest, app_test

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    app_test.PagesManager = NavigationPagesManager
    os.environ.update(RACE_DB=str(db), RACE_MONITOR="off",
                      RACE_BACKGROUND_VIDEO=str(db.parent / "none.mp4"))
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)


def _clear_caches() -> None:
    """Every cached read and shaped table or figure (the one store per process stays)."""
    import streamlit as st

    from ui import data, render_cache

    st.cache_data.clear()
    for cached in data.VERSIONED:
        cached.clear()
    render_cache.clear()


def _cpu_ms(at, page: str) -> float:
    start = time.process_time()
    at.switch_page(page).run()
    spent = 1000 * (time.process_time() - start)
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].value}")
    return spent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    # Caches cleared outside a script run log "No runtime found" once per cache.
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from race.importer import import_lap_file
    from race.store import RaceStore

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "race.duckdb"
        with RaceStore(db) as store:
            if ROAD_ATLANTA.is_file():
                import_lap_file(store, ROAD_ATLANTA)
            if LE_MANS.is_file():
                race_id = import_lap_file(store, LE_MANS).race_id   # newest: the default
            else:
                from race.sample import load_sample_race
                race_id = load_sample_race(store, hours=24.0, seed=3, folder=tmp).race_id
            laps = len(store.table("laps", race_id, ["lap_number"]))
        at = _app_test(db)
        at.run()
        print(f"{race_id}: {laps} laps (the page's default pair: the class's two leaders)")
        print(f"{'page':<34}{'cold ms':>9}{'warm ms':>9}")
        results = {}
        pages = [("Head-to-head", "pages/head_to_head.py"), ("Laps (no weather)", "pages/laps.py"),
                 ("Stints & pits (baseline)", "pages/stints.py")]
        for name, page in pages:
            cold, warm = [], []
            for _ in range(args.repeats):
                at.switch_page("pages/data.py").run()
                _clear_caches()
                cold.append(_cpu_ms(at, page))
                warm.append(_cpu_ms(at, page))
            results[name] = statistics.median(cold)
            print(f"{name:<34}{statistics.median(cold):>9.0f}{statistics.median(warm):>9.0f}")
        if ROAD_ATLANTA.is_file():
            at.switch_page("pages/data.py").run()
            at.sidebar.selectbox(key="pw_series").set_value("IMSA").run()
            cold, warm = [], []
            for _ in range(args.repeats):
                at.switch_page("pages/data.py").run()
                _clear_caches()
                cold.append(_cpu_ms(at, "pages/laps.py"))
                warm.append(_cpu_ms(at, "pages/laps.py"))
            print(f"{'Laps + weather (Road Atlanta 10h)':<34}{statistics.median(cold):>9.0f}"
                  f"{statistics.median(warm):>9.0f}")
        verdict = "within" if results["Head-to-head"] <= TARGET_MS else "over"
        print(f"Head-to-head cold render: {results['Head-to-head']:.0f} ms CPU, {verdict} the "
              f"{TARGET_MS:.0f} ms target (app.py frame and sidebar included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
