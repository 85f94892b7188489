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
from datetime import UTC, datetime

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
            lists the entry's drivers (newer WEC layouts).
        speed_kph: average speed of the last lap (km/h).
        top_speed_kph: the car's top speed (km/h; WEC 2026 ``speed``), not a lap average.
        gap_ms / interval_ms / class_gap_ms: time to the leader, to the car ahead and to the
            class leader (ms), when the feed gives them as numbers (WEC 2026).
        gap_laps: laps behind the leader (WEC 2026 ``gapLaps`` "2 laps"; "-" = 0 → None).
        crew: the whole crew, "First LAST", in the order of the entry (WEC 2026
            ``drivers[]``): known from the first poll, before each has driven.
        crew_licences / crew_countries: each crew member's FIA rating (Platinum, Gold,
            Silver, Bronze) and country, aligned with ``crew`` (None when not given).
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
    top_speed_kph: float | None = None
    gap_ms: int | None = None
    interval_ms: int | None = None
    class_gap_ms: int | None = None
    gap_laps: int | None = None
    crew: tuple[str, ...] = ()
    crew_licences: tuple[str | None, ...] = ()
    crew_countries: tuple[str | None, ...] = ()

    def as_json(self) -> dict:
        """What ``python -m race probe`` shows of the car (times in s)."""
        return {"number": self.number, "class": self.car_class, "position": self.position,
                "class_position": self.class_position, "laps": self.laps,
                "driver": self.driver, "team": self.team,
                "last_lap_s": _seconds(self.last_lap_ms),
                "best_lap_s": _seconds(self.best_lap_ms), "pit_stops": self.pit_stops,
                "in_pit": self.in_pit, "state": self.state}


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0


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
        flag_periods: the same as periods (flag, start s, end s or None for the open one).
        start_epoch_ms: wall-clock instant of the start (WEC 2026 ``params.startTime``).
        weather: the feed's weather as it gives it (WEC: ``airTemp`` °C, ``trackTemp`` °C,
            ``humidity`` %, ``pressure`` hPa, ``windSpeed``, ``windDirection`` °, and the
            ``weather`` text, "sunny", "cloudy" …, when the payload has it).
        missing: fields the parser needs and did not find (``params.elapsedTime``,
            ``entries[].lap`` …): a layout it does not fully understand. Empty when all found.
        warnings: oddities the parser worked around (a ``driverId`` pointing to no one …).
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
    flag_periods: tuple[tuple[str, float, float | None], ...] = field(default_factory=tuple)
    start_epoch_ms: int | None = None
    missing: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def as_json(self) -> dict:
        """What ``python -m race probe --json`` prints: the session, every car, and what
        the parser missed (flag codes as stored; ``end_s`` None for the open period)."""
        return {"source": self.source, "layout": self.layout,
                "session": {"event": self.event, "session": self.session,
                            "elapsed_s": self.clock_s, "remaining_s": self.remaining_s,
                            "flag": self.flag,
                            "flag_periods": [{"flag": f, "start_s": a, "end_s": b}
                                             for f, a, b in self.periods()],
                            "weather": dict(self.weather)},
                "cars": [c.as_json() for c in self.cars],
                "missing": list(self.missing), "warnings": list(self.warnings)}

    def periods(self) -> tuple[tuple[str, float, float | None], ...]:
        """``flag_periods``, else periods made of ``flag_history`` (each change runs until
        the next; the last is open)."""
        if self.flag_periods or not self.flag_history:
            return self.flag_periods
        changes = sorted(self.flag_history)
        return tuple((flag, start, changes[i + 1][0] if i + 1 < len(changes) else None)
                     for i, (start, flag) in enumerate(changes))

    def car(self, number: str) -> CarState | None:
        return next((c for c in self.cars if c.number == number), None)


HPA_PER_INHG = 33.8638866667
# The WEC feed's weather keys → the stored columns (race.schema.WEATHER) and conversions
# from °C, %, hPa, km/h (DATA.md gives no unit for windSpeed: km/h assumed), °.
_WEATHER_COLUMNS = {
    "airTemp": ("air_temp_f", lambda c: c * 9 / 5 + 32),
    "trackTemp": ("track_temp_f", lambda c: c * 9 / 5 + 32),
    "humidity": ("humidity_pct", lambda v: v),
    "pressure": ("pressure_inhg", lambda hpa: hpa / HPA_PER_INHG),
    "windSpeed": ("wind_speed_mph", lambda kph: kph / MPH_TO_KPH),
    "windDirection": ("wind_direction_deg", lambda v: v),
}


# Words of the WEC feed's ``weather`` text ("sunny", "cloudy" in real payloads): rain when
# one of the first appears, dry when one of the second does, unknown otherwise.
_RAIN_WORDS = re.compile(r"rain|wet|shower|drizzle|storm|thunder", re.I)
_DRY_WORDS = re.compile(r"sun|cloud|clear|overcast|dry|fair", re.I)


def rain_from_text(text: object) -> bool | None:
    """Whether a weather text says it rains (None when it says neither)."""
    if not isinstance(text, str) or not text.strip():
        return None
    if _RAIN_WORDS.search(text):
        return True
    return False if _DRY_WORDS.search(text) else None


def weather_row(snapshot: FeedSnapshot, received_s: float) -> dict | None:
    """One ``weather`` row from a WEC payload's weather, or None when it has none.

    ``time_utc`` is the start instant plus the race time when the feed gives both (WEC
    2026 ``startTime`` + ``elapsedTime``), else the poll's wall-clock time; ``elapsed_s``
    the race time of the reading.
    """
    values = {}
    for key, (column, convert) in _WEATHER_COLUMNS.items():
        number = as_float(snapshot.weather.get(key))
        if number is not None and math.isfinite(number):
            values[column] = round(convert(number), 4)
    rain = rain_from_text(snapshot.weather.get("weather"))
    if rain is not None:
        values["rain"] = rain
    if not values:
        return None
    if snapshot.start_epoch_ms is not None and snapshot.clock_s is not None:
        instant_s = snapshot.start_epoch_ms / 1000.0 + snapshot.clock_s
    else:
        instant_s = received_s
    try:
        when = datetime.fromtimestamp(round(instant_s, 3), UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return None
    return {"time_utc": when, "elapsed_s": snapshot.clock_s, **values}


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
    """Stripped text; None for empty values and for values that are no text at all (an
    object or list where a text was: printing it would invent a car number or a name)."""
    if value is None or isinstance(value, dict | list):
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
