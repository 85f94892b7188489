"""Speed of the race feed's derivation on a 24 h race, against the import's own derivation.

For ``../shared/realdata/wec/2024/le-mans-24h/laps.csv`` (or ``--file``) this parses the lap
file once, then times, alternately and several times each:

- baseline: ``race.analysis.laps.derive_laps`` plus the pit stops and stints (what the
  import derived before the feed existed: ``build_race_frames`` without ``events``);
- events: ``race.analysis.events.race_events`` on those derived laps and flag periods
  (every stored kind; alerts are read from their table).

Prints the medians, the ratio events / baseline and whether the events stay within the
budget of 0.5 s (issue #14).

Usage: ``python benchmarks/events_speed.py [--runs N] [--file PATH]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from race.analysis import stints as stint_tables  # noqa: E402
from race.analysis.events import race_events  # noqa: E402
from race.analysis.laps import derive_laps  # noqa: E402
from race.sources.lapfile import parse_lap_file  # noqa: E402

BUDGET_S = 0.5
DEFAULT = ROOT.parent / "shared" / "realdata" / "wec" / "2024" / "le-mans-24h" / "laps.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--file", type=Path, default=DEFAULT)
    args = parser.parse_args()
    if not args.file.exists():
        print(f"{args.file} is absent: nothing to measure")
        return 0
    parsed = parse_lap_file(args.file.read_bytes(), str(args.file))
    base, feed = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        derived, periods = derive_laps(parsed)
        stint_tables.pit_stops(derived)
        stint_tables.stints(derived)
        base.append(time.perf_counter() - started)
        started = time.perf_counter()
        events = race_events(derived, periods)
        feed.append(time.perf_counter() - started)
    b, e = statistics.median(base), statistics.median(feed)
    counts = events["kind"].value_counts()
    print(f"{args.file}: {len(parsed):,} laps, {parsed['number'].nunique()} cars, "
          f"{len(events):,} events ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    print(f"baseline (derive laps, stops, stints): median {b * 1000:.1f} ms of {args.runs}")
    print(f"events (race_events):                  median {e * 1000:.1f} ms of {args.runs}")
    print(f"ratio events / baseline: {e / b:.2f}; budget {BUDGET_S} s: "
          f"{'within' if e <= BUDGET_S else 'EXCEEDED'} ({e / BUDGET_S:.0%} of it)")
    return 0 if e <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
