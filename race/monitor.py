"""The race monitor: a calendar, an APScheduler job that watches it, and one poll job per
live race. Jobs never touch Streamlit; the app and the command line read ``status()``.

- The calendar is a CSV the user can edit: ``race/calendar_default.csv`` is built in (2026
  WEC and IMSA seasons, approximate), ``data/calendar.csv`` replaces it when present, and
  ``$RACE_CALENDAR`` or ``--calendar`` name another file.
- Every ``check_every_s`` (5 min) the calendar job starts following each race that is live
  (from ``lead_s`` before the start to ``grace_s`` after the scheduled end) with a poll job
  every ``poll_every_s`` (10 s), and stops races that are over (chequered flag seen, or the
  window closed).
- A feed can also be followed by hand and a stored race replayed (the Data page's buttons).

One monitor per process: the app holds ``get_monitor(store)`` in ``st.cache_resource``;
``python -m race monitor`` runs one headless. DuckDB lets one process write a database, so a
second process gets ``StoreError`` ("in use by another program") when it opens the store.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from race.errors import ParseError, RaceDataError
from race.importer import RaceMeta
from race.live.replay import Replay, replay_in_thread
from race.live.session import SOURCES, LiveConfig, LiveSession, PollResult
from race.settings import DEFAULT_FEEDS, PROJECT_ROOT
from race.sources.fetch import Fetcher
from race.store import RaceStore

log = logging.getLogger(__name__)

DEFAULT_CALENDAR = Path(__file__).with_name("calendar_default.csv")
USER_CALENDAR = PROJECT_ROOT / "data" / "calendar.csv"
CALENDAR_COLUMNS = ("series", "season", "event", "track", "start_utc", "duration_h", "source",
                    "feed_url", "flag_url", "session")
MAX_ERRORS = 20
MODEL_CHECK_S = 15  # how often followed races are checked for a due model update


@dataclass(frozen=True)
class CalendarEntry:
    """One race of the calendar (times in UTC)."""

    series: str
    season: int
    event: str
    track: str
    start_utc: datetime
    duration_s: float
    source: str
    feed_url: str
    flag_url: str | None = None
    session: str = "Race"

    @property
    def end_utc(self) -> datetime:
        return self.start_utc + timedelta(seconds=self.duration_s)

    @property
    def race_id(self) -> str:
        return RaceMeta(self.series, self.season, self.event, self.session).race_id

    def live(self, now: datetime, lead_s: float, grace_s: float) -> bool:
        return (self.start_utc - timedelta(seconds=lead_s) <= now
                < self.end_utc + timedelta(seconds=grace_s))


def calendar_path(explicit: str | Path | None = None) -> Path:
    """The calendar in use: ``explicit``, else ``$RACE_CALENDAR``, else ``data/calendar.csv``
    when it exists, else the built-in ``race/calendar_default.csv``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("RACE_CALENDAR")
    if env:
        return Path(env)
    return USER_CALENDAR if USER_CALENDAR.exists() else DEFAULT_CALENDAR


def parse_calendar(text: str, source: str = "calendar") -> list[CalendarEntry]:
    """Parse calendar CSV text (``#`` lines are comments).

    Raises:
        ParseError: a missing column or a bad value, naming the line.
    """
    lines = [(i, line) for i, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return []
    reader = csv.DictReader(io.StringIO("\n".join(line for _, line in lines)))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CALENDAR_COLUMNS[:8] if c not in header]
    if missing:
        raise ParseError(f"missing column(s) {', '.join(missing)} (expected "
                         f"{', '.join(CALENDAR_COLUMNS)})", source=source, line=lines[0][0])
    entries = []
    for (number, _), row in zip(lines[1:], reader, strict=False):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        try:
            start = datetime.fromisoformat(row["start_utc"].replace("Z", "+00:00"))
        except ValueError:
            raise ParseError(f"start_utc {row['start_utc']!r} is not an ISO date-time "
                             "(e.g. 2026-06-13T14:00:00Z)", source=source, line=number,
                             field="start_utc") from None
        start = (start.replace(tzinfo=UTC) if start.tzinfo is None else start).astimezone(UTC)
        try:
            hours = float(row["duration_h"])
            season = int(row["season"])
        except ValueError:
            raise ParseError("season must be a year and duration_h a number of hours",
                             source=source, line=number) from None
        if not 0 < hours <= 30:
            raise ParseError(f"duration_h {hours:g} is not between 0 and 30 hours",
                             source=source, line=number, field="duration_h")
        feed = row["source"].lower()
        if feed not in SOURCES:
            raise ParseError(f"source {row['source']!r} is not wec or imsa", source=source,
                             line=number, field="source")
        feed_url, flag_url = row["feed_url"], row.get("flag_url") or None
        if not feed_url:  # the source's default feed (IMSA: the CDN host, with RaceData)
            feed_url, flag_url = DEFAULT_FEEDS[feed][0], flag_url or DEFAULT_FEEDS[feed][1]
        if not feed_url.startswith(("http://", "https://")):
            raise ParseError(f"feed_url {row['feed_url']!r} is not an http(s) URL",
                             source=source, line=number, field="feed_url")
        entries.append(CalendarEntry(
            series=row["series"].upper(), season=season, event=row["event"],
            track=row["track"], start_utc=start, duration_s=hours * 3600, source=feed,
            feed_url=feed_url, flag_url=flag_url,
            session=row.get("session") or "Race"))
    return sorted(entries, key=lambda e: e.start_utc)


def load_calendar(path: str | Path | None = None) -> list[CalendarEntry]:
    """Read the calendar in use (see ``calendar_path``)."""
    path = calendar_path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ParseError(f"cannot read the calendar: {exc.strerror}", source=str(path)) \
            from None
    return parse_calendar(text, str(path))


@dataclass
class Tracked:
    """A race the monitor follows."""

    key: str
    session: LiveSession
    entry: CalendarEntry | None
    started_at: datetime
    manual: bool = False
    errors: int = 0
    failing_since: datetime | None = None  # first failed poll since the last good one


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Options:
    check_every_s: float = 300.0
    poll_every_s: float = 10.0
    lead_s: float = 600.0
    grace_s: float = 3600.0
    finish_grace_s: float = 900.0
    fetcher: Callable[[], Fetcher] = field(default=Fetcher)


class RaceMonitor:
    """Calendar watcher and live-race poller in one BackgroundScheduler.

    Args:
        store: the process's database.
        calendar_path: calendar CSV (default: see ``calendar_path``).
        check_every_s: calendar check period (s).
        poll_every_s: poll period of each live race (s).
        lead_s, grace_s: follow a race from this long before its start until this long
            after its scheduled end (s).
        clock: current UTC time (tests pass a fake).
        fetcher: factory of the HTTP client of each followed race.
    """

    def __init__(self, store: RaceStore, *, calendar_path: str | Path | None = None,
                 check_every_s: float = 300.0, poll_every_s: float = 10.0,
                 lead_s: float = 600.0, grace_s: float = 3600.0,
                 finish_grace_s: float = 900.0, clock: Callable[[], datetime] = _utcnow,
                 fetcher: Callable[[], Fetcher] = Fetcher,
                 models_dir: str | Path | None = None) -> None:
        from race.models.training import get_trainer

        self.store = store
        self.trainer = get_trainer(store, models_dir)
        self.calendar_file = calendar_path
        self.options = _Options(check_every_s, poll_every_s, lead_s, grace_s, finish_grace_s,
                                fetcher)
        self.clock = clock
        self.scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1,
                                        "misfire_grace_time": 60})
        self.tracked: dict[str, Tracked] = {}
        self.replays: dict[str, tuple[Replay, threading.Thread]] = {}
        self.errors: deque[dict] = deque(maxlen=MAX_ERRORS)
        self.calendar: list[CalendarEntry] = []
        self.last_check: datetime | None = None
        self._lock = threading.RLock()
        self._manual = 0

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self) -> None:
        """Start the scheduler with the calendar job (first check right away)."""
        if self.running:
            return
        self.scheduler.start()
        self.scheduler.add_job(self.check_calendar, "interval",
                               seconds=self.options.check_every_s, id="calendar",
                               next_run_time=datetime.now(UTC), replace_existing=True)
        # The current model (trained when due: races with flags stored and none trained on
        # them), then the predictions and alerts of followed races: after 10 laps, every 5
        # (cheap when nothing is due); its own job so a model update never delays a poll.
        self.scheduler.add_job(self.update_models, "interval", seconds=MODEL_CHECK_S,
                               id="models", next_run_time=datetime.now(UTC),
                               replace_existing=True)

    def request_training(self, *, force: bool = False) -> bool:
        """Train the current model in a scheduler job now (the *Train now* button; the
        models job calls it when a model is due). False when the scheduler is not running
        or a training is already under way."""
        if not self.running or self.trainer.busy:
            return False
        self.scheduler.add_job(self.trainer.train, kwargs={"force": force}, id="train",
                               replace_existing=True)
        return True

    def update_models(self) -> None:
        """Start a training when due; refresh the models' outputs of every followed race."""
        try:
            if self.trainer.due():
                self.request_training()
        except RaceDataError as exc:
            self._error(f"model training: {exc}")
        with self._lock:
            race_ids = [t.session.race_id for t in self.tracked.values() if t.session.race_id]
        if not race_ids:
            return
        # loads scikit-learn: only when used (an import in this thread slows the app's runs)
        from race.models.live_models import update_race_models
        for race_id in race_ids:
            try:
                update_race_models(self.store, race_id)
            except RaceDataError as exc:
                self._error(f"{race_id}: model update: {exc}")

    def shutdown(self) -> None:
        """Stop every job and replay; wait for a running poll to finish its write."""
        with self._lock:
            for replay, _ in self.replays.values():
                replay.stop()
        if self.running:
            self.scheduler.shutdown(wait=True)
        for replay, thread in list(self.replays.values()):
            thread.join(timeout=10)
            del replay
        with self._lock:
            for tracked in self.tracked.values():
                tracked.session.fetcher.close()

    def _error(self, message: str) -> None:
        log.warning("%s", message)
        self.errors.append({"at": self.clock().isoformat(timespec="seconds"),
                            "message": message})

    # -- calendar --------------------------------------------------------------------------
    def check_calendar(self) -> None:
        """The 5-minute job: follow the races that are live, stop those that are over."""
        now = self.clock()
        self.last_check = now
        try:
            self.calendar = load_calendar(self.calendar_file)
        except RaceDataError as exc:
            self._error(f"calendar: {exc}")
            return
        opts = self.options
        for entry in self.calendar:
            if entry.live(now, opts.lead_s, opts.grace_s) and entry.race_id not in self.tracked:
                self._follow(entry.race_id, LiveConfig(
                    source=entry.source, url=entry.feed_url, flag_url=entry.flag_url,
                    race_id=entry.race_id, event=entry.event, season=entry.season,
                    track=entry.track, duration_s=entry.duration_s, label="monitor"), entry)
        with self._lock:
            over = [t.key for t in self.tracked.values() if not t.manual and t.entry and (
                now >= t.entry.end_utc + timedelta(seconds=opts.grace_s)
                or t.session.finished)]
        for key in over:
            self.stop_tracking(key)

    def next_race(self) -> CalendarEntry | None:
        """The next calendar race not yet started (or the one live now)."""
        now = self.clock()
        calendar = self.calendar or self._safe_calendar()
        upcoming = [e for e in calendar if e.end_utc > now]
        return upcoming[0] if upcoming else None

    def _safe_calendar(self) -> list[CalendarEntry]:
        try:
            return load_calendar(self.calendar_file)
        except RaceDataError as exc:
            self._error(f"calendar: {exc}")
            return []

    # -- following races -------------------------------------------------------------------
    def _follow(self, key: str, config: LiveConfig, entry: CalendarEntry | None,
                manual: bool = False) -> str:
        with self._lock:
            if key in self.tracked:
                return key
            try:
                session = LiveSession(self.store, config, fetcher=self.options.fetcher(),
                                      finish_grace_s=self.options.finish_grace_s)
            except RaceDataError as exc:
                self._error(f"{key}: cannot follow: {exc}")
                raise
            self.tracked[key] = Tracked(key, session, entry, self.clock(), manual)
        self.scheduler.add_job(self._poll, "interval", args=[key],
                               seconds=self.options.poll_every_s, id=f"poll:{key}",
                               next_run_time=datetime.now(UTC), replace_existing=True)
        log.info("following %s (%s)", key, config.url)
        return key

    def start_tracking(self, source: str, url: str, *, flag_url: str | None = None,
                       event: str | None = None) -> str:
        """Follow a feed by hand (the Data page's button); returns the tracking key."""
        if source not in SOURCES:
            raise ParseError(f"unknown source {source!r} (choose imsa or wec)")
        if not url.startswith(("http://", "https://")):
            raise ParseError(f"{url!r} is not an http(s) URL")
        with self._lock:
            self._manual += 1
            key = f"manual-{self._manual}"
        if not self.running:
            self.start()
        return self._follow(key, LiveConfig(source=source, url=url, flag_url=flag_url or None,
                                            event=event or None, label="manual"), None,
                            manual=True)

    def stop_tracking(self, key: str) -> None:
        """Stop following a race: its poll job is removed and its state marked inactive."""
        with self._lock:
            tracked = self.tracked.pop(key, None)
        if tracked is None:
            return
        job = self.scheduler.get_job(f"poll:{key}")
        if job is not None:
            job.remove()
        tracked.session.stop()
        tracked.session.fetcher.close()
        log.info("stopped following %s", key)

    def _poll(self, key: str) -> None:
        """The 10-second job of one race; errors are recorded, never raised."""
        with self._lock:
            tracked = self.tracked.get(key)
        if tracked is None:
            return
        try:
            result: PollResult = tracked.session.poll_once()
        except RaceDataError as exc:
            tracked.errors += 1
            tracked.failing_since = tracked.failing_since or self.clock()
            self._error(f"{key}: {exc}")
            return
        except Exception as exc:  # the job boundary: record it, keep the scheduler alive
            tracked.errors += 1
            tracked.failing_since = tracked.failing_since or self.clock()
            log.exception("poll of %s failed", key)
            self._error(f"{key}: unexpected {type(exc).__name__}: {exc}")
            return
        if result.status == "fetch-error":
            tracked.failing_since = tracked.failing_since or self.clock()
        elif result.status not in ("bad-payload", "store-error"):
            tracked.failing_since = None
        if result.status in ("fetch-error", "bad-payload", "store-error"):
            self._error(f"{key}: {result.status}: {result.message}")
        if tracked.session.finished and not tracked.manual:
            self.stop_tracking(key)

    # -- replays ---------------------------------------------------------------------------
    def start_replay(self, source: str, speed: float = 10.0) -> str:
        """Replay a stored race (or lap file / recording) in a background thread."""
        replay = Replay(self.store, source, speed=speed)
        with self._lock:
            old = self.replays.pop(replay.race_id, None)
        if old is not None:
            old[0].stop()
            old[1].join(timeout=10)
        thread = replay_in_thread(replay)
        with self._lock:
            self.replays[replay.race_id] = (replay, thread)
        return replay.race_id

    def replay(self, race_id: str) -> Replay | None:
        with self._lock:
            item = self.replays.get(race_id)
        return item[0] if item else None

    def stop_replay(self, race_id: str) -> None:
        with self._lock:
            item = self.replays.pop(race_id, None)
        if item is not None:
            item[0].stop()
            item[1].join(timeout=10)

    # -- status ----------------------------------------------------------------------------
    def status(self) -> dict:
        """Everything the sidebar and the Data page show (plain values, JSON-ready)."""
        now = self.clock()
        nxt = self.next_race()
        with self._lock:
            tracked = list(self.tracked.values())
            replays = [r for r, _ in self.replays.values()]
        following = []
        for t in tracked:
            s = t.session
            last = s.last
            following.append({
                "key": t.key, "race_id": s.race_id, "source": s.config.source,
                "url": s.config.url, "event": t.entry.event if t.entry else s.config.event,
                "manual": t.manual, "since": t.started_at.isoformat(timespec="seconds"),
                "last_poll_at": last.at.isoformat(timespec="seconds") if last else None,
                "last_status": last.status if last else None,
                "last_message": last.message if last else None,
                "flag": s.tracker.flag if s.tracker else None,
                "polls_ok": s.polls_ok, "polls_failed": s.polls_failed,
                "polls_skipped": s.polls_skipped, "laps_stored": s.laps_stored,
                "problem": s.problem,
                "unreachable_since": t.failing_since.isoformat(timespec="seconds")
                if t.failing_since else None,
                "finished": bool(s.tracker and s.tracker.flag == "FF")})
        next_race = None
        if nxt is not None:
            next_race = {"race_id": nxt.race_id, "event": nxt.event, "series": nxt.series,
                         "track": nxt.track, "start_utc": nxt.start_utc.isoformat(),
                         "countdown_s": max(0.0, (nxt.start_utc - now).total_seconds()),
                         "live": nxt.start_utc <= now < nxt.end_utc}
        return {"running": self.running, "now_utc": now.isoformat(timespec="seconds"),
                "calendar": str(calendar_path(self.calendar_file)),
                "last_check": self.last_check.isoformat(timespec="seconds")
                if self.last_check else None,
                "next_race": next_race, "following": following,
                "replays": [r.status().as_json() for r in replays],
                "errors": list(self.errors), "model": self.trainer.as_json()}

    @staticmethod
    def describe(status: dict) -> str:
        """One line of text for the command line."""
        parts = [f"monitor {monitor_state(status)}"]
        nxt = status.get("next_race")
        if nxt:
            when = "LIVE" if nxt["live"] else f"in {format_countdown(nxt['countdown_s'])}"
            parts.append(f"next: {nxt['series']} {nxt['event']} {when}")
        for f in status["following"]:
            state = ("finished" if f.get("finished") else
                     f"feed unreachable since {f['unreachable_since']}"
                     if f.get("unreachable_since") else f["last_status"] or "waiting")
            parts.append(f"{f['race_id'] or f['key']}: {state} "
                         f"({f['laps_stored']} laps, {f['polls_failed']} failed polls)"
                         + (f" {f['problem'].upper()}" if f.get("problem") else ""))
        if status["errors"]:
            parts.append(f"last error: {status['errors'][-1]['message']}")
        return " | ".join(parts)


def format_countdown(seconds: float) -> str:
    """``3 d 04:05:06`` / ``04:05:06`` for a countdown in seconds."""
    if not math.isfinite(seconds) or seconds <= 0:
        return "now"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days} d {clock}" if days else clock


_MONITORS: dict[str, RaceMonitor] = {}
_MONITORS_LOCK = threading.Lock()


def get_monitor(store: RaceStore, *, start: bool = True, **options: object) -> RaceMonitor:
    """The process's monitor for ``store`` (created and started once; UI-free).

    The app calls this from a ``st.cache_resource`` function so reruns share it.
    """
    with _MONITORS_LOCK:
        monitor = _MONITORS.get(store.path)
        if monitor is None or monitor.store is not store:
            monitor = RaceMonitor(store, **options)  # type: ignore[arg-type]
            _MONITORS[store.path] = monitor
    if start:
        monitor.start()
    return monitor


def monitor_enabled() -> bool:
    """Whether the app starts the monitor's scheduler (``$RACE_MONITOR=off`` disables it,
    e.g. for tests and for a second app on a copy of the database)."""
    return os.environ.get("RACE_MONITOR", "on").strip().lower() not in ("off", "0", "no",
                                                                          "false")


def _ago(iso: str | None, now: datetime) -> str:
    if not iso:
        return "never"
    at = datetime.fromisoformat(iso)
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    seconds = max(0.0, (now - at).total_seconds())
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def problem_lines(status: dict | None) -> list[str]:
    """One line per followed feed whose layout is not understood (the app shows them in
    red): ``<race>: layout not understood: <what>``."""
    if status is None:
        return []
    return [f"{f['race_id'] or f['event'] or f['key']}: {f['problem']}"
            for f in status["following"] if f.get("problem")]


def monitor_state(status: dict) -> str:
    """What the monitor is doing: ``stopped``, ``idle`` (no race followed: waiting for the
    next one), ``following``, ``feed unreachable`` (every followed feed failing) or
    ``finished`` (every followed race has had its chequered flag)."""
    if not status["running"]:
        return "stopped"
    following = status["following"]
    if not following:
        return "idle"
    if all(f.get("finished") for f in following):
        return "finished"
    if all(f.get("unreachable_since") for f in following):
        return "feed unreachable"
    return "following"


def _clock(iso: str) -> str:
    at = datetime.fromisoformat(iso)
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%H:%M:%S UTC")


def sidebar_lines(status: dict | None) -> list[str]:
    """The monitor's state as short Markdown lines (the app's sidebar; plain text, no HTML).

    Args:
        status: ``RaceMonitor.status()``, or None when the monitor is switched off.
    """
    if status is None:
        return ["Live monitor: **off** ($RACE_MONITOR=off)"]
    now = datetime.fromisoformat(status["now_utc"])
    state = monitor_state(status)
    nxt = status.get("next_race")
    first = f"Live monitor: **{state}**"
    if state == "idle":
        first += " until the next race" if nxt else ": no race ahead in the calendar"
    lines = [first]
    if nxt:
        when = ("live now" if nxt["live"] else f"in {format_countdown(nxt['countdown_s'])}")
        lines.append(f"Next: {nxt['series']} {nxt['event']}, {when}")
    for f in status["following"]:
        name = f["race_id"] or f["event"] or f["key"]
        if f.get("finished"):
            lines.append(f"{name}: **finished** (chequered flag), {f['laps_stored']} laps")
        elif f.get("unreachable_since"):
            lines.append(f"Following {name}: **feed unreachable since "
                         f"{_clock(f['unreachable_since'])}** ({f['polls_failed']} failed "
                         f"polls), {f['laps_stored']} laps")
        else:
            lines.append(f"Following {name}: last poll {_ago(f['last_poll_at'], now)} "
                         f"({f['last_status'] or 'waiting'}), {f['laps_stored']} laps"
                         + (f", {f['polls_failed']} failed" if f["polls_failed"] else ""))
    for r in status["replays"]:
        state = "done" if r["done"] else "paused" if r["paused"] else "playing"
        lines.append(f"Replay {r['race_id']}: {state}, {r['race_time_s'] / 3600:.1f} h")
    model = status.get("model")
    if model:
        from race.models.training import TrainingState, status_line

        lines.append(status_line(TrainingState(**model)))
    if status["errors"]:
        last = status["errors"][-1]
        lines.append(f"Last error ({_ago(last['at'], now)}): {last['message'][:160]}")
    return lines
