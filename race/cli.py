"""The command line: ``python -m race COMMAND`` (``--help`` on each).

Errors print one line (``error: …``) and exit with status 2 (bad input) or 1 (failure);
never a traceback. The database is ``--db``, else ``$RACE_DB``, else ``data/race.duckdb``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from race.errors import RaceDataError, one_line
from race.settings import resolve_db_path

# An error or warning is one line a user reads at a glance: a long value is cut, not echoed.
MAX_LINE_CHARS = 300


def error_line(exc: BaseException | str, prefix: str = "error: ") -> str:
    """``error: <message>`` on one line of at most ``MAX_LINE_CHARS`` characters."""
    return one_line(f"{prefix}{exc}", MAX_LINE_CHARS)

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(name: str, help_text: str,
            configure: Callable[[argparse.ArgumentParser], None]) -> Callable[[Handler], Handler]:
    """Register a sub-command: its help, its arguments and its handler."""
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = (help_text, configure, handler)
        return handler
    return register


def _db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="DuckDB file (default: $RACE_DB or data/race.duckdb)")


def _json_default(value: object) -> object:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _clean(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is not None and hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def print_json(data: object) -> None:
    print(json.dumps(data, default=_json_default, ensure_ascii=False, indent=1))


def open_store(args: argparse.Namespace, *, read_only: bool = False):
    from race.store import RaceStore
    path = resolve_db_path(getattr(args, "db", None))
    if read_only and not path.exists():
        raise RaceDataError(f"no database at {path}: import a race first "
                            "('python -m race import PATH' or 'python -m race sample')")
    return RaceStore(path, read_only=read_only)


# -- import --------------------------------------------------------------------------------
def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="official lap files (Analysis / Time Cards CSV) or folders of them")
    _db(p)
    p.add_argument("--series", choices=["WEC", "IMSA"], type=str.upper,
                   help="series (default: detected from the classes)")
    p.add_argument("--event", help="event name (default: from the path)")
    p.add_argument("--year", type=int, help="season (default: from the path)")
    p.add_argument("--json", action="store_true", help="print a JSON list of imported races")


def is_lap_file_name(name: str) -> bool:
    """laps.csv, ``<session>-laps.csv`` (beside ``<session>-results.csv`` and
    ``<session>-weather.csv``, as the importer pairs them), *Analysis*, *Time Cards*."""
    lowered = name.lower()
    return lowered.endswith(".csv") and (
        lowered == "laps.csv" or re.search(r"[-_ ]laps\.csv$", lowered) is not None
        or "analysis" in lowered or "time cards" in lowered)


def lap_files_in(paths: Sequence[str]) -> list[Path]:
    """Expand folders to the lap files inside them (``is_lap_file_name``)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file()
                           and is_lap_file_name(p.name))
            if not found:
                raise RaceDataError(f"{path}: no lap files (laps.csv, <session>-laps.csv, "
                                    "*Analysis*.csv, *Time Cards*.csv) in this folder")
            files.extend(found)
        else:
            files.append(path)
    return files


@command("import", "import official lap files into the database", _import_args)
def cmd_import(args: argparse.Namespace) -> int:
    from race.importer import import_lap_file
    files = lap_files_in(args.paths)
    results, failures = [], 0
    with open_store(args) as store:
        for i, path in enumerate(files, 1):
            try:
                result = import_lap_file(store, path, series=args.series, event=args.event,
                                         year=args.year)
            except RaceDataError as exc:
                failures += 1
                print(error_line(exc), file=sys.stderr)
                continue
            results.append(result.as_json())
            if not args.json:
                state = "unchanged" if result.unchanged else f"{result.seconds:.2f} s"
                print(f"[{i}/{len(files)}] {result.race_id}: {result.laps} laps, "
                      f"{result.cars} cars, {', '.join(result.classes)} ({state})")
                for warning in result.warnings:
                    print("  " + error_line(warning, "warning: "))
    if args.json:
        print_json(results)
    # A file that cannot be imported is bad input, like every RaceDataError: status 2.
    return 2 if failures else 0


# -- races ---------------------------------------------------------------------------------
def _races_args(p: argparse.ArgumentParser) -> None:
    _db(p)
    p.add_argument("--json", action="store_true", help="print JSON")


@command("races", "list the races in the database", _races_args)
def cmd_races(args: argparse.Namespace) -> int:
    with open_store(args, read_only=True) as store:
        races = store.races()
    rows = [{k: _clean(v) for k, v in row.items()} for row in races.to_dict("records")]
    if args.json:
        print_json(rows)
    elif not rows:
        print("no races yet: 'python -m race import PATH' or 'python -m race sample'")
    else:
        for r in rows:
            print(f"{r['race_id']}: {r['series']} {r['season']} {r['event']}, {r['laps']} laps, "
                  f"{r['cars']} cars")
    return 0


# -- classification ------------------------------------------------------------------------
def _classification_args(p: argparse.ArgumentParser) -> None:
    _db(p)
    p.add_argument("--race", required=True, help="race id (see 'races')")
    p.add_argument("--at", type=float, metavar="SECONDS",
                   help="race time in seconds from the start (default: the end)")
    p.add_argument("--json", action="store_true", help="print JSON")


CLASSIFICATION_FIELDS = ["number", "class", "position", "class_position", "laps",
                         "gap_to_leader", "interval", "class_gap", "class_interval",
                         "last_lap_s", "best_lap_s", "pit_stops", "driver", "status"]


@command("classification", "running order at any race time", _classification_args)
def cmd_classification(args: argparse.Namespace) -> int:
    from race.present.queries import race_state
    if args.at is not None and (args.at < 0 or not math.isfinite(args.at)):
        raise RaceDataError(f"--at must be a race time in seconds ≥ 0, not {args.at}")
    with open_store(args, read_only=True) as store:
        state = race_state(store, args.race, args.at)
    rows = [{k: _clean(row[k]) for k in CLASSIFICATION_FIELDS}
            for row in state.standings.to_dict("records")]
    if args.json:
        print_json(rows)
    else:
        print(f"{args.race} at {state.t_s:.0f} s, flag {state.flag}")
        for r in rows:
            gap = r["gap_to_leader"]
            print(f"{r['position']:>3} {r['class']:<10} {r['class_position']:>3} "
                  f"#{r['number']:<4} {r['laps']:>4} laps  {gap if gap is not None else '':>10}"
                  f"  {r['driver'] or ''}  {r['status']}")
    return 0


# -- export --------------------------------------------------------------------------------
def _export_args(p: argparse.ArgumentParser) -> None:
    _db(p)
    p.add_argument("--race", required=True, help="race id (see 'races')")
    p.add_argument("--table", required=True, choices=["laps", "stints", "pit_stops", "flags"])
    p.add_argument("--format", required=True, choices=["csv", "parquet"])
    p.add_argument("--out", required=True, help="output file")


@command("export", "write a race table to CSV or Parquet", _export_args)
def cmd_export(args: argparse.Namespace) -> int:
    with open_store(args, read_only=True) as store:
        rows = store.export(args.race, args.table, args.format, args.out)
    print(f"wrote {rows} rows to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m race", description="Pit Wall: endurance race timing analysis.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, configure, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        configure(p)
        p.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _load_optional_commands()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except RaceDataError as exc:
        print(error_line(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error of ours
        sys.stderr.close()
        return 0
    except Exception as exc:  # the last guard: a one-line message, never a traceback
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        print(error_line(f"unexpected {type(exc).__name__}: {exc} (run with -v and report it)"),
              file=sys.stderr)
        return 1


def _load_optional_commands() -> None:
    """Import the modules of ``race.commands``; each registers its commands (sample, live …)."""
    import importlib
    import pkgutil

    import race.commands
    for info in pkgutil.iter_modules(race.commands.__path__):
        importlib.import_module(f"race.commands.{info.name}")
