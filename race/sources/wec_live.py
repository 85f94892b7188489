"""FIA WEC live JSON → ``FeedSnapshot`` (DATA.md §5), both layouts.

- ``wec-2017`` (2017–2021, ``…/__data.json``): ``params{eventName, timestamp (ms),
  racestate, safetycar, elapsed, remaining, weather…}``, ``entries[{number, ranking,
  categoryPosition, category, team, driver, car, state, lap, lastlap, bestlap, pitstop,
  speed, lastPassingTime (ms)…}]``.
- ``wec-current`` (``…/data.json``): ``params{…, sessionName, raceState}``, entries add
  ``drivers[]``, ``lastlapTime``/``bestlapTime`` in ms, and ``progressFlagState[]``.

Entry ``state``: Run, In (pit lane), Out (pit exit), Stop, Chk, Ret. ``lap`` is laps
completed and ``lastlap`` the time of that lap. Staleness (an older ``params.timestamp``) is
judged by the tracker, which sees consecutive payloads; parsers are pure.
"""

from __future__ import annotations

import json

from race.errors import ParseError
from race.sources.feed import CarState, FeedSnapshot, as_float, as_int, as_text, times_ms

# racestate values seen in the feeds; "yellow" is a local (sector) yellow: not neutralising.
FLAG_BY_STATE = {
    "green": "GF", "grn": "GF", "yellow": "GF", "yel": "GF", "full_yellow": "FCY",
    "fcy": "FCY", "safety_car": "SF", "sc": "SF", "red": "RF", "red_flag": "RF",
    "chk": "FF", "chequered": "FF", "checkered": "FF", "finish": "FF",
}
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


def _flag_history(data: dict, params: dict, timestamp: int | None,
                  elapsed: float | None) -> tuple[tuple[float, str], ...]:
    """Flag changes from ``progressFlagState`` as (race time s, flag), when interpretable."""
    items = data.get("progressFlagState", params.get("progressFlagState"))
    if not isinstance(items, list):
        return ()
    start_epoch = timestamp - elapsed * 1000 if timestamp and elapsed is not None else None
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        flag = wec_flag(item.get("state"))
        start = as_float(item.get("startTime"))
        if flag is None or start is None:
            continue
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
    elapsed = as_float(params.get("elapsed"))
    weather = {k: params.get(k) for k in ("weather", "airTemp", "trackTemp", "humidity",
                                          "pressure", "windSpeed", "windDirection")
               if k in params}
    return FeedSnapshot(
        source="wec", layout="wec-current" if current else "wec-2017", cars=tuple(cars),
        event=as_text(params.get("eventName")), session=as_text(params.get("sessionName")),
        feed_time_ms=timestamp, clock_s=elapsed, remaining_s=as_float(params.get("remaining")),
        flag=wec_flag(params.get("raceState", params.get("racestate")),
                      params.get("safetycar")),
        flag_history=_flag_history(data, params, timestamp, elapsed), weather=weather)
