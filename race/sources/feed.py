"""The normalised live snapshot every feed parser returns (IMSA, WEC, replay).

A snapshot is what a timing screen shows at one instant: each car's laps completed, last and
best lap, pit state and stop count, plus the session flag and clocks. It has no lap history:
``race.live.tracker`` derives laps from the changes between consecutive snapshots.
Times are integer milliseconds (exact, like ``race.timefmt``); flags use the stored codes
(GF green, FCY full-course yellow, SF safety car, RF red, FF chequered; None unknown).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from race.errors import ValidationError
from race.schema import FLAG_CODES
from race.timefmt import parse_times_ms

MPH_TO_KPH = 1.609344
# Placeholders feeds print for "no time": '--.---', '--:---', '-', 'N/A', '1 lap' (gaps).
_TIME_LIKE = re.compile(r"^\s*(?:\d+[:'])?(?:\d+[:'])?\d+(?:\.\d{1,3})?\s*$")
MAX_LAP_MS = 6 * 3600 * 1000  # a lap longer than 6 h is a corrupt value, not a repair


@dataclass(frozen=True)
class CarState:
    """One car as a live feed shows it at one instant.

    Attributes:
        number: car number as text (``007`` ≠ ``7``).
        laps: laps completed.
        last_lap_ms: time of lap ``laps`` (ms), None when the feed shows none.
        in_pit: the car is in the pit lane (IMSA ``P``, WEC state ``In``).
        pit_stops: the feed's stop counter (IMSA ``PS``, WEC ``pitstop``), None if absent.
        last_passing_ms: wall-clock instant of the last line crossing (epoch ms, WEC only).
        driver_index: 1-based index of the current driver in the car's entry, when the feed
            lists the entry's drivers (newer WEC layout).
        speed_kph: average speed of the last lap (km/h).
    """

    number: str
    laps: int
    last_lap_ms: int | None = None
    best_lap_ms: int | None = None
    in_pit: bool = False
    pit_stops: int | None = None
    position: int | None = None
    class_position: int | None = None
    car_class: str | None = None
    team: str | None = None
    vehicle: str | None = None
    driver: str | None = None
    driver_index: int | None = None
    state: str | None = None
    speed_kph: float | None = None
    last_passing_ms: int | None = None
    gap: str | None = None


@dataclass(frozen=True)
class FeedSnapshot:
    """A parsed live payload.

    Attributes:
        source: ``imsa`` or ``wec``.
        layout: the payload layout the parser recognised (e.g. ``wec-2017``, ``wec-current``).
        feed_time_ms: the feed's own clock: WEC ``params.timestamp`` (epoch ms); IMSA ``DT``
            (time of day, ms since local midnight). Orders payloads; None when absent.
        clock_s: race time elapsed at the snapshot when the feed states it (s).
        remaining_s: race time remaining when the feed states it (s).
        flag: session flag (GF, FCY, SF, RF, FF) or None.
        flag_history: (race time s, flag) changes the feed reports itself, oldest first.
    """

    source: str
    cars: tuple[CarState, ...]
    layout: str = ""
    event: str | None = None
    session: str | None = None
    track: str | None = None
    feed_time_ms: int | None = None
    clock_s: float | None = None
    remaining_s: float | None = None
    flag: str | None = None
    flag_history: tuple[tuple[float, str], ...] = field(default_factory=tuple)
    weather: dict[str, float | str | None] = field(default_factory=dict)

    def car(self, number: str) -> CarState | None:
        return next((c for c in self.cars if c.number == number), None)


def times_ms(values: Iterable[object]) -> list[int | None]:
    """Parse feed time strings (``1:46.420``, ``--.---``, ``''``) to ms in one vectorised call.

    Placeholders and gap texts (``1 lap``) are None; integers are taken as ms already.
    """
    values = list(values)
    # Only time texts go to the parser (the current WEC layout gives ms as numbers: then it
    # is not called at all, which matters on a 10 s poll).
    texts = {i: v.strip() for i, v in enumerate(values)
             if isinstance(v, str) and _TIME_LIKE.match(v)}
    ms = parse_times_ms(list(texts.values()), strict=False).tolist() if texts else []
    parsed = dict(zip(texts, ms, strict=True))
    out: list[int | None] = []
    for i, v in enumerate(values):
        if isinstance(v, int | float) and not isinstance(v, bool) and v == v and v > 0:
            out.append(int(v))
        else:
            m = parsed.get(i, math.nan)
            out.append(None if m != m or m <= 0 else int(m))
    return out


def as_int(value: object) -> int | None:
    """An integer from a JSON number or numeric text; None for empty or non-numeric."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value else None
    text = str(value).strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else None


def as_float(value: object) -> float | None:
    """A float from a JSON number or numeric text; None for placeholders like ``--.---``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value == value else None
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        return None


def as_text(value: object) -> str | None:
    """Stripped text; None for empty values."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def validate_snapshot(snapshot: FeedSnapshot, label: str = "<payload>") -> FeedSnapshot:
    """Check the invariants a snapshot must meet before anything is derived from it.

    Raises:
        ValidationError: no cars, a car number twice, negative laps, an impossible lap time,
            an unknown flag. The payload is then skipped and logged; nothing is stored.
    """
    if not snapshot.cars:
        raise ValidationError("no cars in the payload", source=label)
    seen: set[str] = set()
    for car in snapshot.cars:
        if not car.number:
            raise ValidationError("a car has no number", source=label, field="number")
        if car.number in seen:
            raise ValidationError(f"car {car.number} appears twice", source=label,
                                  field="number")
        seen.add(car.number)
        if car.laps < 0:
            raise ValidationError(f"car {car.number}: {car.laps} laps", source=label,
                                  field="laps")
        if car.last_lap_ms is not None and not 0 < car.last_lap_ms <= MAX_LAP_MS:
            raise ValidationError(f"car {car.number}: last lap {car.last_lap_ms} ms",
                                  source=label, field="last_lap")
    if snapshot.flag is not None and snapshot.flag not in FLAG_CODES:
        raise ValidationError(f"unknown flag {snapshot.flag!r}", source=label, field="flag")
    return snapshot
