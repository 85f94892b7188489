"""``python -m race events``: the race feed (pit in/out, driver changes, class leaders,
fastest laps, flags, retirements, alerts) in time order."""

from __future__ import annotations

import argparse

from race.analysis.events import EVENT_COLUMNS, KINDS
from race.cli import _clean, command, open_store, print_json
from race.timefmt import format_duration


def _events_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="DuckDB file (default: $RACE_DB or data/race.duckdb)")
    p.add_argument("--race", required=True, help="race id (see 'races')")
    p.add_argument("--kind", action="append", choices=KINDS, metavar="K",
                   help=f"only this kind (repeatable): {', '.join(KINDS)}")
    p.add_argument("--json", action="store_true",
                   help="print a JSON list of {t_s, kind, number, class, lap, text}")


def event_rows(feed) -> list[dict]:
    """Events as JSON-ready dicts (missing values None)."""
    return [{c: _clean(row[c]) if row[c] is not None and row[c] == row[c] else None
             for c in EVENT_COLUMNS} for row in feed[EVENT_COLUMNS].astype(object)
            .to_dict("records")]


@command("events", "the race feed in time order: pits, leaders, fastest laps, flags …",
         _events_args)
def cmd_events(args: argparse.Namespace) -> int:
    from race.present.queries import race_feed
    kinds = tuple(dict.fromkeys(args.kind)) if args.kind else None
    with open_store(args, read_only=True) as store:
        feed = race_feed(store, args.race, kinds=kinds)
    rows = event_rows(feed)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(f"{args.race}: no events")
    for r in rows:
        print(f"{format_duration(r['t_s']):>9}  {r['kind']:<17} {r['text']}")
    return 0
