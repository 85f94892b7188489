"""Laps from consecutive live snapshots: the state machine behind every live source.

A live feed shows each car's laps completed and last lap time, never a lap history. Between
two polls a car that gained one lap produced exactly one lap row: its time is the feed's
last lap, its ELAPSED the previous crossing plus that time (exact, in integer ms, since
ELAPSED(n) − ELAPSED(n−1) = LAP_TIME(n) in every official file). A car that gained two or
more laps produced laps whose times the feed no longer shows: they are stored with unknown
(NULL) times and marked for backfill from the official file — a time is never invented.

Pit stops follow the lap file's convention (DATA.md §2): the lap whose line crossing
happened in the pit lane is the in-lap (``B``), the next lap carries the pit-lane time. The
feed gives only "in pit now" (IMSA ``P``, WEC state ``In``), so the pit-lane time is measured
between polls (midpoints of the polls around entry and exit), accurate to about half the
poll interval, and marked ``pit_time_estimated`` until backfilled.

Each crossing gets the flag shown at the poll that revealed it (the flag at the line is not
in the feed); when the chequered flag appears, crossings before the leader's finish keep the
previous flag. A feed that gives its flag history (WEC 2026 ``progressFlagState``, as race
times from ``startTime``) sets the flag of each crossing from it instead. Pure: no I/O; the
state round-trips through ``to_state``/``from_state``.

Stale and duplicate payloads: a payload with a feed clock older than the newest seen is
stale (WEC ≤ 2025 ``params.timestamp``, IMSA ``DT``). Without a feed clock (WEC 2026:
``timestamp`` 0) the content decides: a race time (``elapsedTime``) older than the newest
seen, or fewer laps for some car and more for none, is a stale copy; the same content
(race time, and each car's laps, last lap, pit state, stops, driver) is a duplicate. A
payload whose content moved on is never dropped, whatever its clock says.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from dataclasses import dataclass, field

import pandas as pd

from race.sources.feed import CarState, FeedSnapshot

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
# Reasons a stored live lap waits for the official file.
LAP_TIME_UNKNOWN = "lap_time_unknown"
ELAPSED_ESTIMATED = "elapsed_estimated"
PIT_TIME_ESTIMATED = "pit_time_estimated"
PIT_STOP_UNSEEN = "pit_stop_unseen"
BACKFILL_REASONS = (LAP_TIME_UNKNOWN, ELAPSED_ESTIMATED, PIT_TIME_ESTIMATED, PIT_STOP_UNSEEN)


@dataclass
class CarTrack:
    """What the tracker remembers about one car between polls."""

    laps: int = 0
    elapsed_ms: int | None = None  # crossing of lap ``laps``, ms from the start
    exact: bool = True             # elapsed_ms follows from lap times, not an estimate
    in_pit: bool = False
    pit_visit_in_lap: bool = False  # the in-lap of the current pit visit is recorded
    pit_entry_s: float | None = None  # feed clock of the pit entry (estimated)
    last_seen_s: float | None = None  # feed clock of the last poll showing this car
    pending_pit_ms: int | None = None  # measured pit-lane time waiting for its out-lap
    pit_stops: int | None = None
    driver: str | None = None
    drivers: list[str] = field(default_factory=list)
    car_class: str | None = None
    team: str | None = None
    vehicle: str | None = None


@dataclass
class TrackResult:
    """The outcome of one snapshot.

    Attributes:
        status: ``ok``, ``stale`` (older than one already seen: ignored), ``duplicate`` (same
            feed time) or ``other-session`` (the feed moved on to another session).
        rows: new lap rows (stored lap columns; times in s, unknown = None).
        markers: (number, lap_number, reason) for laps waiting for the official file.
        clock_s: race time at the snapshot when known (s).
    """

    status: str
    rows: list[dict] = field(default_factory=list)
    markers: list[tuple[str, int, str]] = field(default_factory=list)
    clock_s: float | None = None
    message: str = ""


class LapTracker:
    """Derive lap rows from successive snapshots of one session.

    Args:
        source: ``imsa`` or ``wec``.
        duration_s: scheduled race length (s), used with the feed's time-to-go as a clock.
    """

    def __init__(self, source: str, duration_s: float | None = None) -> None:
        self.source = source
        self.duration_s = duration_s
        self.cars: dict[str, CarTrack] = {}
        self.last_feed_ms: int | None = None  # unwrapped feed time of the newest payload
        self.start_offset_s: float | None = None  # feed clock − race clock
        self.flag: str | None = None
        self.event: str | None = None
        self.session: str | None = None
        self.clock_s: float | None = None
        self._flag_now: str | None = None  # the flag of the snapshot being processed
        self.content: str | None = None  # digest of the newest snapshot's content

    # -- state -----------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {"source": self.source, "duration_s": self.duration_s,
                "last_feed_ms": self.last_feed_ms, "start_offset_s": self.start_offset_s,
                "flag": self.flag, "event": self.event, "session": self.session,
                "clock_s": self.clock_s, "content": self.content,
                "cars": {n: {**vars(t), "drivers": list(t.drivers)}
                         for n, t in self.cars.items()}}

    @classmethod
    def from_state(cls, state: dict) -> LapTracker:
        tracker = cls(state["source"], state.get("duration_s"))
        for key in ("last_feed_ms", "start_offset_s", "flag", "event", "session", "clock_s",
                    "content"):
            setattr(tracker, key, state.get(key))
        tracker.cars = {n: CarTrack(**t) for n, t in state.get("cars", {}).items()}
        return tracker

    @classmethod
    def from_laps(cls, source: str, laps: pd.DataFrame, estimated: set[str] | None = None,
                  duration_s: float | None = None) -> LapTracker:
        """Rebuild the state from stored laps (a race imported before tracking started).

        Args:
            laps: the race's stored laps sorted by car and lap.
            estimated: cars whose last ELAPSED is an estimate.
        """
        tracker = cls(source, duration_s)
        for number, car in laps.groupby("number", sort=False):
            last = car.iloc[-1]
            names = (car.sort_values("driver_number").drop_duplicates("driver_number")
                     ["driver_name"].dropna().tolist())
            elapsed = last["elapsed_s"]
            tracker.cars[str(number)] = CarTrack(
                laps=int(last["lap_number"]),
                elapsed_ms=None if pd.isna(elapsed) else round(float(elapsed) * 1000),
                exact=not pd.isna(elapsed) and str(number) not in (estimated or set()),
                in_pit=bool(last["in_lap"]), pit_visit_in_lap=bool(last["in_lap"]),
                driver=last["driver_name"], drivers=names, car_class=last["class"],
                team=last["team"])
        return tracker

    # -- clocks ----------------------------------------------------------------------------
    def _feed_ms(self, snapshot: FeedSnapshot) -> int | None:
        """The feed time, unwrapped across midnight for IMSA's time of day."""
        raw = snapshot.feed_time_ms
        if raw is None or self.source != "imsa" or self.last_feed_ms is None:
            return raw
        day = self.last_feed_ms // DAY_MS
        candidates = [raw + (day + d) * DAY_MS for d in (-1, 0, 1)]
        return min(candidates, key=lambda v: abs(v - self.last_feed_ms))

    @staticmethod
    def content_digest(snapshot: FeedSnapshot) -> str:
        """What a timing screen shows that matters here: race time, flag, and each car's
        laps, last lap, pit state, stops and driver (a digest: kept in the state)."""
        key = (snapshot.clock_s, snapshot.flag, tuple(
            (c.number, c.laps, c.last_lap_ms, c.in_pit, c.pit_stops, c.driver)
            for c in snapshot.cars))
        return hashlib.sha1(repr(key).encode()).hexdigest()

    def _content_verdict(self, snapshot: FeedSnapshot, content: str) -> TrackResult | None:
        """Stale or duplicate judged from the content (a payload without a feed clock)."""
        if content == self.content:
            return TrackResult("duplicate", message="same content as the last payload")
        ahead = behind = 0
        for car in snapshot.cars:
            t = self.cars.get(car.number)
            if t is not None:
                ahead += car.laps > t.laps
                behind += car.laps < t.laps
        if ahead:
            return None
        clock = snapshot.clock_s
        if clock is not None and self.clock_s is not None and clock < self.clock_s - 1e-6:
            return TrackResult("stale", message=(
                f"payload race time {clock:.3f} s is older than {self.clock_s:.3f} s"))
        if behind:
            return TrackResult("stale", message=(
                f"{behind} car(s) show fewer laps than already seen: an older copy"))
        return None

    def _race_clock(self, snapshot: FeedSnapshot, feed_s: float) -> float | None:
        if snapshot.clock_s is not None:
            return snapshot.clock_s
        if snapshot.remaining_s is not None and self.duration_s:
            return max(0.0, self.duration_s - snapshot.remaining_s)
        if self.start_offset_s is not None:
            return feed_s - self.start_offset_s
        return None

    # -- the step --------------------------------------------------------------------------
    def process(self, snapshot: FeedSnapshot, received_s: float) -> TrackResult:
        """Advance the state by one validated snapshot and return the laps it reveals.

        Args:
            snapshot: the parsed, validated payload.
            received_s: wall-clock time of the poll (s), the clock of last resort.
        """
        feed_ms = self._feed_ms(snapshot)
        content = self.content_digest(snapshot)
        if feed_ms is not None and self.last_feed_ms is not None:
            if feed_ms < self.last_feed_ms:
                return TrackResult("stale", message=(
                    f"payload time {feed_ms} ms is older than {self.last_feed_ms} ms"))
            if feed_ms == self.last_feed_ms and content == self.content:
                return TrackResult("duplicate", message="same feed time as the last payload")
        elif feed_ms is None:
            verdict = self._content_verdict(snapshot, content)
            if verdict is not None:
                return verdict
        if self.event is None:
            self.event, self.session = snapshot.event, snapshot.session
        elif (snapshot.event, snapshot.session) != (self.event, self.session) and (
                snapshot.event or snapshot.session):
            return TrackResult("other-session", message=(
                f"the feed now shows {snapshot.event} / {snapshot.session}, not "
                f"{self.event} / {self.session}"))
        # No feed clock: the race clock the feed states (WEC 2026 elapsedTime), then the
        # poll's wall-clock time; pit-lane times are measured on it.
        feed_s = (feed_ms / 1000.0 if feed_ms is not None else snapshot.clock_s
                  if snapshot.clock_s is not None else received_s)
        clock = self._race_clock(snapshot, feed_s)
        previous_flag = self.flag
        flag = snapshot.flag or self.flag
        result = TrackResult("ok", clock_s=clock)
        fresh: list[tuple[float, float]] = []  # (feed s, elapsed s) of one-lap crossings
        self._flag_now = flag
        for car in snapshot.cars:
            self._step_car(car, feed_s, clock, result, fresh)
        boundary = None
        if previous_flag is not None and flag != previous_flag and clock is not None \
                and self.clock_s is not None:
            boundary = (self.clock_s + clock) / 2  # the change happened between the polls
        self._assign_flags(result.rows, flag, previous_flag, boundary)
        if snapshot.flag_periods:
            self._flags_from_history(result.rows, snapshot.flag_periods)
        for when, elapsed in fresh:
            offset = when - elapsed
            if self.start_offset_s is None or offset < self.start_offset_s:
                self.start_offset_s = offset
        if feed_ms is not None:
            self.last_feed_ms = feed_ms
        self.content = content
        self.flag = flag
        self.clock_s = clock if clock is not None else self._race_clock(snapshot, feed_s)
        result.clock_s = self.clock_s
        return result

    def _step_car(self, car: CarState, now_s: float, clock: float | None,
                  result: TrackResult, fresh: list[tuple[float, float]]) -> None:
        t = self.cars.get(car.number)
        if t is None:
            t = self.cars[car.number] = CarTrack()
        t.car_class = car.car_class or t.car_class
        t.team = car.team or t.team
        t.vehicle = car.vehicle or t.vehicle
        for name in car.crew:  # the whole crew, in the entry's order (WEC 2026)
            if name not in t.drivers:
                t.drivers.append(name)
        if car.driver and car.driver not in t.drivers:
            t.drivers.append(car.driver)
        gained = car.laps - t.laps
        if gained < 0:
            log.warning("car %s: feed shows %d laps, %d already stored: row ignored",
                        car.number, car.laps, t.laps)
            result.message = f"car {car.number} went back from {t.laps} to {car.laps} laps"
            return
        midpoint = (now_s + t.last_seen_s) / 2 if t.last_seen_s is not None else now_s
        entered = car.in_pit and not t.in_pit
        exited = t.in_pit and not car.in_pit
        if entered:
            t.pit_entry_s, t.pit_visit_in_lap = midpoint, False
        stop_unseen = (not car.in_pit and not t.in_pit and car.pit_stops is not None
                       and t.pit_stops is not None and car.pit_stops > t.pit_stops)
        if gained:
            self._add_laps(car, t, gained, clock, result, fresh, now_s, stop_unseen)
        if exited:
            if t.pit_entry_s is not None:
                t.pending_pit_ms = max(1, round((midpoint - t.pit_entry_s) * 1000))
            t.pit_entry_s = None
        t.in_pit = car.in_pit
        t.pit_stops = car.pit_stops if car.pit_stops is not None else t.pit_stops
        t.last_seen_s = now_s

    def _add_laps(self, car: CarState, t: CarTrack, gained: int, clock: float | None,
                  result: TrackResult, fresh: list[tuple[float, float]], now_s: float,
                  stop_unseen: bool) -> None:
        number = car.number
        # The line is in the pit lane: a lap completed while the car is (or was, at the last
        # poll) in the pit lane is its in-lap; not the first lap of a pit-lane start (the car
        # left before crossing), not a finish (cars go to the pits after the flag).
        in_lap = ((car.in_pit or t.in_pit) and not t.pit_visit_in_lap
                  and not (t.laps == 0 and not car.in_pit)
                  and not (self._flag_now == "FF" and not t.in_pit))
        base = {"number": number, "class": t.car_class, "team": t.team,
                "manufacturer": None, "group_code": None, "lap_improvement": 0,
                "hour_of_day_s": None, "pit_time_s": None, "crossing_in_pit": False,
                "speed_kph": None, "top_speed_kph": None, "lap_time_s": None, "elapsed_s": None,
                "driver_name": None, "driver_number": None, "flag": None}
        rows = []
        for lap in range(t.laps + 1, car.laps):  # laps the feed no longer shows
            rows.append({**base, "lap_number": lap, "driver_name": t.driver,
                         "driver_number": self._driver_number(t, t.driver)})
            result.markers.append((number, lap, LAP_TIME_UNKNOWN))
        driver = t.driver if in_lap and t.driver else car.driver
        final = {**base, "lap_number": car.laps, "crossing_in_pit": in_lap,
                 "speed_kph": car.speed_kph, "top_speed_kph": car.top_speed_kph,
                 "driver_name": driver,
                 "driver_number": car.driver_index if driver == car.driver
                 and car.driver_index else self._driver_number(t, driver)}
        lap_ms = car.last_lap_ms
        if gained == 1 and lap_ms is not None and t.exact and (
                t.elapsed_ms is not None or t.laps == 0):
            elapsed_ms = (t.elapsed_ms or 0) + lap_ms
            t.exact = True
            fresh.append((now_s, elapsed_ms / 1000.0))
        else:
            floor = (t.elapsed_ms or 0) + (lap_ms or 1)
            if gained == 1 and lap_ms is not None and t.elapsed_ms is not None:
                elapsed_ms = floor  # chained from an earlier estimate: still an estimate
            else:
                elapsed_ms = max(floor, round(clock * 1000)) if clock is not None else floor
            t.exact = False
            result.markers.append((number, car.laps, ELAPSED_ESTIMATED))
        if lap_ms is None:
            result.markers.append((number, car.laps, LAP_TIME_UNKNOWN))
        final["lap_time_s"] = lap_ms / 1000.0 if lap_ms is not None else None
        final["elapsed_s"] = elapsed_ms / 1000.0
        rows.append(final)
        if t.pending_pit_ms is not None:  # the first new lap is the out-lap
            rows[0]["pit_time_s"] = t.pending_pit_ms / 1000.0
            result.markers.append((number, rows[0]["lap_number"], PIT_TIME_ESTIMATED))
            t.pending_pit_ms = None
        if stop_unseen:
            result.markers.append((number, car.laps, PIT_STOP_UNSEEN))
        if in_lap:
            t.pit_visit_in_lap = True
        t.laps, t.elapsed_ms = car.laps, elapsed_ms
        t.driver = car.driver or t.driver
        result.rows.extend(rows)

    @staticmethod
    def _driver_number(t: CarTrack, name: str | None) -> int | None:
        if name is None:
            return None
        if name not in t.drivers:
            t.drivers.append(name)
        return t.drivers.index(name) + 1

    @staticmethod
    def _flags_from_history(rows: list[dict],
                            periods: tuple[tuple[str, float, float | None], ...]) -> None:
        """The flag at each crossing from the feed's own flag history (WEC 2026
        ``progressFlagState``): exact, where the poll's flag only places a change between
        two polls. Crossings before the history starts, and the chequered flag (from the
        leader's crossing), keep the flag given by the polls."""
        starts = [start for _, start, _ in periods]
        for r in rows:
            elapsed = r["elapsed_s"]
            if elapsed is None or r["flag"] == "FF" or elapsed < starts[0]:
                continue
            i = bisect.bisect_right(starts, elapsed) - 1
            if periods[i][0] != "FF":
                r["flag"] = periods[i][0]

    def _assign_flags(self, rows: list[dict], flag: str | None, previous: str | None,
                      boundary: float | None) -> None:
        """The flag at each new crossing (unknown-time laps stay None).

        When the flag changed since the last poll, the change is placed midway between the
        two polls (``boundary``, race time): earlier crossings keep the previous flag. The
        chequered flag starts exactly at the leader's crossing.
        """
        timed = [r for r in rows if r["elapsed_s"] is not None]
        if flag == "FF" and previous != "FF" and timed:
            most = max(r["lap_number"] for r in timed)
            boundary = min(r["elapsed_s"] for r in timed if r["lap_number"] == most)
        for r in timed:
            r["flag"] = previous if boundary is not None and r["elapsed_s"] < boundary \
                else flag
