"""The race monitor: calendar file, the 5-minute calendar job starting and stopping the poll
job of a live race, manual tracking and replays, one monitor per process, and a clear
message for a second process on the same database."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from race.errors import ParseError
from race.importer import import_lap_file
from race.monitor import (
    DEFAULT_CALENDAR,
    RaceMonitor,
    calendar_path,
    format_countdown,
    get_monitor,
    load_calendar,
    parse_calendar,
)
from race.sources.fetch import Fetcher
from race.sources.replay import FeedBuilder
from race.store import RaceStore
from tests.conftest import ROOT
from tests.lapfixture import render
from tests.live_helpers import (
    FEED_PATHS,
    FeedServer,
    FeedState,
    official_frames,
    poll_times,
    synthetic_rows,
)

HEADER = "series,season,event,track,start_utc,duration_h,source,feed_url,flag_url,session\n"


def wait_for(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_built_in_calendar_is_valid() -> None:
    entries = load_calendar(DEFAULT_CALENDAR)
    assert len(entries) >= 18
    assert {e.series for e in entries} == {"WEC", "IMSA"}
    assert all(e.start_utc.year == 2026 and e.start_utc.tzinfo is not None for e in entries)
    le_mans = next(e for e in entries if "Le Mans" in e.event and e.series == "WEC")
    assert le_mans.duration_s == 24 * 3600 and le_mans.source == "wec"
    assert all(e.flag_url for e in entries if e.source == "imsa")
    assert entries == sorted(entries, key=lambda e: e.start_utc)


def test_imsa_feeds_default_to_the_cdn_host() -> None:
    """IMSA live scoring is served from a CDN host since 2026: the built-in calendar uses it,
    and an IMSA row without a feed URL gets it (RaceResults and RaceData)."""
    from race.settings import IMSA_FEED_HOST, IMSA_RACE_DATA_URL, IMSA_RESULTS_URL

    assert IMSA_FEED_HOST == "dcqsrdkhg933g.cloudfront.net"
    imsa = [e for e in load_calendar(DEFAULT_CALENDAR) if e.source == "imsa"]
    assert imsa and all(e.feed_url == IMSA_RESULTS_URL and e.flag_url == IMSA_RACE_DATA_URL
                        for e in imsa)
    row = "IMSA,2026,Test,Track,2026-06-13T14:00:00Z,6,imsa,,,Race\n"
    entry = parse_calendar(HEADER + row)[0]
    assert (entry.feed_url, entry.flag_url) == (IMSA_RESULTS_URL, IMSA_RACE_DATA_URL)
    mine = "IMSA,2026,Test,Track,2026-06-13T14:00:00Z,6,imsa,https://x/R.json,,Race\n"
    assert parse_calendar(HEADER + mine)[0].flag_url is None  # a URL of one's own: as given


def test_calendar_errors_name_the_line(tmp_path: Path, monkeypatch) -> None:
    good = "WEC,2026,Test,Track,2026-06-13T14:00:00Z,6,wec,https://x/data.json,,Race\n"
    assert len(parse_calendar("# comment\n" + HEADER + good)) == 1
    with pytest.raises(ParseError, match=r"line 3.*start_utc"):
        parse_calendar(HEADER + good + good.replace("2026-06-13T14:00:00Z", "tomorrow"))
    with pytest.raises(ParseError, match="source 'ftp'"):
        parse_calendar(HEADER + good.replace(",wec,", ",ftp,"))
    with pytest.raises(ParseError, match="missing column"):
        parse_calendar("series,event\nWEC,x\n")
    mine = tmp_path / "calendar.csv"
    mine.write_text(HEADER + good)
    monkeypatch.setenv("RACE_CALENDAR", str(mine))
    assert calendar_path() == mine and load_calendar()[0].event == "Test"
    assert calendar_path(DEFAULT_CALENDAR) == DEFAULT_CALENDAR


def test_countdown_text() -> None:
    assert format_countdown(3 * 86400 + 3723) == "3 d 01:02:03"
    assert format_countdown(59) == "00:00:59" and format_countdown(-5) == "now"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_monitor_follows_a_live_race_and_stops_after_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RACE_MODELS_DIR", str(tmp_path / "models"))
    frames = official_frames(render(synthetic_rows()))
    builder = FeedBuilder(frames["laps"], frames["flag_periods"], event="Monitor Test")
    state = FeedState(builder=builder, layout="wec-current",
                      script=poll_times(builder, 10.0, builder.end_s + 30))
    start = datetime(2026, 6, 13, 14, 0, tzinfo=UTC)
    clock = Clock(start - timedelta(hours=2))
    with FeedServer(state) as server, RaceStore(tmp_path / "race.duckdb") as store:
        calendar = tmp_path / "calendar.csv"
        calendar.write_text(
            HEADER + f"WEC,2026,Monitor Test,Test Track,{start.isoformat()},0.75,wec,"
            f"{server.url(FEED_PATHS['wec-current'][0])},,Race\n")
        monitor = RaceMonitor(store, calendar_path=calendar, check_every_s=3600,
                              poll_every_s=0.05, clock=clock,
                              fetcher=lambda: Fetcher(timeout_s=2, attempts=2,
                                                      retry_delay_s=0.01, min_interval_s=0))
        monitor.start()
        try:
            wait_for(lambda: monitor.last_check is not None)
            status = monitor.status()
            assert status["running"] and not status["following"]
            assert status["next_race"]["event"] == "Monitor Test"
            assert status["next_race"]["countdown_s"] == pytest.approx(7200)
            clock.now = start  # the race is live: the next check follows it
            monitor.check_calendar()
            race_id = "wec-2026-monitor-test-race"
            assert [f["race_id"] for f in monitor.status()["following"]] == [race_id]
            wait_for(lambda: monitor.status()["following"][0]["laps_stored"] > 100)
            following = monitor.status()["following"][0]
            assert following["last_status"] in ("ok", "unchanged", "duplicate")
            assert following["last_poll_at"] and following["polls_failed"] == 0
            assert "LIVE" in RaceMonitor.describe(monitor.status())
            # The models job of a followed race stores predictions once 10 laps are in.
            assert monitor.scheduler.get_job("models") is not None
            monitor.update_models()
            assert len(store.predictions(race_id)) > 0
            clock.now = start + timedelta(hours=3)  # well after the end and the grace time
            monitor.check_calendar()
            assert not monitor.status()["following"]
            assert monitor.scheduler.get_job(f"poll:{race_id}") is None
            assert not store.live_state(race_id)["active"]
            assert len(store.table("laps", race_id)) > 100
        finally:
            monitor.shutdown()
        assert not monitor.running


def test_manual_tracking_errors_and_replay(tmp_path: Path) -> None:
    laps_file = tmp_path / "wec" / "2026" / "replay-test" / "laps.csv"
    laps_file.parent.mkdir(parents=True)
    rows = synthetic_rows()
    laps_file.write_bytes(render(rows))
    state = FeedState()  # serves nothing: every poll fails with 404
    with FeedServer(state) as server, RaceStore(tmp_path / "race.duckdb") as store:
        race_id = import_lap_file(store, laps_file, series="WEC").race_id
        monitor = RaceMonitor(store, calendar_path=DEFAULT_CALENDAR, poll_every_s=0.05,
                              fetcher=lambda: Fetcher(timeout_s=1, attempts=1,
                                                      min_interval_s=0))
        try:
            key = monitor.start_tracking("wec", server.url("/nothing.json"))
            wait_for(lambda: monitor.status()["errors"])
            assert "404" in monitor.status()["errors"][-1]["message"]
            assert monitor.status()["following"][0]["polls_failed"] >= 1
            monitor.stop_tracking(key)
            assert not monitor.status()["following"]
            with pytest.raises(ParseError):
                monitor.start_tracking("f1", "https://example.invalid/x")
            replay_id = monitor.start_replay(race_id, speed=float("inf"))
            wait_for(lambda: monitor.status()["replays"][0]["done"])
            replay = monitor.status()["replays"][0]
            assert replay["laps_stored"] == len(rows) and replay["error"] is None
            assert len(store.table("laps", replay_id)) == len(rows)
        finally:
            monitor.shutdown()


def test_one_monitor_per_process(tmp_path: Path) -> None:
    with RaceStore(tmp_path / "race.duckdb") as store:
        first = get_monitor(store, start=False, calendar_path=DEFAULT_CALENDAR)
        assert get_monitor(store, start=False) is first
        first.shutdown()


def test_a_second_process_gets_a_clear_message(tmp_path: Path) -> None:
    db = tmp_path / "race.duckdb"
    with RaceStore(db):
        proc = subprocess.run([sys.executable, "-m", "race", "monitor", "--db", str(db),
                               "--for", "1"], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
    assert proc.returncode == 2
    assert "in use by another program" in proc.stderr and "Traceback" not in proc.stderr


def test_monitor_and_live_code_never_import_streamlit() -> None:
    code = ("import sys, race.monitor, race.live.session, race.live.replay, "
            "race.commands.live; assert 'streamlit' not in sys.modules, 'streamlit imported'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def _status(**changes) -> dict:
    base = {"running": True, "now_utc": "2026-06-13T12:00:00+00:00", "following": [],
            "replays": [], "errors": [], "next_race": {
                "race_id": "x", "event": "24 Hours of Le Mans", "series": "WEC",
                "track": "Le Mans", "start_utc": "2026-06-13T14:00:00+00:00",
                "countdown_s": 7200.0, "live": False}}
    return {**base, **changes}


def _following(**changes) -> dict:
    base = {"key": "k", "race_id": "wec-2026-le-mans", "event": "Le Mans", "manual": False,
            "last_poll_at": "2026-06-13T11:59:55", "last_status": "ok",
            "polls_failed": 0, "laps_stored": 120, "unreachable_since": None,
            "finished": False}
    return {**base, **changes}


def test_sidebar_says_idle_following_unreachable_or_finished() -> None:
    """Issue 13 item 8: never a bare "running"."""
    from race.monitor import monitor_state, sidebar_lines
    idle = sidebar_lines(_status())
    assert idle[0] == "Live monitor: **idle** until the next race"
    assert idle[1] == "Next: WEC 24 Hours of Le Mans, in 02:00:00"
    assert sidebar_lines(_status(next_race=None))[0].endswith("no race ahead in the calendar")
    following = sidebar_lines(_status(following=[_following()]))
    assert following[0] == "Live monitor: **following**"
    assert "last poll 5 s ago (ok), 120 laps" in following[2]
    down = _status(following=[_following(unreachable_since="2026-06-13T11:40:00+00:00",
                                         last_status="fetch-error", polls_failed=120)])
    assert monitor_state(down) == "feed unreachable"
    assert "feed unreachable since 11:40:00 UTC" in sidebar_lines(down)[2]
    done = sidebar_lines(_status(following=[_following(finished=True)]))
    assert done[0] == "Live monitor: **finished**" and "**finished**" in done[2]
    assert sidebar_lines(_status(running=False))[0] == "Live monitor: **stopped**"
    assert sidebar_lines(None)[0].startswith("Live monitor: **off**")


def test_an_unreachable_feed_is_reported_with_the_time_it_went_down(tmp_path: Path) -> None:
    state = FeedState()  # serves nothing: every poll fails
    with FeedServer(state) as server, RaceStore(tmp_path / "race.duckdb") as store:
        clock = Clock(datetime(2026, 6, 13, 14, 0, tzinfo=UTC))
        monitor = RaceMonitor(store, calendar_path=DEFAULT_CALENDAR, poll_every_s=0.05,
                              clock=clock, models_dir=tmp_path / "models",
                              fetcher=lambda: Fetcher(timeout_s=1, attempts=1,
                                                      min_interval_s=0))
        try:
            monitor.start_tracking("wec", server.url("/nothing.json"))
            wait_for(lambda: monitor.status()["following"][0]["polls_failed"] >= 2)
            clock.now += timedelta(minutes=5)
            from race.monitor import sidebar_lines
            lines = sidebar_lines(monitor.status())
            assert lines[0] == "Live monitor: **feed unreachable**"
            assert any("feed unreachable since 14:00:00 UTC" in line for line in lines)
        finally:
            monitor.shutdown()
