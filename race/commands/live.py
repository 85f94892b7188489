"""``python -m race live | replay | monitor``: follow a live feed, replay a race, run the
race monitor headless.

Ctrl-C stops any of them cleanly (``live`` then prints its summary). Every poll is stored as
it arrives, so stopping never loses what was already polled.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from race.cli import command, open_store, print_json
from race.errors import RaceDataError, ValidationError

if TYPE_CHECKING:
    from race.publish import SnapshotPublisher
    from race.store import RaceStore


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", help="DuckDB file (default: $RACE_DB or data/race.duckdb)")


def _positive(text: str, option: str, *, integer: bool = False, minimum: float = 0.0,
              allow_zero: bool = False) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ValidationError(f"{option} must be {kind}, not {text!r}") from None
    if not math.isfinite(value) or value < minimum or (value == 0 and not allow_zero):
        raise ValidationError(f"{option} must be > {minimum:g}, not {text!r}")
    return value


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so a service manager stops us cleanly."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _publish_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--publish", metavar="DIR",
                   help="after every stored poll, publish a read-only snapshot of the races "
                        "into DIR for replicas (RACE_READ_FROM=DIR streamlit run app.py)")
    p.add_argument("--publish-every", default="1", metavar="S",
                   help="with --publish: at most one snapshot per S seconds (default 1)")


@contextmanager
def _publishing(store: RaceStore, args: argparse.Namespace, *,
                quiet: bool = False) -> Iterator[SnapshotPublisher | None]:
    """With ``--publish DIR``: a snapshot now, one after every change while the command
    runs (a thread), and a last one when it ends."""
    if not getattr(args, "publish", None):
        yield None
        return
    from race.publish import SnapshotPublisher, describe

    every = _positive(args.publish_every, "--publish-every", minimum=0.01)
    publisher = SnapshotPublisher(
        store, args.publish, min_interval_s=every,
        on_publish=None if quiet else lambda r: print(describe(r), flush=True))
    publisher.start()  # StoreError (folder not writable): one error line, status 2
    try:
        yield publisher
    finally:
        publisher.stop()


# -- live ----------------------------------------------------------------------------------
def _live_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", required=True, choices=["imsa", "wec"], type=str.lower,
                   help="feed layout: IMSA live scoring JSONP or WEC live JSON")
    p.add_argument("--url", required=True,
                   help="feed URL (IMSA RaceResults_JSONP.json…, WEC data.json)")
    p.add_argument("--flag-url", help="IMSA RaceData_JSONP.json (flag, time to go)")
    _db(p)
    p.add_argument("--event", help="event name for the stored race (default: from the feed)")
    p.add_argument("--interval", default="10", metavar="S",
                   help="seconds between polls (default 10, at least 1)")
    p.add_argument("--max-polls", metavar="N", help="stop after N polls (default: until "
                   "Ctrl-C)")
    p.add_argument("--retries", default="3", metavar="N",
                   help="attempts per request before a poll counts as failed (default 3)")
    p.add_argument("--retry-delay", default="5", metavar="S",
                   help="seconds between attempts (default 5)")
    p.add_argument("--timeout", default="10", metavar="S", help="request timeout (default 10)")
    _publish_args(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON only")


@command("live", "follow a live timing feed and store every lap as it happens", _live_args)
def cmd_live(args: argparse.Namespace) -> int:
    from race.live.session import LiveConfig, LiveSession
    from race.sources.fetch import Fetcher

    interval = _positive(args.interval, "--interval", minimum=0.01)
    max_polls = (int(_positive(args.max_polls, "--max-polls", integer=True, minimum=1))
                 if args.max_polls else None)
    retries = int(_positive(args.retries, "--retries", integer=True, minimum=1))
    delay = _positive(args.retry_delay, "--retry-delay", allow_zero=True)
    timeout = _positive(args.timeout, "--timeout", minimum=0.01)
    if args.flag_url and args.source != "imsa":
        raise ValidationError("--flag-url is for --source imsa (RaceData); the WEC feed "
                              "carries its flag")
    fetcher = Fetcher(timeout_s=timeout, attempts=retries, retry_delay_s=delay,
                      min_interval_s=min(2.0, interval))
    polls = 0
    with open_store(args) as store, _stop_on_sigterm(), \
            _publishing(store, args, quiet=args.json):
        session = LiveSession(store, LiveConfig(source=args.source, url=args.url,
                                                flag_url=args.flag_url, event=args.event),
                              fetcher=fetcher)
        try:
            while max_polls is None or polls < max_polls:
                started = time.monotonic()
                result = session.poll_once()
                polls += 1
                if not args.json:
                    print(f"[{polls}] {result.status}: {result.message}"
                          + (f" (race {session.race_id})" if session.race_id else "")
                          + (f" — {result.problem}" if result.problem else ""),
                          flush=True)
                if max_polls is not None and polls >= max_polls:
                    break
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
        except KeyboardInterrupt:
            if not args.json:
                print("stopped", file=sys.stderr)
        finally:
            session.stop()
            fetcher.close()
        summary = session.summary()
    if args.json:
        print_json(summary)
    else:
        print(f"race {summary['race_id']}: {summary['polls']} polls, {summary['polls_ok']} ok, "
              f"{summary['polls_failed']} failed, {summary['polls_skipped']} skipped, "
              f"{summary['laps_stored']} laps stored, {summary['marked_for_backfill']} "
              "marked for backfill")
    if summary.get("problem"):
        print(f"warning: {summary['problem']}", file=sys.stderr)
    return 0 if summary["polls_ok"] or not polls else 1


# -- replay --------------------------------------------------------------------------------
def _replay_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("race", metavar="RACE_ID|PATH",
                   help="a stored race id, an official lap file, or a recording folder "
                        "(data/raw/<race_id>)")
    p.add_argument("--speed", default="1", metavar="X",
                   help="1 to 1000 times real time, or 'max' (default 1)")
    p.add_argument("--as", dest="race_id", metavar="RACE_ID",
                   help="race id the replay writes (default replay-<id>)")
    p.add_argument("--from", dest="from_time", metavar="H:MM:SS",
                   help="start at this race time: everything before it is stored at once, "
                        "then the replay plays on at --speed (default: the start)")
    _db(p)
    _publish_args(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON only")


def _race_time_s(text: str) -> float:
    """``--from``: H:MM:SS, M:SS or seconds, as a race time (s)."""
    from race.timefmt import TimeFormatError, parse_time_s

    try:
        seconds = parse_time_s(text)
    except TimeFormatError:
        seconds = None
    if seconds is None or seconds < 0:
        raise RaceDataError(f"--from {text!r}: not a race time (H:MM:SS, M:SS or seconds, "
                            "e.g. --from 20:00:00)")
    return seconds


@command("replay", "play a stored race or a recording through the live path", _replay_args)
def cmd_replay(args: argparse.Namespace) -> int:
    from race.live.replay import Replay, parse_speed

    speed = parse_speed(args.speed)
    started = time.perf_counter()
    with open_store(args) as store, _stop_on_sigterm(), \
            _publishing(store, args, quiet=args.json):
        replay = Replay(store, args.race, speed=speed, race_id=args.race_id)
        if args.from_time:
            replay.seek(_race_time_s(args.from_time))
        if not args.json:
            print(f"replaying {args.race} into {replay.race_id} at "
                  f"{'max' if math.isinf(speed) else f'{speed:g}×'} speed "
                  f"({replay.end_s / 3600:.1f} h of race)", flush=True)
        try:
            status = replay.run()
        except KeyboardInterrupt:
            replay.stop()
            status = replay.status()
            print("stopped", file=sys.stderr)
    summary = {**status.as_json(), "seconds": round(time.perf_counter() - started, 2)}
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['race_id']}: {summary['polls']} polls, {summary['laps_stored']} laps "
              f"stored, race time {summary['race_time_s'] / 3600:.2f} h, "
              f"{summary['seconds']} s")
    if status.error:
        raise RaceDataError(status.error)
    return 0


# -- monitor -------------------------------------------------------------------------------
def _monitor_args(p: argparse.ArgumentParser) -> None:
    _db(p)
    p.add_argument("--calendar", metavar="CSV",
                   help="race calendar (default: data/calendar.csv if present, else the "
                        "built-in WEC/IMSA calendar)")
    p.add_argument("--for", dest="run_for", metavar="S",
                   help="stop after this many seconds (default: until Ctrl-C)")
    _publish_args(p)
    p.add_argument("--json", action="store_true", help="print status lines as JSON")


@command("monitor", "watch the calendar and follow every race while it is live "
         "(use when the app is not running)", _monitor_args)
def cmd_monitor(args: argparse.Namespace) -> int:
    from race.monitor import RaceMonitor, load_calendar

    run_for = _positive(args.run_for, "--for", minimum=0.01) if args.run_for else None
    calendar = Path(args.calendar) if args.calendar else None
    if calendar is not None:
        load_calendar(calendar)  # a bad file fails here, with its line
    with open_store(args) as store, _stop_on_sigterm(), \
            _publishing(store, args, quiet=args.json):
        monitor = RaceMonitor(store, calendar_path=calendar)
        monitor.start()
        deadline = None if run_for is None else time.monotonic() + run_for
        last = ""
        try:
            while deadline is None or time.monotonic() < deadline:
                status = monitor.status()
                line = (json.dumps(status, default=str) if args.json
                        else monitor.describe(status))
                if line != last:
                    print(line, flush=True)
                    last = line
                time.sleep(min(1.0, max(0.0, (deadline or math.inf) - time.monotonic())))
        except KeyboardInterrupt:
            print("stopping the monitor", file=sys.stderr)
        finally:
            monitor.shutdown()
    return 0
