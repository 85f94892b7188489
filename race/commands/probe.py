"""``python -m race probe``: one live payload, and what the project understood of it.

What a user runs on race morning: the feed's URL goes through the same fetch path as the live
session (headers, cache-buster, retries), or a saved payload is read from a file; the parsed
session, flag periods, weather and every car are printed as a table or as one JSON object.
Exit 0: understood; 1: read, but a field the parser needs is missing (listed); 2: unreadable.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from race.cli import command, print_json
from race.errors import NotFoundError, ParseError
from race.sources.feed import FeedSnapshot, validate_snapshot
from race.sources.live_parse import SOURCES, parse_payloads
from race.timefmt import format_duration, format_lap_time


def _probe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="URL_OR_FILE",
                   help="the feed's URL (IMSA RaceResults JSONP, WEC data.json) or a saved payload")
    p.add_argument("--source", required=True, choices=SOURCES, type=str.lower,
                   help="which feed the payload comes from")
    p.add_argument("--flag-url", metavar="URL_OR_FILE",
                   help="IMSA RaceData JSONP (flag, time to go), URL or file")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def read_payload(target: str, source: str) -> tuple[bytes, str]:
    """The payload's bytes and a label: fetched like a live poll, or read from a file."""
    if target.startswith(("http://", "https://")):
        from race.sources.fetch import Fetcher
        fetcher = Fetcher()
        try:
            return fetcher.get(target, conditional=False, profile=source).body, target
        finally:
            fetcher.close()
    path = Path(target)
    if not path.is_file():
        raise NotFoundError(f"{target}: no such file (give a payload file or an http(s) URL)")
    return path.read_bytes(), str(path)


def probe(source: str, target: str, flag_target: str | None = None) -> FeedSnapshot:
    """Fetch or read the payload(s) and parse them as the live session would."""
    payloads: dict[str, bytes] = {}
    payloads["main"], label = read_payload(target, source)
    flag_label = "RaceData"
    if flag_target:
        if source != "imsa":
            raise ParseError("--flag-url is for IMSA's RaceData feed only")
        payloads["flag"], flag_label = read_payload(flag_target, source)
    return validate_snapshot(parse_payloads(source, payloads, label=label,
                                            flag_label=flag_label), label)


def _seconds(value: float | None, *, lap: bool = False) -> str:
    if value is None:
        return "—"
    return format_lap_time(value) if lap else format_duration(value)


def render_table(report: dict) -> str:
    """The probe as readable text: the session, its flag periods and weather, every car."""
    s = report["session"]
    lines = [f"source {report['source']}, layout {report['layout'] or '?'}",
             f"event {s['event'] or '—'}, session {s['session'] or '—'}, "
             f"elapsed {_seconds(s['elapsed_s'])}, remaining {_seconds(s['remaining_s'])}, "
             f"flag {s['flag'] or '—'}"]
    if s["flag_periods"]:
        lines.append("flag periods: " + "; ".join(
            f"{p['flag']} {_seconds(p['start_s'])}–"
            f"{_seconds(p['end_s']) if p['end_s'] is not None else 'now'}"
            for p in s["flag_periods"]))
    if s["weather"]:
        lines.append("weather: " + ", ".join(f"{k} {v}" for k, v in s["weather"].items()
                                             if v is not None))
    header = ("Pos", "No.", "Class", "PIC", "Laps", "Driver", "Team", "Last", "Best", "Stops",
              "Pit", "State")
    rows = [tuple("—" if v is None else str(v) for v in (
        c["position"], c["number"], c["class"], c["class_position"], c["laps"], c["driver"],
        c["team"], None if c["last_lap_s"] is None else format_lap_time(c["last_lap_s"]),
        None if c["best_lap_s"] is None else format_lap_time(c["best_lap_s"]),
        c["pit_stops"], "pit" if c["in_pit"] else "", c["state"])) for c in report["cars"]]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines.append("")
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    lines.append(f"\n{len(rows)} cars")
    if report["missing"]:
        lines.append("layout not understood: missing " + ", ".join(report["missing"]))
    lines += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(lines)


@command("probe", "fetch or read one live payload and show what the project understood of it",
         _probe_args)
def cmd_probe(args: argparse.Namespace) -> int:
    report = probe(args.source, args.target, args.flag_url).as_json()
    if args.json:
        print_json(report)
    else:
        print(render_table(report))
    # Read but not fully understood (a field the parser needs is missing): exit 1, so a
    # race-morning script notices; a payload that cannot be read at all exits 2.
    return 1 if report["missing"] else 0
