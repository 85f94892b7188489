"""One race followed on one live feed: fetch → record → parse → validate → track → store.

``LiveSession.poll_once`` is the 10-second job of the race monitor and the loop body of
``python -m race live``; ``LiveSession.ingest`` is the same path without the network, used
by replays. A failed fetch or a bad payload is logged in the ingest log and changes nothing
else; a stale or duplicate payload is skipped. The race's live state (lap tracker) is saved
with every write, in the same transaction, so a restarted process resumes where the last
committed poll left off.

Layout drift is loud: when a field the parser needs is missing (``FeedSnapshot.missing``,
or a ``ParseError`` naming a field), or when ``DRIFT_POLLS`` payloads in a row change while
nothing new is stored (skipped as stale/duplicate, or no lap, pit state, flag or race time
moved, or only the race time for longer than ``STALL_LAPS`` median best laps), the live
state's ``problem`` says ``layout not understood: <what>`` and the app
shows it in red. Not counted: identical bytes, the time before the start (no laps, no race
time), red and chequered flags (cars stand still). The first poll that stores something
new, from a payload with nothing missing, clears it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from race.errors import FetchError, ParseError, StoreError
from race.importer import RaceMeta
from race.live.race import STORED_KEEP, LiveRace
from race.live.tracker import ELAPSED_ESTIMATED, LapTracker
from race.rows import Rows
from race.sources.feed import FeedSnapshot, validate_snapshot, weather_row
from race.sources.fetch import Fetcher, RawRecorder
from race.sources.live_parse import SOURCES, parse_payloads
from race.store import LiveStateConflict, RaceStore

log = logging.getLogger(__name__)

SERIES_OF = {"imsa": "IMSA", "wec": "WEC"}
FAILED = ("fetch-error", "bad-payload", "store-error")
STATE_REFRESH_S = 60.0  # a poll with nothing new still saves the tracker state this often
SKIPPED = ("unchanged", "duplicate", "stale", "other-session")
DRIFT_POLLS = 3  # changed payloads in a row with nothing new stored: layout not understood
LAYOUT_PROBLEM = "layout not understood"
STALL_LAPS = 3.0  # no lap for this many median best laps while the clock runs: drift


@dataclass(frozen=True)
class LiveConfig:
    """What to follow and how the race is named.

    Attributes:
        source: ``imsa`` or ``wec``.
        url: the feed (IMSA RaceResults JSONP or WEC data.json).
        flag_url: IMSA RaceData JSONP (flag, time to go); optional.
        race_id: the stored race; default from series, season and the feed's event name.
        duration_s: scheduled length (s), for IMSA's time-to-go clock and the race row.
    """

    source: str
    url: str
    flag_url: str | None = None
    race_id: str | None = None
    event: str | None = None
    season: int | None = None
    track: str | None = None
    duration_s: float | None = None
    label: str = "live"


@dataclass
class PollResult:
    """The outcome of one poll: status is ``ok``, a skip (``unchanged``, ``duplicate``,
    ``stale``, ``other-session``) or a failure (``fetch-error``, ``bad-payload``,
    ``store-error``)."""

    status: str
    laps: int = 0
    markers: int = 0
    message: str = ""
    clock_s: float | None = None
    flag: str | None = None
    seconds: float = 0.0
    at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))
    problem: str | None = None

    def as_json(self) -> dict:
        return {"status": self.status, "laps": self.laps, "markers": self.markers,
                "message": self.message, "clock_s": self.clock_s, "flag": self.flag,
                "at": self.at.isoformat(timespec="seconds"), "problem": self.problem}


def _merge_rows(first: Rows, second: Rows) -> Rows:
    """Rows of ``first`` then ``second`` (columns missing on one side are None)."""
    if second.empty:
        return first
    if first.empty:
        return second
    names = list(dict.fromkeys([*first.columns, *second.columns]))
    return Rows({c: [*(first[c].tolist() if c in first else [None] * len(first)),
                     *(second[c].tolist() if c in second else [None] * len(second))]
                 for c in names})


def default_raw_root(store: RaceStore) -> Path | None:
    """Recordings live beside the database (``data/raw`` for ``data/race.duckdb``)."""
    return None if store.path == ":memory:" else Path(store.path).parent / "raw"


class LiveSession:
    """Follow one race on one feed.

    Args:
        store: the database (shared within the process).
        config: the feed and the race's name.
        fetcher: the HTTP client (default: 3 attempts 5 s apart, 10 s timeout).
        recorder: where raw payloads go; None = beside the database, False = not recorded.
        finish_grace_s: keep polling this long after the chequered flag (s of wall time).
    """

    def __init__(self, store: RaceStore, config: LiveConfig, *, fetcher: Fetcher | None = None,
                 recorder: RawRecorder | bool | None = None,
                 finish_grace_s: float = 900.0) -> None:
        if config.source not in SOURCES:
            raise ParseError(f"unknown live source {config.source!r} (choose imsa or wec)")
        self.store = store
        self.config = config
        self.fetcher = fetcher or Fetcher()
        if recorder is None:
            root = default_raw_root(store)
            recorder = RawRecorder(root) if root else False
        self.recorder: RawRecorder | None = recorder or None
        self.finish_grace_s = finish_grace_s
        self.race_id: str | None = config.race_id
        self.tracker: LapTracker | None = None
        self.race: LiveRace | None = None
        self.revision = 0
        self.polls_ok = self.polls_failed = self.polls_skipped = 0
        self.laps_stored = 0
        self.markers_stored = 0
        self.last: PollResult | None = None
        self._last_digest: str | None = None
        self._chequered_at: float | None = None
        self._persisted: tuple | None = None  # material tracker state last written
        self._persisted_at = 0.0
        self.problem: str | None = None  # "layout not understood: …" (see the module doc)
        self._drift_polls = 0  # changed payloads in a row that stored nothing new
        self._drift_note = ""
        self._lap_clock: float | None = None  # race clock when a lap was last stored
        self._bad_digest: str | None = None  # the last payload that could not be read
        self._weather: dict | None = None  # the last weather reading written
        if self.race_id and store.has_race(self.race_id):
            self._open_existing()

    # -- loading ---------------------------------------------------------------------------
    def _open_existing(self) -> None:
        assert self.race_id is not None
        self.store.create_live_race(self.race_id, {}, source=self.config.source,
                                    url=self.config.url, flag_url=self.config.flag_url)
        self._load()

    def _load(self) -> None:
        """(Re)load the race and the tracker from the store: after a restart, a backfill,
        a conflicting write or a failed write."""
        race_id = self.race_id
        assert race_id is not None
        state = self.store.live_state(race_id) or {}
        laps = self.store.table("laps", race_id, STORED_KEEP)
        periods = self.store.table("flag_periods", race_id)
        self.race = LiveRace(race_id, laps, periods)
        cars = self.store.table("cars", race_id, ["number", "vehicle"])
        self.race.vehicles = {n: v for n, v in zip(cars["number"], cars["vehicle"],
                                                   strict=True) if isinstance(v, str)}
        # a backfilled race's drivers table may list drivers its laps lack
        drivers = self.store.table("drivers", race_id, ["number", "driver_number"])
        self.race.stored_drivers |= {(n, int(d)) for n, d in zip(
            drivers["number"], drivers["driver_number"], strict=True) if not pd.isna(d)}
        markers = self.store.backfill_markers(race_id)
        self.race.stored_markers = set(zip(markers["number"].astype(str),
                                           markers["lap_number"].astype(int),
                                           markers["reason"].astype(str), strict=True))
        text = state.get("tracker")
        if isinstance(text, str) and text:
            tracker = LapTracker.from_state(json.loads(text))
        else:
            tracker = LapTracker(self.config.source, self.config.duration_s)
        self.tracker = self._reconcile(tracker, laps, markers)
        self.revision = int(state.get("revision") or 0)
        self._last_digest = None
        self._persisted = None

    def _reconcile(self, tracker: LapTracker, laps: pd.DataFrame,
                   markers: pd.DataFrame) -> LapTracker:
        """Make the tracker agree with the stored laps (the store is the truth)."""
        assert self.race is not None
        if laps.empty:
            return tracker
        laps = laps.sort_values(["number", "lap_number"], kind="stable")
        last_rows = laps.groupby("number", sort=False).tail(1)
        estimated = markers[markers["reason"].eq(ELAPSED_ESTIMATED)]
        estimated_keys = set(zip(estimated["number"], estimated["lap_number"], strict=True))
        stale = [n for n, lap in zip(last_rows["number"], last_rows["lap_number"], strict=True)
                 if n not in tracker.cars or tracker.cars[n].laps != int(lap)]
        if stale:
            est_cars = {n for n, lap in zip(last_rows["number"], last_rows["lap_number"],
                                            strict=True) if (n, int(lap)) in estimated_keys}
            rebuilt = LapTracker.from_laps(tracker.source, laps[laps["number"].isin(stale)],
                                           est_cars, tracker.duration_s)
            for number in stale:
                old = tracker.cars.get(number)
                car = rebuilt.cars[number]
                if old is not None:  # keep what the laps cannot tell
                    car.pit_stops, car.last_seen_s = old.pit_stops, old.last_seen_s
                    car.vehicle = old.vehicle
                tracker.cars[number] = car
            log.info("%s: tracker resynchronised with the store for %d car(s)",
                     self.race_id, len(stale))
        return tracker

    def _ensure_race(self, snapshot: FeedSnapshot) -> None:
        if self.race is not None:
            return
        config = self.config
        season = config.season or datetime.now(UTC).year
        event = config.event or snapshot.event or "live"
        session = "Race"
        if snapshot.session and "race" not in snapshot.session.lower():
            session = snapshot.session
        if self.race_id is None:
            self.race_id = RaceMeta(SERIES_OF[config.source], season, event, session).race_id
        duration = config.duration_s
        if duration is None and snapshot.clock_s is not None and snapshot.remaining_s:
            duration = snapshot.clock_s + snapshot.remaining_s
        self.store.create_live_race(self.race_id, {
            "series": SERIES_OF[config.source], "season": season, "event": event,
            "session": session, "track": config.track or snapshot.track,
            "start_date": datetime.now(UTC).date(), "duration_s": duration,
            "source": f"{config.label} {config.source} feed", "source_path": config.url,
            "has_flags": True, "laps": 0, "cars": 0, "classes": ""},
            source=config.source, url=config.url, flag_url=config.flag_url)
        self._load()

    # -- polling ---------------------------------------------------------------------------
    def poll_once(self) -> PollResult:
        """Fetch the feed (and RaceData for IMSA) once and ingest what it shows."""
        started = time.perf_counter()
        try:
            main = self.fetcher.get(self.config.url, profile=self.config.source)
        except FetchError as exc:
            return self._fail("fetch-error", str(exc), started)
        payloads = {"main": main.body}
        unchanged = main.not_modified
        note = ""
        if self.config.flag_url:
            try:
                flag = self.fetcher.get(self.config.flag_url, profile=self.config.source)
                payloads["flag"] = flag.body
                unchanged = unchanged and flag.not_modified
            except FetchError as exc:  # laps still count; the flag stays as last seen
                note = f"flag feed: {exc}"
                unchanged = False
        if unchanged:
            return self._done(PollResult("unchanged", message="304 not modified"), started)
        result = self.ingest(payloads, time.time())
        if note:
            result.message = f"{result.message}; {note}".strip("; ")
        return result

    def ingest(self, payloads: dict[str, bytes], received_s: float | None = None, *,
               record: bool = True) -> PollResult:
        """Ingest one poll's payloads (``main`` and optionally ``flag``) without fetching.

        Args:
            payloads: raw bodies as fetched.
            received_s: the poll's wall-clock time (s), the clock of last resort.
            record: append the payloads to the race's raw recording.
        """
        started = time.perf_counter()
        started_at = datetime.now(UTC).replace(tzinfo=None)
        received_s = time.time() if received_s is None else received_s
        digest = hashlib.sha1(b"\0".join(payloads.get(k, b"") for k in ("main", "flag")))
        digest_hex = digest.hexdigest()
        if digest_hex == self._last_digest:
            return self._done(PollResult("duplicate", message="same payload as last poll"),
                              started)
        try:
            snapshot = validate_snapshot(self._parse(payloads), self.config.url)
        except ParseError as exc:
            if record and self.recorder is not None and self.race_id is not None:
                self._record(payloads)
            if exc.field is not None and type(exc) is ParseError:
                # a key the parser needs is absent or unreadable: the layout moved on
                self.problem = f"{LAYOUT_PROBLEM}: {exc.detail}"
            elif digest_hex != self._bad_digest:  # e.g. a truncated body: loud only when
                self._drift(True, f"bad payload ({exc.detail})")  # it keeps happening
            self._bad_digest = digest_hex
            return self._fail("bad-payload", str(exc), started, started_at)
        if self.race is None:
            self._ensure_race(snapshot)
        if record and self.recorder is not None:
            self._record(payloads)
        missing = (f"{LAYOUT_PROBLEM}: missing {', '.join(snapshot.missing)}"
                   if snapshot.missing else None)
        for attempt in (1, 2):
            assert self.tracker is not None and self.race is not None
            clock_before = self.tracker.clock_s
            track = self.tracker.process(snapshot, received_s)
            if track.status != "ok":
                self._last_digest = digest_hex
                self._drift(self._counts(snapshot), f"{track.status}: {track.message}",
                            missing)
                return self._fail(track.status, track.message, started, started_at)
            try:
                crew = self._crew_rows(snapshot)  # before the laps: rows with licences
                delta = self.race.add_laps(track.rows, track.markers,
                                           {c.number: c.vehicle for c in snapshot.cars
                                            if c.vehicle})
                if not crew.empty:
                    delta.drivers = _merge_rows(crew, delta.drivers)
                message = (f"{len(delta.laps)} lap(s)" + (f", {len(delta.markers)} "
                                                          "marked for backfill"
                                                          if len(delta.markers) else ""))
                if track.message:
                    message += f"; {track.message}"
                material = self._material_state()
                stalled = self._laps_stalled(snapshot, bool(len(delta.laps)))
                nothing_new = (delta.empty and delta.lap_flags.empty
                               and material == self._persisted
                               and (self.tracker.clock_s == clock_before or stalled))
                problem_before = self.problem
                self._drift(nothing_new and self._counts(snapshot),
                            "the payloads change but no lap, pit state, flag or race time "
                            "moves", missing, reset=not nothing_new)
                weather = weather_row(snapshot, received_s) \
                    if self.config.source == "wec" else None
                if weather is not None and self._weather is not None and {
                        k: v for k, v in weather.items() if k not in ("time_utc", "elapsed_s")
                } == {k: v for k, v in self._weather.items()
                      if k not in ("time_utc", "elapsed_s")} and delta.empty:
                    weather = None  # the same reading, and nothing else to write
                if (delta.empty and delta.lap_flags.empty and material == self._persisted
                        and weather is None and crew.empty and self.problem == problem_before
                        and time.monotonic() - self._persisted_at < STATE_REFRESH_S):
                    # Nothing a restart would need changed: no write (the next one
                    # carries the state anyway).
                    self._last_digest = digest_hex
                    return self._done(PollResult("ok", message="no new laps",
                                                 clock_s=track.clock_s,
                                                 flag=self.tracker.flag,
                                                 problem=self.problem), started)
                self.revision = self.store.apply_live_delta(
                    delta, revision=self.revision, tracker=json.dumps(self.tracker.to_state()),
                    status="ok", message=message, source=self.config.url,
                    clock_s=track.clock_s, flag=self.tracker.flag, started_at=started_at,
                    problem=self.problem, weather=weather)
                self._persisted, self._persisted_at = material, time.monotonic()
                if weather is not None:
                    self._weather = weather
            except LiveStateConflict as exc:
                log.info("%s", exc)
                self._load()
                continue
            except (StoreError, ValueError) as exc:
                log.warning("%s: write failed (%s): reloading from the store", self.race_id,
                            exc)
                self._load()
                if attempt == 2:
                    return self._fail("store-error", str(exc), started, started_at)
                continue
            self._last_digest = digest_hex
            self.laps_stored += len(delta.laps)
            self.markers_stored += len(delta.markers)
            if self.tracker.flag == "FF" and self._chequered_at is None:
                self._chequered_at = time.monotonic()
            return self._done(PollResult("ok", laps=len(delta.laps),
                                         markers=len(delta.markers), message=message,
                                         clock_s=track.clock_s, flag=self.tracker.flag,
                                         problem=self.problem),
                              started)
        return self._fail("store-error", "the race kept changing during the write", started,
                          started_at)

    def _crew_rows(self, snapshot: FeedSnapshot) -> Rows:
        """``drivers`` rows of crew members the feed lists (WEC 2026 ``drivers[]``) and the
        store does not hold yet: the whole crew from the first poll, with licence and
        country, numbered like the tracker numbers the laps' drivers."""
        assert self.tracker is not None and self.race is not None
        stored = self.race.stored_drivers
        rows: dict[str, list] = {"number": [], "driver_number": [], "driver_name": [],
                                 "licence": [], "country": []}
        for car in snapshot.cars:
            track = self.tracker.cars.get(car.number)
            if not car.crew or track is None:
                continue
            for i, name in enumerate(car.crew):
                if name not in track.drivers:
                    continue
                key = (car.number, track.drivers.index(name) + 1)
                if key in stored:
                    continue
                stored.add(key)
                rows["number"].append(key[0])
                rows["driver_number"].append(key[1])
                rows["driver_name"].append(name)
                rows["licence"].append(car.crew_licences[i] if i < len(car.crew_licences)
                                       else None)
                rows["country"].append(car.crew_countries[i] if i < len(car.crew_countries)
                                       else None)
        return Rows(rows) if rows["number"] else Rows()

    # -- layout drift ----------------------------------------------------------------------
    def _counts(self, snapshot: FeedSnapshot) -> bool:
        """Whether a poll that stored nothing new counts as drift: not before the start
        (no laps, no race time), not under a red or chequered flag (cars stand still)."""
        assert self.tracker is not None
        started = any(c.laps > 0 for c in snapshot.cars) or bool(snapshot.clock_s)
        return started and (snapshot.flag or self.tracker.flag) not in ("RF", "FF")

    def _laps_stalled(self, snapshot: FeedSnapshot, stored_laps: bool) -> bool:
        """The race clock moves but no car has completed a lap for longer than
        ``STALL_LAPS`` median best laps of the field: the laps are not being read."""
        clock = self.tracker.clock_s if self.tracker else None
        if stored_laps or self._lap_clock is None:
            self._lap_clock = clock
            return False
        best = sorted(c.best_lap_ms for c in snapshot.cars if c.best_lap_ms)
        if clock is None or not best:
            return False
        return clock - self._lap_clock > STALL_LAPS * best[len(best) // 2] / 1000.0

    def _drift(self, nothing_new: bool, note: str, missing: str | None = None, *,
               reset: bool = False) -> None:
        """Count a changed payload that stored nothing new (or reset on one that did) and
        set ``problem``: a missing field first, else ``DRIFT_POLLS`` such polls in a row."""
        if reset:
            self._drift_polls, self._drift_note = 0, ""
        elif nothing_new:
            self._drift_polls += 1
            self._drift_note = note
        if missing:
            self.problem = missing
        elif self._drift_polls >= DRIFT_POLLS:
            self.problem = (f"{LAYOUT_PROBLEM}: {self._drift_polls} changed payloads in a row "
                            f"stored nothing new (last: {self._drift_note})")
        elif reset:
            self.problem = None

    def _material_state(self) -> tuple:
        """What of the tracker's state matters after a restart: laps, pit states, flag."""
        assert self.tracker is not None
        return (self.tracker.flag, tuple(
            (n, t.laps, t.in_pit, t.pit_stops, t.pending_pit_ms)
            for n, t in self.tracker.cars.items()))

    def _parse(self, payloads: dict[str, bytes]) -> FeedSnapshot:
        return parse_payloads(self.config.source, payloads, label=self.config.url,
                              flag_label=self.config.flag_url or "RaceData")

    def _record(self, payloads: dict[str, bytes]) -> None:
        assert self.recorder is not None and self.race_id is not None
        urls = {"main": self.config.url}
        if self.config.flag_url:
            urls["flag"] = self.config.flag_url
        try:
            self.recorder.record(self.race_id, self.config.source, payloads, urls)
        except OSError as exc:  # recording is a convenience; never lose a poll over it
            log.warning("cannot record raw payload for %s: %s", self.race_id, exc)

    def _fail(self, status: str, message: str, started: float,
              started_at: datetime | None = None) -> PollResult:
        if self.race_id is not None and self.race is not None:
            self.store.record_poll_failure(self.race_id, status=status, message=message,
                                           source=self.config.url, started_at=started_at,
                                           problem=self.problem)
        elif status in FAILED:
            self.store.log_ingest(kind="poll", source=self.config.url, status=status,
                                  message=message, started_at=started_at)
        log.info("poll %s: %s", status, message)
        if self.problem:
            log.warning("%s: %s", self.race_id or self.config.url, self.problem)
        return self._done(PollResult(status, message=message, problem=self.problem), started)

    def _done(self, result: PollResult, started: float) -> PollResult:
        result.seconds = time.perf_counter() - started
        if result.status in FAILED:
            self.polls_failed += 1
        elif result.status in SKIPPED:
            self.polls_skipped += 1
        else:
            self.polls_ok += 1
        self.last = result
        return result

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """The chequered flag was shown at least ``finish_grace_s`` ago."""
        return (self._chequered_at is not None
                and time.monotonic() - self._chequered_at >= self.finish_grace_s)

    def stop(self) -> None:
        """Stop following the race: final counts and state written, marked inactive."""
        if self.race_id is not None and self.race is not None and self.tracker is not None:
            try:
                delta = self.race.add_laps([])  # nothing new: the race row's final counts
                delta.race = self.race.race_fields(force=True)
                delta.cars = self.race.car_updates()
                self.revision = self.store.apply_live_delta(
                    delta, revision=self.revision, tracker=json.dumps(self.tracker.to_state()),
                    status="stopped", message="stopped following", source=self.config.url,
                    clock_s=self.tracker.clock_s, flag=self.tracker.flag,
                    problem=self.problem)
            except StoreError as exc:
                log.warning("%s: final state not saved: %s", self.race_id, exc)
            self.store.set_live_active(self.race_id, False)

    def summary(self) -> dict:
        """Totals for the command line's JSON summary and the monitor's status."""
        return {"race_id": self.race_id, "source": self.config.source, "url": self.config.url,
                "polls": self.polls_ok + self.polls_failed + self.polls_skipped,
                "polls_ok": self.polls_ok, "polls_failed": self.polls_failed,
                "polls_skipped": self.polls_skipped, "laps_stored": self.laps_stored,
                "marked_for_backfill": self.markers_stored, "problem": self.problem,
                "last": self.last.as_json() if self.last else None}
