"""IMSA live scoring: RaceResults and RaceData JSONP payloads → ``FeedSnapshot`` (DATA.md §5).

Pure functions of the payload text. RaceResults: ``S`` session, ``E`` event, ``T`` track,
``DT`` time of day, ``B`` cars (``N`` number, ``C`` class — empty on placeholder rows, which
are dropped —, ``L`` laps, ``LL`` last lap, ``BL`` best lap, ``P`` in pit, ``PS`` pit
stops, ``F`` driver, ``V`` vehicle, ``A``/``PIC`` positions, ``SP`` last-lap speed in mph).
RaceData: ``C`` flag code (0/1 green, 2 yellow = FCY, 3 red, 4 chequered), ``T`` then ``B``
time to go. The live feed has no lap history; ``race.live.tracker`` derives laps between
polls.

The 2026 feed (layout ``imsa-2026``; older payloads are ``imsa``) differs: ``P`` is a JSON
boolean (0/1/"0"/"1" are read too), the time to go reads "Time to go: 01:23:45" or "Session
Complete" (finished: 0 s to go), text arrives as UTF-8 read as Latin-1 ("AndrÃ©" — repaired
in every text field when it round-trips), and transponder placeholder rows (``N`` "Tx…",
no driver or vehicle) are interleaved with the cars (dropped).
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
_TO_GO_PREFIX = re.compile(r"^\s*time\s+to\s+go\s*:?\s*", re.I)
_ZERO_CLOCK = re.compile(r"^\s*0+(?::0+){0,2}(?:\.0+)?\s*$")
_COMPLETE = re.compile(r"^\s*session\s+complete", re.I)
# Windows-1252's characters for the bytes 0x80-0x9F (UTF-8 continuation bytes read as
# Windows-1252 show as these; read as Latin-1 they stay U+0080-U+009F).
_CP1252_BYTE = {bytes([b]).decode("cp1252"): b for b in range(0x80, 0xA0)
                if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}


@dataclass(frozen=True)
class RaceControl:
    """What RaceData says: the flag and the time to go (s)."""

    flag: str | None
    time_to_go_s: float | None
    finished: bool = False  # "Session Complete"
    layout: str = "imsa"    # imsa-2026 when the time to go carries the 2026 texts


def repair_mojibake(text: str | None) -> str | None:
    """Text that is UTF-8 read as Latin-1 / Windows-1252, repaired: "AndrÃ© NEGRÃƒO" →
    "André NEGRÃO".

    Repaired only when it round-trips: every character maps back to one byte and the bytes
    are valid UTF-8; anything else ("Müller", "Łukasz", plain ASCII) is returned unchanged.
    Applied again while it changes (text mis-read twice), at most three times.
    """
    for _ in range(3):
        if text is None or text.isascii():
            return text
        raw = bytearray()
        for char in text:
            code = ord(char)
            byte = code if code < 256 else _CP1252_BYTE.get(char)
            if byte is None:
                return text
            raw.append(byte)
        try:
            repaired = raw.decode("utf-8")
        except UnicodeDecodeError:
            return text
        if repaired == text:
            return text
        text = repaired
    return text


def feed_text(value: object) -> str | None:
    """A text field of the feed: stripped, None when empty, mojibake repaired."""
    return repair_mojibake(as_text(value))


def in_pit(value: object) -> bool:
    """``P`` (in pit): a JSON boolean, 0 / 1 or "0" / "1" ("true"/"false" too); anything
    else (absent, empty) is False."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return as_int(value) == 1


def is_placeholder_row(row: dict) -> bool:
    """A row that is no car: an empty class, or a transponder placeholder (``N`` "Tx…"
    with no driver and no vehicle)."""
    if not as_text(row.get("C")):
        return True
    number = as_text(row.get("N")) or ""
    return number.startswith("Tx") and not as_text(row.get("F")) and not as_text(row.get("V"))


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
    if isinstance(value, str) and _ZERO_CLOCK.match(value):
        return 0.0  # time up (the lap-time parser reads a zero as "no time")
    ms = times_ms([value])[0] if isinstance(value, str) else None
    return ms / 1000.0 if ms is not None else None


def time_to_go(value: object) -> tuple[float | None, bool, bool]:
    """A time-to-go value: (seconds, finished, in the 2026 wording).

    ``"01:23:45"``, ``"Time to go: 01:23:45"``, a number of seconds, or ``"Session
    Complete"`` (0 s, finished); (None, False, False) for anything else.
    """
    if isinstance(value, str):
        if _COMPLETE.match(value):
            return 0.0, True, True
        prefixed = bool(_TO_GO_PREFIX.match(value))
        seconds = _clock_s(_TO_GO_PREFIX.sub("", value))
        return seconds, False, prefixed and seconds is not None
    seconds = _clock_s(value)
    return seconds, False, False


def parse_race_data(text: str | bytes, source: str = "RaceData") -> RaceControl:
    """Parse RaceData (JSONP): the flag code ``C`` and the time to go (``T``, else ``B``).

    "Session Complete" is 0 s to go; with no flag code it is the chequered flag (FF).

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
    remaining, finished, wording = None, False, False
    for key in ("T", "B"):
        remaining, finished, wording = time_to_go(data.get(key))
        if remaining is not None:
            break
    flag = FLAG_BY_CODE.get(code) if code is not None else ("FF" if finished else None)
    return RaceControl(flag, remaining, finished, "imsa-2026" if wording else "imsa")


def parse_race_results(text: str | bytes, source: str = "RaceResults",
                       control: RaceControl | None = None) -> FeedSnapshot:
    """Parse RaceResults (JSONP) into a snapshot; placeholder rows are dropped.

    Every text field has its mojibake repaired; the layout is ``imsa-2026`` when ``P`` comes
    as a JSON boolean, a transponder placeholder row is present or RaceData speaks 2026.

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
    rows = [r for r in data["B"] if isinstance(r, dict) and not is_placeholder_row(r)]
    modern = any(isinstance(r, dict) and (isinstance(r.get("P"), bool) or str(
        r.get("N") or "").strip().startswith("Tx")) for r in data["B"])
    last = times_ms(r.get("LL") for r in rows)
    best = times_ms(r.get("BL") for r in rows)
    cars = []
    for i, row in enumerate(rows):
        number = feed_text(row.get("N"))
        laps = as_int(row.get("L"))
        if number is None or laps is None:
            raise ParseError(f"car row {i + 1} has no number or lap count", source=source,
                             field="N" if number is None else "L")
        speed = as_float(row.get("SP"))
        cars.append(CarState(
            number=number, laps=laps, last_lap_ms=last[i], best_lap_ms=best[i],
            in_pit=in_pit(row.get("P")), pit_stops=as_int(row.get("PS")),
            position=as_int(row.get("A")), class_position=as_int(row.get("PIC")),
            car_class=feed_text(row.get("C")), team=feed_text(row.get("T")),
            vehicle=feed_text(row.get("V")), driver=feed_text(row.get("F")),
            state=feed_text(row.get("S")),
            speed_kph=round(speed * MPH_TO_KPH, 3) if speed is not None else None,
            gap=feed_text(row.get("D"))))
    modern = modern or (control is not None and control.layout == "imsa-2026")
    snapshot = FeedSnapshot(
        source="imsa", layout="imsa-2026" if modern else "imsa", cars=tuple(cars),
        event=feed_text(data.get("E")), session=feed_text(data.get("S")),
        track=feed_text(data.get("T")), feed_time_ms=time_of_day_ms(data.get("DT")))
    if control is not None:
        snapshot = replace(snapshot, flag=control.flag, remaining_s=control.time_to_go_s)
    return snapshot


def parse_imsa(results: str | bytes, race_data: str | bytes | None = None) -> FeedSnapshot:
    """Parse one IMSA poll: RaceResults plus, when fetched, RaceData."""
    control = parse_race_data(race_data) if race_data is not None else None
    return parse_race_results(results, control=control)
