"""``python -m race sample``: write a synthetic race as an official lap file and import it."""

from __future__ import annotations

import argparse
from pathlib import Path

from race.cli import command, open_store
from race.errors import ValidationError


def _sample_args(p: argparse.ArgumentParser) -> None:
    # Values are checked by the handler, not argparse, so a bad one gets the CLI's one-line
    # error (exit 2) instead of a usage dump.
    p.add_argument("--hours", default="6", metavar="H",
                   help="race length in hours, > 0 and ≤ 30 (default 6; 20 h and longer run "
                        "on a Le Mans-like track)")
    p.add_argument("--seed", default="1", metavar="N",
                   help="random seed ≥ 0; the same seed gives the same file (default 1)")
    p.add_argument("--series", default="WEC", metavar="WEC|IMSA",
                   help="lap-file flavour: WEC Analysis (';', default) or IMSA Time Cards "
                        "(',')")
    p.add_argument("--out", metavar="FILE.csv",
                   help="write the lap file here and stop (also import it when --db is given)")
    p.add_argument("--db", help="DuckDB file (default: $RACE_DB or data/race.duckdb)")


def _number(text: str, kind: type, option: str) -> float | int:
    try:
        return kind(text)
    except ValueError:
        what = "a number of hours" if kind is float else "a whole number"
        raise ValidationError(f"{option} must be {what}, not {text!r}") from None


@command("sample", "generate a realistic synthetic race (official lap-file format)",
         _sample_args)
def cmd_sample(args: argparse.Namespace) -> int:
    from race.sample import (
        SAMPLE_YEAR,
        check_sample_args,
        generate_sample_race,
        load_sample_race,
        sample_event,
    )
    hours = _number(args.hours, float, "--hours")
    seed = _number(args.seed, int, "--seed")
    series = check_sample_args(hours, seed, args.series)
    if args.out:
        out = Path(args.out)
        if out.is_dir():
            raise ValidationError(f"--out {out} is a folder; give a file name like "
                                  "sample.csv")
        data = generate_sample_race(hours, seed, series)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        print(f"wrote {out} ({len(data) / 1e6:.1f} MB)")
        if not args.db:
            return 0
        from race.importer import import_lap_file
        with open_store(args) as store:
            result = import_lap_file(store, out, series=series,
                                     event=sample_event(hours, seed),
                                     year=SAMPLE_YEAR, data=data)
    else:
        with open_store(args) as store:
            result = load_sample_race(store, hours, seed, series)
    state = " (already loaded, unchanged)" if result.unchanged else ""
    print(f"{result.race_id}: {result.laps} laps, {result.cars} cars, "
          f"{', '.join(result.classes)}{state}")
    return 0
