"""Replays: any stored race, official lap file or raw feed recording, played through the live
path (``LiveSession.ingest``) at 1×–1000× or as fast as possible, with pause, resume and seek.

- A stored race or a lap file is turned into the payloads its series' feed would have shown
  (``race.sources.replay.FeedBuilder``); polls are spaced like live polls (10 s of race time
  at 1×) but never so far apart that a car completes two laps or a pit visit falls between
  them, so a replay loses nothing.
- A recording (``data/raw/<race_id>/``) is replayed payload by payload with its original
  spacing divided by the speed.

The replay writes into its own race (``replay-<id>`` by default), recreated at the start and
on a backward seek; the dashboard shows it like a live race.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from race.errors import NotFoundError, RaceDataError
from race.importer import build_race_frames, meta_from_path
from race.live.session import LiveConfig, LiveSession
from race.sources.fetch import RawRecord, read_recording
from race.sources.lapfile import parse_lap_file
from race.sources.replay import FeedBuilder
from race.store import RaceStore

log = logging.getLogger(__name__)

MAX_SPEED = math.inf
MIN_TICK_S = 0.1  # wall-clock time between two replay polls at high speed


def parse_speed(text: str | float) -> float:
    """``4``, ``100x``, ``max`` → a speed factor (``inf`` = as fast as possible).

    Raises:
        RaceDataError: not a speed between 0.1 and 1000 (or ``max``).
    """
    if isinstance(text, int | float):
        value = float(text)
    else:
        raw = str(text).strip().lower()
        if raw in ("max", "inf", "fastest"):
            return MAX_SPEED
        match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*[x×]?", raw)
        if match is None:
            raise RaceDataError(f"speed {text!r} is not a number (1 to 1000, or max)")
        value = float(match.group(1))
    if math.isinf(value):
        return MAX_SPEED
    if not 0.1 <= value <= 1000:
        raise RaceDataError(f"speed {value:g} is out of range (0.1 to 1000, or max)")
    return value


@dataclass
class ReplayStatus:
    """What a replay is doing (for the UI and the command line)."""

    source: str
    race_id: str
    speed: float
    race_time_s: float
    end_s: float
    paused: bool
    done: bool
    polls: int
    laps_stored: int
    error: str | None = None

    def as_json(self) -> dict:
        return {"source": self.source, "race_id": self.race_id,
                "speed": "max" if math.isinf(self.speed) else self.speed,
                "race_time_s": round(self.race_time_s, 3), "end_s": round(self.end_s, 3),
                "paused": self.paused, "done": self.done, "polls": self.polls,
                "laps_stored": self.laps_stored, "error": self.error}


class Replay:
    """Play a stored race, a lap file or a recording through the live path.

    Args:
        store: the database.
        source: a stored race id, a lap file path, or a recording folder.
        speed: 0.1–1000, or ``inf`` for as fast as possible.
        race_id: the race the replay writes (default ``replay-<source id>``).
        poll_s: race time between polls at 1× (s): the live feed's cadence.
        sleep: sleep function (tests pass a fake).
    """

    def __init__(self, store: RaceStore, source: str, *, speed: float = 1.0,
                 race_id: str | None = None, poll_s: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self.source = source
        self.speed = speed
        self.poll_s = poll_s
        self.sleep = sleep
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._paused = False
        self._seek_to: float | None = None
        self._fast_forward_to: float | None = None
        self._index = 0
        self.polls = 0
        self.error: str | None = None
        self.done = False
        self.t = 0.0
        self.records: list[RawRecord] | None = None
        self.builder: FeedBuilder | None = None
        path = Path(source)
        if path.is_dir():
            self.records = list(read_recording(path))
            if not self.records:
                raise NotFoundError(f"{path}: no recorded payloads (*.jsonl.gz) in this folder")
            self.kind, base_id = "recording", path.name
            self.feed_source = self.records[0].source
            first = self.records[0].fetched_at
            self.offsets = [(r.fetched_at - first).total_seconds() for r in self.records]
            self.end_s = self.offsets[-1]
            self.layout = self.feed_source
            self.event, self.season, self.duration = base_id, None, None
        else:
            laps, periods, series, self.event, self.season = self._load_laps(path)
            self.kind, base_id = "race", self._base_id(path)
            self.feed_source = "imsa" if series == "IMSA" else "wec"
            has_flags = laps["flag"].notna().any() if "flag" in laps else False
            self.layout = ("imsa" if series == "IMSA" else
                           "wec-current" if has_flags else "wec-2017")
            self.builder = FeedBuilder(laps, periods, event=str(self.event))
            self.end_s = self.builder.end_s + 30.0
            self.duration = self.builder.duration_s
        self.race_id = race_id or f"replay-{base_id}"
        self.session = self._new_session()

    # -- sources ---------------------------------------------------------------------------
    def _base_id(self, path: Path) -> str:
        return path.stem if path.is_file() else self.source

    def _load_laps(self, path: Path) -> tuple[pd.DataFrame, pd.DataFrame, str, str, int | None]:
        if path.is_file():
            laps = parse_lap_file(path.read_bytes(), str(path))
            frames = build_race_frames(laps)
            event, year, _ = meta_from_path(path)
            classes = set(laps["class"].dropna().str.upper())
            series = "IMSA" if classes & {"GTD", "GTP", "DPI", "GTLM", "LMP3", "GTDPRO",
                                          "GTD PRO"} or "imsa" in str(path).lower() else "WEC"
            return frames["laps"], frames["flag_periods"], series, event, year
        race = self.store.race(self.source)  # NotFoundError names the known races
        laps = self.store.table("laps", self.source)
        if laps.empty:
            raise NotFoundError(f"race {self.source} has no laps to replay")
        periods = self.store.table("flag_periods", self.source)
        season = race.get("season")
        return (laps, periods, str(race["series"]), str(race["event"]),
                None if pd.isna(season) else int(season))

    def _new_session(self) -> LiveSession:
        if self.store.has_race(self.race_id):
            self.store.delete_race(self.race_id, message="replaced by a new replay")
        config = LiveConfig(source=self.feed_source, url=f"replay:{self.source}",
                            race_id=self.race_id, event=f"{self.event} (replay)",
                            season=self.season, duration_s=self.duration, label="replay")
        return LiveSession(self.store, config, recorder=False)

    # -- control (any thread) -------------------------------------------------------------
    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()

    def seek(self, t_s: float) -> None:
        """Jump to race time ``t_s`` (s); backwards restarts the replay race from zero."""
        self._seek_to = max(0.0, min(float(t_s), self.end_s))
        self._wake.set()

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        self._wake.set()

    def status(self) -> ReplayStatus:
        return ReplayStatus(self.source, self.race_id, self.speed, self.t, self.end_s,
                            self._paused, self.done, self.polls, self.session.laps_stored,
                            self.error)

    # -- the loop --------------------------------------------------------------------------
    def run(self, until_s: float | None = None) -> ReplayStatus:
        """Play until the end (or ``until_s`` of race time), a stop, or an error."""
        end = self.end_s if until_s is None else min(until_s, self.end_s)
        try:
            if self.kind == "recording":
                self._run_recording(end)
            else:
                self._run_race(end)
        except RaceDataError as exc:
            self.error = str(exc)
            log.warning("replay of %s stopped: %s", self.source, exc)
        self.session.stop()  # final counts on the race row, state marked inactive
        self.done = True
        return self.status()

    def _handle_seek(self) -> None:
        """Apply a pending seek: backwards restarts the replay race, then catch up."""
        target, self._seek_to = self._seek_to, None
        if target is None:
            return
        if target < self.t:
            self.session = self._new_session()
            self.t = 0.0
            self._index = 0
        self._fast_forward_to = target

    def _wait(self, seconds: float) -> None:
        """Sleep up to ``seconds`` of wall time; woken early by a control call."""
        if seconds <= 0:
            return
        if self.sleep is time.sleep:
            self._wake.wait(seconds)
            self._wake.clear()
        else:
            self.sleep(seconds)

    def _step(self) -> tuple[float, bool]:
        """Race time to the next poll at most, and whether to pace it to the wall clock."""
        target = self._fast_forward_to
        if target is not None and self.t < target:
            return target - self.t, False  # catching up after a seek: no waiting
        self._fast_forward_to = None
        if math.isinf(self.speed):
            return math.inf, False
        return max(self.poll_s, MIN_TICK_S * self.speed), True

    def _run_race(self, end: float) -> None:
        assert self.builder is not None
        while not self._stop:
            self._handle_seek()
            if self._paused:
                self._wait(0.2)
                continue
            started = time.monotonic()
            payloads = self.builder.payloads(self.t, self.layout)
            self.session.ingest(payloads, received_s=self.t, record=False)
            self.polls += 1
            if self.t >= end:
                break
            step, paced = self._step()
            nxt = min(self.builder.next_time(self.t, step), end)
            if paced:
                self._wait((nxt - self.t) / self.speed - (time.monotonic() - started))
            self.t = nxt

    def _run_recording(self, end: float) -> None:
        assert self.records is not None
        while not self._stop and self._index < len(self.records):
            self._handle_seek()
            if self._paused:
                self._wait(0.2)
                continue
            record = self.records[self._index]
            self.t = self.offsets[self._index]
            if self.t > end:
                break
            self.session.ingest(record.payloads, received_s=record.fetched_at.timestamp(),
                                record=False)
            self.polls += 1
            self._index += 1
            if self._index < len(self.records):
                _, paced = self._step()
                if paced:
                    self._wait((self.offsets[self._index] - self.t) / self.speed)


def replay_in_thread(replay: Replay) -> threading.Thread:
    """Run a replay in a daemon thread (the monitor's way); returns the started thread."""
    thread = threading.Thread(target=replay.run, name=f"replay:{replay.race_id}", daemon=True)
    thread.start()
    return thread
