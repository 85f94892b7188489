"""``python -m race download``: a season's past races from the official results portals."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from race.cli import command, open_store, print_json
from race.settings import resolve_db_path


def _download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--series", required=True, type=str.lower, choices=["imsa", "wec"])
    p.add_argument("--season", required=True, type=int, metavar="YYYY")
    p.add_argument("--event", metavar="REGEX",
                   help="only events whose folder name matches (any case), e.g. 'sebring|mans'")
    p.add_argument("--base-url", metavar="URL",
                   help="the portal's Results/ folder (default: the official one)")
    p.add_argument("--list", action="store_true", help="list the races, download nothing")
    p.add_argument("--folder", metavar="DIR",
                   help="where downloaded files are kept (default: downloads/ beside the "
                        "database); a file already there is not fetched again")
    p.add_argument("--pause", type=float, default=1.0, metavar="S",
                   help="seconds between two requests to the portal (default 1)")
    p.add_argument("--db", help="DuckDB file (default: $RACE_DB or data/race.duckdb)")
    p.add_argument("--json", action="store_true", help="print JSON")


def download_folder(db: str | None, folder: str | None) -> Path:
    return Path(folder) if folder else resolve_db_path(db).parent / "downloads"


@command("download", "list and import a season's races from the official results portals "
         "(IMSA Time Cards, WEC Analysis)", _download_args)
def cmd_download(args: argparse.Namespace) -> int:
    from race.sources.portal import download_and_import, list_season, portal_fetcher

    fetcher = portal_fetcher(args.pause)
    quiet = args.json or not sys.stderr.isatty()

    def progress(fraction: float, text: str) -> None:
        if not quiet:
            print(f"\r{fraction:4.0%} {text[:70]:<70}", end="", file=sys.stderr, flush=True)

    races = list_season(args.series, args.season, fetcher=fetcher, base_url=args.base_url,
                        event=args.event, progress=progress)
    if not quiet:
        print(file=sys.stderr)
    if args.list or not races:
        if args.json:
            print_json([r.as_json() for r in races])
        elif not races:
            print(f"no race session found for {args.series.upper()} {args.season}"
                  + (f" matching {args.event!r}" if args.event else ""))
        else:
            for r in races:
                print(f"{r.date or '?':<10}  {r.event}  ({r.session})  {r.url}")
        return 0
    with open_store(args) as store:
        outcomes = download_and_import(store, races, fetcher=fetcher,
                                       root=download_folder(args.db, args.folder),
                                       progress=progress)
    if not quiet:
        print(file=sys.stderr)
    if args.json:
        print_json([o.as_json() for o in outcomes])
    else:
        for o in outcomes:
            if o.ok:
                state = "unchanged" if o.unchanged else "imported"
                print(f"{o.race_id}: {o.laps} laps, {state} ({', '.join(o.files)}; "
                      f"{o.requests} file(s) fetched)")
                for warning in o.warnings:
                    print(f"  warning: {warning}")
            else:
                print(f"error: {o.race.event} {o.race.session}: {o.error}", file=sys.stderr)
    return 2 if any(not o.ok for o in outcomes) else 0
