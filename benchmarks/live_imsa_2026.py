"""IMSA 2026 feed: a real race served poll by poll as the CDN serves it, and what is stored.

A real IMSA lap file is rebuilt into live payloads in the 2026 layout (``FeedBuilder``
layout ``imsa-2026``: JSON-boolean ``P``, "Time to go: " prefix, names as UTF-8 read as
Latin-1, transponder placeholder rows) and served over local HTTP poll by poll (race time
``--step`` s apart, lossless poll times) behind ``CachingFeedServer``: a repeated URL gets
the CDN's cached copy, only a fresh ``_=<ms>`` reaches the origin. ``LiveSession`` follows
it through the real fetch path. Printed: laps in the file, laps stored with their time,
laps stored with the file's exact time and ELAPSED, laps invented (not in the file), names
stored with mojibake, whether the final class order is the file's, requests and CDN hits.

``--no-header-check``: the CDN does not refuse requests without the official page's
Referer/Origin (to measure a client that sends none, e.g. an older checkout).

Usage: ``python benchmarks/live_imsa_2026.py [--file PATH] [--step S] [--no-header-check]
[--json]``. Needs ../shared/realdata (default: IMSA 2023 Indianapolis, 4,997 laps).
"""

from __future__ import annotations

import argparse
import json
import sys
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
    CachingFeedServer,
    FeedState,
    official_frames,
    poll_times,
)

DEFAULT = ROOT.parent / "shared/realdata/imsa/2023/19-indianapolis-motor-speedway-rc/laps.csv"


def measure(path: Path, step_s: float, header_check: bool) -> dict:
    frames = official_frames(path.read_bytes(), str(path))
    official = frames["laps"]
    builder = FeedBuilder(official, frames["flag_periods"], event="IMSA 2026 measure")
    state = FeedState(builder=builder, layout="imsa-2026")
    main, flag = FEED_PATHS["imsa-2026"]
    store = RaceStore(":memory:")
    started = time.perf_counter()
    with CachingFeedServer(state, None if header_check else {}) as server:
        session = LiveSession(store, LiveConfig(
            source="imsa", url=server.url(main) + "?callback=jsonpRaceResults",
            flag_url=server.url(flag) + "?callback=jsonpRaceData", race_id="imsa-2026"),
            fetcher=Fetcher(timeout_s=2.0, attempts=2, retry_delay_s=0.01,
                            min_interval_s=0.0), recorder=False)
        times = poll_times(builder, step_s, builder.end_s + 30)
        statuses: dict[str, int] = {}
        for t in times:
            state.clock = t
            status = session.poll_once().status
            statuses[status] = statuses.get(status, 0) + 1
    seconds = time.perf_counter() - started
    live = store.table("laps", "imsa-2026") if store.has_race("imsa-2026") else None
    key = ["number", "lap_number"]
    figures = {"file": str(path.relative_to(ROOT.parent)) if path.is_relative_to(ROOT.parent)
               else str(path), "laps_in_file": len(official), "polls": len(times),
               "requests": len(state.requests), "cdn_hits": state.cdn_hits,
               "statuses": statuses, "seconds": round(seconds, 1)}
    if live is None or live.empty:
        figures.update(laps_stored=0, laps_with_time=0, laps_exact=0, laps_invented=0,
                       names_mojibake=0, class_order_exact=False)
        return figures
    merged = official.merge(live, on=key, how="left", suffixes=("_o", "_l"))
    exact = (np.round(merged["lap_time_s_o"] * 1000) == np.round(merged["lap_time_s_l"] * 1000)) \
        & (np.round(merged["elapsed_s_o"] * 1000) == np.round(merged["elapsed_s_l"] * 1000))
    invented = live.merge(official[key], on=key, how="left", indicator=True)
    names = live["driver_name"].dropna().astype(str)
    order_live, _ = standings_at(prepare_laps(live, store.table("flag_periods", "imsa-2026")))
    order_file, _ = standings_at(prepare_laps(official, frames["flag_periods"]))
    by_class = {c: g["number"].tolist() for c, g in order_file.groupby("class", sort=False)}
    live_class = {c: g["number"].tolist() for c, g in order_live.groupby("class", sort=False)}
    figures.update(
        laps_stored=len(live), laps_with_time=int(live["lap_time_s"].notna().sum()),
        laps_exact=int(exact.sum()), laps_stored_twice=int(live.duplicated(key).sum()),
        laps_invented=int((invented["_merge"] == "left_only").sum()),
        names_mojibake=int(names.str.contains("Ã|Â").sum()),
        class_order_exact=by_class == live_class)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=DEFAULT)
    parser.add_argument("--step", type=float, default=10.0, help="poll step (race s)")
    parser.add_argument("--no-header-check", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.file.exists():
        print(f"error: {args.file} is absent (needs ../shared/realdata)", file=sys.stderr)
        return 2
    figures = measure(args.file, args.step, not args.no_header_check)
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name:>18}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
