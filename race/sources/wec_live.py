"""FIA WEC live JSON → ``FeedSnapshot`` (DATA.md §5), three layouts, told apart by content.

- ``wec-2017`` (2017–2021, ``…/__data.json``): ``params{eventName, timestamp (ms),
  racestate, safetycar, elapsed, remaining, weather…}``, ``entries[{number, ranking,
  categoryPosition, category, team, driver, car, state, lap, lastlap, bestlap, pitstop,
  speed, lastPassingTime (ms)…}]``.
- ``wec-current`` (``…/data.json`` before 2026): ``params{…, sessionName, raceState}``,
  entries add ``drivers[]``, ``lastlapTime``/``bestlapTime`` in ms, and
  ``progressFlagState[]``.
- ``wec-2026`` (``…/ecm-prod/live/WEC/data.json`` as 2026 clients poll it): ``params.
  timestamp`` is 0 (no feed clock: the tracker judges staleness from the content),
  ``params.elapsedTime`` (s, float; no ``elapsed``), ``params.startTime`` (epoch ms of the
  start), ``progressFlagState[{startTime (epoch ms), state, current}]`` (a period runs
  until the next item), ``eventName`` often "N/A"; per entry ``driverId`` → ``drivers[
  {driverId, firstName, lastName, …}]`` (the driver in the car; ``driver`` is "SURNAME
  First"), gaps in ms (``gapTime``, ``gapPrevTime``, ``classGapTime``) with ``gapLaps``
  ("2 laps" / "-"), ``speed`` the car's top speed, ``lastPassingTime`` 0 = unknown; the
  weather in ``params`` (``airTemp``/``trackTemp`` °C, ``humidity`` %, ``pressure`` hPa,
  ``windSpeed``, ``windDirection`` °).

Entry ``state``: Run, In (pit lane), Out (pit exit), Stop, Chk, Ret. ``lap`` is laps
completed and ``lastlap`` the time of that lap. Staleness is judged by the tracker, which
sees consecutive payloads; parsers are pure. Drivers are shown and stored "First LAST"
(``Kamui KOBAYASHI``), like the official lap files.
"""

from __future__ import annotations

import json
import re

from race.errors import ParseError
from race.sources.feed import CarState, FeedSnapshot, as_float, as_int, as_text, times_ms

# racestate values seen in the feeds; "yellow" is a local (sector) yellow: not neutralising.
FLAG_BY_STATE = {
    "green": "GF", "grn": "GF", "yellow": "GF", "yel": "GF", "full_yellow": "FCY",
    "fcy": "FCY", "safety_car": "SF", "sc": "SF", "red": "RF", "red_flag": "RF",
    "chk": "FF", "chequered": "FF", "checkered": "FF", "finish": "FF",
    "safetycar": "SF", "safety car": "SF", "slow_zone": "GF", "code_60": "FCY",
    "red flag": "RF",
}
WEATHER_KEYS = ("airTemp", "trackTemp", "humidity", "pressure", "windSpeed", "windDirection")
EPOCH_MS_MIN = 1e11  # a time above this is an epoch instant in ms (1973+), not a race time
_GAP_LAPS = re.compile(r"^\s*(\d+)\s*laps?\s*$", re.I)
PIT_STATES = ("in",)


def wec_flag(state: object, safety_car: object = None) -> str | None:
    """Stored flag code from ``raceState``/``racestate`` (and the old ``safetycar`` switch)."""
    if str(safety_car).strip().lower() == "true":
        return "SF"
    text = as_text(state)
    return FLAG_BY_STATE.get(text.lower()) if text else None


def _driver_name(item: object) -> str | None:
    if isinstance(item, dict):
        name = as_text(item.get("name") or item.get("fullName"))
        if name:
            return name
        first, last = as_text(item.get("firstName")), as_text(item.get("lastName"))
        return " ".join(p for p in (first, last) if p) or None
    return as_text(item)


def _driver_index(entry: dict) -> int | None:
    """1-based position of the current driver in the entry's ``drivers`` list, if listed."""
    drivers = entry.get("drivers")
    if not isinstance(drivers, list) or not drivers:
        return None
    current_id = entry.get("driverId", entry.get("driver_id"))
    current = (as_text(entry.get("driver")) or "").lower()
    for i, item in enumerate(drivers, 1):
        if isinstance(item, dict) and current_id is not None and item.get("id") == current_id:
            return i
        name = (_driver_name(item) or "").lower()
        if current and name and (name == current or current in name or name in current):
            return i
    return None


def _flag_items(items: list) -> list[tuple[str, float]]:
    """(stored flag, ``startTime`` as given) of each readable ``progressFlagState`` item."""
    out = []
    for item in items:
        if isinstance(item, dict):
            flag, start = wec_flag(item.get("state")), as_float(item.get("startTime"))
            if flag is not None and start is not None:
                out.append((flag, start))
    return out


def _flag_history(data: dict, params: dict, timestamp: int | None,
                  elapsed: float | None) -> tuple[tuple[float, str], ...]:
    """Flag changes from ``progressFlagState`` as (race time s, flag), when interpretable."""
    items = data.get("progressFlagState", params.get("progressFlagState"))
    if not isinstance(items, list):
        return ()
    start_epoch = timestamp - elapsed * 1000 if timestamp and elapsed is not None else None
    out = []
    for flag, start in _flag_items(items):
        if start > 1e11:  # epoch ms
            if start_epoch is None:
                continue
            start = (start - start_epoch) / 1000.0
        out.append((float(start), flag))
    return tuple(sorted(out))


def parse_wec(text: str | bytes, source: str = "WEC live") -> FeedSnapshot:
    """Parse one WEC live JSON payload (either layout).

    Raises:
        ParseError: not JSON (e.g. truncated), no ``params``/``entries``, an entry without a
            number or lap count.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not valid JSON ({exc.msg} at char {exc.pos})", source=source) \
            from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise ParseError("no 'entries' list: not a WEC live payload", source=source,
                         field="entries")
    params = data.get("params") if isinstance(data.get("params"), dict) else {}
    entries = [e for e in data["entries"] if isinstance(e, dict)]
    if is_2026(params, entries):
        return parse_wec_2026(data, params, entries, source)
    current = "raceState" in params or any("lastlapTime" in e for e in entries)
    last = times_ms(e.get("lastlapTime", e.get("lastlap")) for e in entries)
    best = times_ms(e.get("bestlapTime", e.get("bestlap")) for e in entries)
    cars = []
    for i, e in enumerate(entries):
        number = as_text(e.get("number"))
        laps = as_int(e.get("lap"))
        if number is None or laps is None:
            raise ParseError(f"entry {i + 1} has no number or lap count", source=source,
                             field="number" if number is None else "lap")
        state = as_text(e.get("state"))
        cars.append(CarState(
            number=number, laps=laps, last_lap_ms=last[i], best_lap_ms=best[i],
            in_pit=(state or "").lower() in PIT_STATES, pit_stops=as_int(e.get("pitstop")),
            position=as_int(e.get("ranking")),
            class_position=as_int(e.get("categoryPosition")),
            car_class=as_text(e.get("category")), team=as_text(e.get("team")),
            vehicle=as_text(e.get("car")), driver=as_text(e.get("driver")),
            driver_index=_driver_index(e), state=state, speed_kph=as_float(e.get("speed")),
            last_passing_ms=as_int(e.get("lastPassingTime")), gap=as_text(e.get("gap"))))
    timestamp = as_int(params.get("timestamp"))
    timestamp = timestamp if timestamp and timestamp > 0 else None  # 0: no feed clock
    elapsed = as_float(params.get("elapsed"))
    weather = {k: params.get(k) for k in ("weather", "airTemp", "trackTemp", "humidity",
                                          "pressure", "windSpeed", "windDirection")
               if k in params}
    missing = []
    if timestamp is None and elapsed is None:  # neither a feed clock nor a race clock
        missing += ["params.timestamp", "params.elapsed"]
    absent = sum(1 for e in entries if not any(k in e for k in ("lastlapTime", "lastlap")))
    if absent:
        missing.append("entries[].lastlap" + (f" ({absent} of {len(entries)} entries)"
                                              if absent < len(entries) else ""))
    return FeedSnapshot(
        source="wec", layout="wec-current" if current else "wec-2017", cars=tuple(cars),
        event=as_text(params.get("eventName")), session=as_text(params.get("sessionName")),
        feed_time_ms=timestamp, clock_s=elapsed, remaining_s=as_float(params.get("remaining")),
        flag=wec_flag(params.get("raceState", params.get("racestate")),
                      params.get("safetycar")),
        flag_history=_flag_history(data, params, timestamp, elapsed), weather=weather,
        missing=tuple(missing))


# -- the 2026 layout ---------------------------------------------------------------------------
def is_2026(params: dict, entries: list[dict]) -> bool:
    """The 2026 layout: ``elapsedTime`` a number of seconds without ``elapsed``, a zero
    ``timestamp`` with an epoch ``startTime``, or crews keyed by ``driverId``."""
    elapsed_time = params.get("elapsedTime")
    if "elapsed" not in params and elapsed_time is not None and not isinstance(
            elapsed_time, bool) and as_float(elapsed_time) is not None:
        return True
    start = as_float(params.get("startTime"))
    if as_int(params.get("timestamp")) == 0 and start is not None and start > EPOCH_MS_MIN:
        return True
    return any(isinstance(d, dict) and "driverId" in d
               for e in entries[:3] for d in (e.get("drivers") or [])
               if isinstance(e.get("drivers"), list))


def first_last(first: object, last: object) -> str | None:
    """ "First LAST" (the lap files' form) from the feed's first and last names."""
    first_text, last_text = as_text(first), as_text(last)
    if last_text:
        last_text = last_text.upper()
    return " ".join(p for p in (first_text, last_text) if p) or None


def surname_first(text: object) -> str | None:
    """ "KOBAYASHI Kamui" → "Kamui KOBAYASHI": the leading upper-case words are the surname
    ("DE VRIES Nyck" → "Nyck DE VRIES"); text already "First LAST" is kept."""
    value = as_text(text)
    if value is None:
        return None
    words = value.split()
    n = 0
    while n < len(words) and words[n] == words[n].upper() and any(
            ch.isalpha() for ch in words[n]):
        n += 1
    if n == 0 or n == len(words):
        return value
    return " ".join(words[n:] + words[:n])


def _crew(entry: dict) -> list[tuple[object, str, str | None, str | None]]:
    """(driverId, "First LAST", licence, country) of the entry's ``drivers[]``, in their
    order."""
    drivers = entry.get("drivers")
    if not isinstance(drivers, list):
        return []
    crew = []
    for item in drivers:
        if not isinstance(item, dict):
            continue
        name = first_last(item.get("firstName"), item.get("lastName")) or surname_first(
            item.get("shortName"))
        if name:
            crew.append((item.get("driverId", item.get("id")), name,
                         as_text(item.get("license", item.get("licence"))),
                         as_text(item.get("country"))))
    return crew


def _current_driver(entry: dict, crew: list[tuple[object, str, str | None, str | None]]
                    ) -> tuple[str | None, int | None, str | None]:
    """(name, 1-based index in the crew, warning) of the driver in the car: ``driverId``
    first; when it points to no one, the ``driver`` text ("SURNAME First") decides."""
    current_id = entry.get("driverId")
    if current_id is not None and not isinstance(current_id, bool):
        for i, (driver_id, name, _, _) in enumerate(crew, 1):
            if driver_id is not None and str(driver_id) == str(current_id):
                return name, i, None
    text = surname_first(entry.get("driver"))
    warning = None
    if current_id is not None and crew:
        warning = (f"car {as_text(entry.get('number'))}: driverId {current_id} is not in its "
                   f"crew: the driver text decides")
    if text is None:
        return None, None, warning
    lowered = text.casefold()
    for i, (_, name, _, _) in enumerate(crew, 1):
        if name.casefold() == lowered:
            return name, i, warning
    return text, None, warning


def _gap_laps(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value or None
    match = _GAP_LAPS.match(str(value)) if isinstance(value, str) else None
    return int(match.group(1)) or None if match else None


def _ms(value: object) -> int | None:
    """A time in ms from a number (0 or less = none)."""
    number = as_float(value)
    return round(number) if number is not None and number > 0 else None


def flag_periods_2026(items: object, start_epoch_ms: float | None
                      ) -> tuple[tuple[str, float, float | None], ...]:
    """Flag periods from ``progressFlagState``: (flag, start s, end s or None for the open
    one), race times = (item ``startTime`` − ``params.startTime``) / 1000; each period runs
    until the next item's ``startTime``. Consecutive items with the same flag merge."""
    if not isinstance(items, list) or start_epoch_ms is None:
        return ()
    changes: list[tuple[float, str]] = []
    for flag, start in _flag_items(items):
        # an epoch instant (ms); a small value is a race time (s) already
        start = (start - start_epoch_ms) / 1000.0 if start > EPOCH_MS_MIN else start
        changes.append((max(0.0, start), flag))
    changes.sort(key=lambda c: c[0])
    periods: list[list] = []
    for start, flag in changes:
        if periods and periods[-1][0] == flag:
            continue
        if periods:
            periods[-1][2] = start
        periods.append([flag, start, None])
    return tuple((f, a, b) for f, a, b in periods)


def parse_wec_2026(data: dict, params: dict, entries: list[dict],
                   source: str = "WEC live") -> FeedSnapshot:
    """Parse a payload of the 2026 layout (see the module docstring).

    Fields the parser needs and does not find are listed in ``FeedSnapshot.missing``
    (the live session then says the layout is not understood); an entry without a number
    or a lap count is refused.

    Raises:
        ParseError: an entry without a number or lap count.
    """
    missing: list[str] = []
    warnings: list[str] = []
    for key in ("elapsedTime", "startTime"):
        if as_float(params.get(key)) is None:
            missing.append(f"params.{key}")
    for keys in (("lap",), ("lastlapTime", "lastlap"), ("bestlapTime", "bestLap", "bestlap"),
                 ("pitstop",), ("state",), ("ranking",), ("categoryPosition",),
                 ("category",), ("driverId", "driver")):
        absent = sum(1 for e in entries if not any(k in e for k in keys))
        if absent:
            missing.append(f"entries[].{keys[0]}" + (
                f" ({absent} of {len(entries)} entries)" if absent < len(entries) else ""))
    if not isinstance(data.get("progressFlagState"), list):
        missing.append("progressFlagState")
    last = times_ms(e.get("lastlapTime") if _ms(e.get("lastlapTime")) else e.get("lastlap")
                    for e in entries)
    best = times_ms(e.get("bestlapTime") if _ms(e.get("bestlapTime")) else
                    e.get("bestLap", e.get("bestlap")) for e in entries)
    cars = []
    for i, e in enumerate(entries):
        number = as_text(e.get("number"))
        laps = as_int(e.get("lap"))
        if number is None or laps is None:
            raise ParseError(f"entry {i + 1} has no number or lap count", source=source,
                             field="number" if number is None else "lap")
        crew = _crew(e)
        driver, index, warning = _current_driver(e, crew)
        if warning:
            warnings.append(warning)
        state = as_text(e.get("state"))
        passing = as_int(e.get("lastPassingTime"))
        cars.append(CarState(
            number=number, laps=laps, last_lap_ms=last[i], best_lap_ms=best[i],
            in_pit=(state or "").lower() in PIT_STATES, pit_stops=as_int(e.get("pitstop")),
            position=as_int(e.get("ranking")),
            class_position=as_int(e.get("categoryPosition")),
            car_class=as_text(e.get("category")), team=as_text(e.get("team")),
            vehicle=as_text(e.get("car")), driver=driver, driver_index=index, state=state,
            speed_kph=None, top_speed_kph=as_float(e.get("speed")) or None,
            last_passing_ms=passing if passing and passing > 0 else None,
            gap=as_text(e.get("gap")), gap_ms=_ms(e.get("gapTime")),
            interval_ms=_ms(e.get("gapPrevTime")), class_gap_ms=_ms(e.get("classGapTime")),
            gap_laps=_gap_laps(e.get("gapLaps")), crew=tuple(c[1] for c in crew),
            crew_licences=tuple(c[2] for c in crew), crew_countries=tuple(c[3] for c in crew)))
    start_epoch = as_float(params.get("startTime"))
    start_epoch = start_epoch if start_epoch is not None and start_epoch > EPOCH_MS_MIN \
        else None
    periods = flag_periods_2026(data.get("progressFlagState"), start_epoch)
    flag = _flag_2026(params, data.get("progressFlagState"), periods)
    event = as_text(params.get("eventName"))
    weather: dict[str, float | str | None] = {k: as_float(params.get(k))
                                              for k in WEATHER_KEYS if k in params}
    if "weather" in params:  # a text ("sunny"): tells rain from dry (feed.rain_from_text)
        weather["weather"] = as_text(params.get("weather"))
    return FeedSnapshot(
        source="wec", layout="wec-2026", cars=tuple(cars),
        event=None if event in ("N/A", "-") else event,
        session=as_text(params.get("sessionName")), feed_time_ms=None,
        clock_s=as_float(params.get("elapsedTime")),
        remaining_s=as_float(params.get("remaining")), flag=flag,
        flag_history=tuple((a, f) for f, a, _ in periods), weather=weather,
        flag_periods=periods,
        start_epoch_ms=round(start_epoch) if start_epoch is not None else None,
        missing=tuple(missing), warnings=tuple(dict.fromkeys(warnings)))


def _flag_2026(params: dict, items: object,
               periods: tuple[tuple[str, float, float | None], ...]) -> str | None:
    """The flag now: the chequered or red flag from ``raceState``, else the ``current``
    item of ``progressFlagState`` (else its last item), else ``raceState``."""
    state_flag = wec_flag(params.get("raceState", params.get("racestate")))
    if state_flag in ("FF", "RF"):
        return state_flag
    if isinstance(items, list):
        current = [i for i in items if isinstance(i, dict) and i.get("current") is True]
        if current:
            flag = wec_flag(current[-1].get("state"))
            if flag is not None:
                return flag
    if periods:
        return periods[-1][0]
    return state_flag
