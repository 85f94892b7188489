"""IMSA live scoring: RaceResults and RaceData JSONP payloads → ``FeedSnapshot`` (DATA.md §5).

Pure functions of the payload text. RaceResults: ``S`` session, ``E`` event, ``T`` track,
``DT`` time of day, ``B`` cars (``N`` number, ``C`` class — empty on placeholder rows, which
are dropped —, ``L`` laps, ``LL`` last lap, ``BL`` best lap, ``P`` in pit 0/1, ``PS`` pit
stops, ``F`` driver, ``V`` vehicle, ``A``/``PIC`` positions, ``SP`` last-lap speed in mph).
RaceData: ``C`` flag code (0/1 green, 2 yellow = FCY, 3 red, 4 chequered), ``B``/``T`` time
to go. The live feed has no lap history; ``race.live.tracker`` derives laps between polls.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from race.errors import ParseError
from race.sources.feed import (
    MPH_TO_KPH,
    CarState,
    FeedSnapshot,
    as_float,
    as_int,
    as_text,
    times_ms,
)

FLAG_BY_CODE = {0: "GF", 1: "GF", 2: "FCY", 3: "RF", 4: "FF"}
CODE_BY_FLAG = {"GF": 1, "FCY": 2, "SF": 2, "RF": 3, "FF": 4}
_JSONP = re.compile(r"^\s*[A-Za-z_$][\w$.]*\s*\((.*)\)\s*;?\s*$", re.S)
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?\s*$")


@dataclass(frozen=True)
class RaceControl:
    """What RaceData says: the flag and the time to go (s)."""

    flag: str | None
    time_to_go_s: float | None


def strip_jsonp(text: str | bytes, source: str = "<payload>") -> object:
    """The JSON value inside ``callback( … );`` (plain JSON is accepted too).

    Raises:
        ParseError: not JSON / JSONP, or truncated.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", errors="replace")
    text = text.strip().lstrip("\ufeff")
    match = _JSONP.match(text)
    body = match.group(1) if match else text
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON/JSONP ({exc.msg} at char {exc.pos})",
                         source=source) from None


def time_of_day_ms(text: object) -> int | None:
    """``14:29:51`` or ``1:28:43 PM`` → ms since midnight; None when absent or malformed."""
    match = _CLOCK.match(str(text)) if text is not None else None
    if not match:
        return None
    hours, minutes, seconds, half = match.groups()
    h = int(hours)
    if half:
        h = h % 12 + (12 if half.lower() == "pm" else 0)
    return ((h * 60 + int(minutes)) * 60 + int(seconds or 0)) * 1000


def _clock_s(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    ms = times_ms([value])[0] if isinstance(value, str) else None
    return ms / 1000.0 if ms is not None else None


def parse_race_data(text: str | bytes, source: str = "RaceData") -> RaceControl:
    """Parse RaceData (JSONP): the flag code ``C`` and time to go ``B`` or ``T``.

    Raises:
        ParseError: not JSON, not an object, or an unknown flag code.
    """
    data = strip_jsonp(text, source)
    if not isinstance(data, dict):
        raise ParseError("RaceData is not a JSON object", source=source)
    code = as_int(data.get("C"))
    if code is not None and code not in FLAG_BY_CODE:
        raise ParseError(f"unknown flag code {code!r} (expected 0-4)", source=source,
                         field="C")
    remaining = _clock_s(data.get("B", data.get("T")))
    return RaceControl(FLAG_BY_CODE.get(code) if code is not None else None, remaining)


def parse_race_results(text: str | bytes, source: str = "RaceResults",
                       control: RaceControl | None = None) -> FeedSnapshot:
    """Parse RaceResults (JSONP) into a snapshot; placeholder rows (empty class) are dropped.

    Args:
        text: the payload.
        source: label for error messages.
        control: the RaceData of the same poll (flag, time to go), when fetched.

    Raises:
        ParseError: not JSON, no ``B`` list, a car without number or lap count.
    """
    data = strip_jsonp(text, source)
    if not isinstance(data, dict) or not isinstance(data.get("B"), list):
        raise ParseError("RaceResults has no car list 'B'", source=source, field="B")
    rows = [r for r in data["B"] if isinstance(r, dict) and as_text(r.get("C"))]
    last = times_ms(r.get("LL") for r in rows)
    best = times_ms(r.get("BL") for r in rows)
    cars = []
    for i, row in enumerate(rows):
        number = as_text(row.get("N"))
        laps = as_int(row.get("L"))
        if number is None or laps is None:
            raise ParseError(f"car row {i + 1} has no number or lap count", source=source,
                             field="N" if number is None else "L")
        speed = as_float(row.get("SP"))
        cars.append(CarState(
            number=number, laps=laps, last_lap_ms=last[i], best_lap_ms=best[i],
            in_pit=as_int(row.get("P")) == 1, pit_stops=as_int(row.get("PS")),
            position=as_int(row.get("A")), class_position=as_int(row.get("PIC")),
            car_class=as_text(row.get("C")), team=as_text(row.get("T")),
            vehicle=as_text(row.get("V")), driver=as_text(row.get("F")),
            state=as_text(row.get("S")),
            speed_kph=round(speed * MPH_TO_KPH, 3) if speed is not None else None,
            gap=as_text(row.get("D"))))
    snapshot = FeedSnapshot(
        source="imsa", layout="imsa-jsonp", cars=tuple(cars), event=as_text(data.get("E")),
        session=as_text(data.get("S")), track=as_text(data.get("T")),
        feed_time_ms=time_of_day_ms(data.get("DT")))
    if control is not None:
        snapshot = replace(snapshot, flag=control.flag, remaining_s=control.time_to_go_s)
    return snapshot


def parse_imsa(results: str | bytes, race_data: str | bytes | None = None) -> FeedSnapshot:
    """Parse one IMSA poll: RaceResults plus, when fetched, RaceData."""
    control = parse_race_data(race_data) if race_data is not None else None
    return parse_race_results(results, control=control)
