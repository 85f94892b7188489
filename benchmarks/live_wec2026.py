"""A real WEC race served poll by poll in the 2026 live layout over local HTTP, with faults.

The race's official lap file (default ``../shared/realdata/wec/2025/spa-6h/laps.csv``) is
rebuilt as the 2026 ``data.json`` at each poll time (``FeedBuilder.wec_2026_payload``:
``timestamp`` 0, ``elapsedTime``, ``startTime``-anchored ``progressFlagState``, crews by
``driverId``…) and served by a real HTTP server on 127.0.0.1; one poll in ``--fault-every``
gets a fault (500, reset, truncated body, stale copy, duplicate, a request never answered),
as ``tests/test_live_http.py`` does. Printed: laps in the file, laps stored, laps stored
with their exact time and ELAPSED, laps invented, cars whose final class position differs
from the file's, the poll statuses, the live state's ``problem`` at the end and the number of
good polls after which it was set (a false alarm of the drift check).

Usage: ``python benchmarks/live_wec2026.py [--file PATH] [--step S] [--end S]
[--fault-every N] [--json]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from race.analysis.standings import prepare_laps, standings_at  # noqa: E402
from race.live.session import LiveConfig, LiveSession  # noqa: E402
from race.sources.fetch import Fetcher  # noqa: E402
from race.sources.replay import FeedBuilder  # noqa: E402
from race.store import RaceStore  # noqa: E402
from tests.live_helpers import (  # noqa: E402
    FEED_PATHS,
    FeedServer,
    FeedState,
    official_frames,
    poll_times,
)

DEFAULT = ROOT.parent / "shared" / "realdata" / "wec" / "2025" / "spa-6h" / "laps.csv"
RECOVERED = ("500", "timeout", "reset", "short-read")
LOST = ("500x3", "truncated", "stale", "duplicate", "reset-x3")


def class_order(laps, periods) -> dict[str, list[str]]:
    order, _ = standings_at(prepare_laps(laps, periods))
    return {c: g["number"].tolist() for c, g in order.groupby("class", sort=True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT)
    parser.add_argument("--step", type=float, default=10.0, help="poll step, race s")
    parser.add_argument("--end", type=float, default=None, help="stop at this race time")
    parser.add_argument("--fault-every", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.file.exists():
        print(f"error: {args.file} is absent", file=sys.stderr)
        return 2
    frames = official_frames(args.file.read_bytes(), str(args.file))
    builder = FeedBuilder(frames["laps"], frames["flag_periods"], event="WEC 2026 check")
    end = builder.end_s + 30 if args.end is None else args.end
    official = frames["laps"][frames["laps"]["elapsed_s"] <= end]
    main_path = FEED_PATHS["wec-2026"][0]
    state = FeedState(builder=builder, layout="wec-2026", timeout_sleep_s=0.5)
    statuses: dict[str, int] = {}
    flagged = 0  # good polls after which the live state said "layout not understood"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, FeedServer(state) as server:
        store = RaceStore(Path(tmp) / "race.duckdb")
        session = LiveSession(store, LiveConfig(source="wec", url=server.url(main_path),
                                                race_id="wec-2026-check"),
                              fetcher=Fetcher(timeout_s=0.25, attempts=3, retry_delay_s=0.01,
                                              min_interval_s=0.0), recorder=False)
        times = poll_times(builder, args.step, end)
        for i, t in enumerate(times):
            if i and i % args.fault_every == 0:
                state.clock = (times[i - 1] + t) / 2
                kind = LOST[(i // args.fault_every) % len(LOST)]
                faults = {"500x3": ("500",) * 3, "reset-x3": ("reset",) * 3}.get(kind, (kind,))
                state.add_fault(main_path, *faults)
                result = session.poll_once()
                key = f"{kind}:{result.status}"
                statuses[key] = statuses.get(key, 0) + 1
            state.clock = t
            if i % args.fault_every == 2:
                state.add_fault(main_path, RECOVERED[(i // args.fault_every) % len(RECOVERED)])
            result = session.poll_once()
            statuses[result.status] = statuses.get(result.status, 0) + 1
            flagged += bool(result.problem)
        seconds = time.perf_counter() - started
        live = store.table("laps", "wec-2026-check")
        periods = store.table("flag_periods", "wec-2026-check")
        problem = store.live_state("wec-2026-check").get("problem")
        weather_rows = len(store.table("weather", "wec-2026-check"))
        store.close()
    key = ["number", "lap_number"]
    merged = official.merge(live, on=key, how="outer", suffixes=("_o", "_l"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    exact = both[(np.round(both["lap_time_s_o"] * 1000) == np.round(both["lap_time_s_l"] * 1000))
                 & (np.round(both["elapsed_s_o"] * 1000) == np.round(both["elapsed_s_l"] * 1000))]
    order_file = class_order(official, frames["flag_periods"])
    order_live = class_order(live, periods) if len(live) else {}
    wrong = sum(sum(1 for a, b in zip(numbers, order_live.get(cls, []), strict=False) if a != b)
                + max(0, len(numbers) - len(order_live.get(cls, [])))
                for cls, numbers in order_file.items())
    figures = {
        "file": str(args.file), "race_end_s": round(end, 1), "polls": len(times),
        "requests": len(state.requests), "laps_in_file": len(official),
        "laps_stored": len(live), "laps_exact": len(exact),
        "laps_invented": int((merged["_merge"] == "right_only").sum()),
        "laps_missing": int((merged["_merge"] == "left_only").sum()),
        "cars_in_wrong_class_position": wrong, "cars": int(official["number"].nunique()),
        "weather_rows": weather_rows, "problem": problem if isinstance(problem, str) else None,
        "polls_with_a_problem": flagged,
        "statuses": statuses, "seconds": round(seconds, 1)}
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name:>30}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
