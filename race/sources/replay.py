"""Live-feed payloads rebuilt from a race's laps at any race time (IMSA and WEC layouts).

Replays play an imported race through the live path by serving what the feeds would have
shown at race time t; the tests' feed server serves the same payloads over HTTP. Everything
comes from the laps: laps completed and last lap at t, running best lap, pit-lane visits
(entry a few seconds before the in-lap crossing, exit ``PIT_TIME`` later, clipped before
the out-lap crossing), the stop counter, the current driver, positions, and the flag in
force (the race's flag periods; chequered from the first FF crossing).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from race.analysis.flags import flag_at
from race.sources.feed import MPH_TO_KPH
from race.sources.imsa_live import CODE_BY_FLAG
from race.timefmt import format_duration, format_lap_time

WEC_STATE = {"wec-2017": {"GF": "green", "FCY": "full_yellow", "SF": "safety_car",
                          "RF": "red", "FF": "Chk"},
             "wec-current": {"GF": "Grn", "FCY": "FCY", "SF": "SC", "RF": "Red", "FF": "Chk"},
             "wec-2026": {"GF": "Grn", "FCY": "FCY", "SF": "SC", "RF": "Red", "FF": "Chk"}}
# progressFlagState ``state`` of the 2026 layout
WEC_2026_PROGRESS = {"GF": "green", "FCY": "full_yellow", "SF": "safety_car", "RF": "red",
                     "FF": "chequered"}
LAYOUTS = ("imsa", "imsa-2026", "wec-2017", "wec-current", "wec-2026")
TX_PLACEHOLDERS = ("Tx4417", "Tx0912", "Tx7730")  # transponder rows of the 2026 IMSA feed
PIT_ENTRY_LEAD_S = 10.0  # pit entry this long before the in-lap's line crossing (at most)


@dataclass
class _Car:
    number: str
    elapsed: np.ndarray        # crossing of lap k at index k-1 (s)
    lap_time: np.ndarray       # s, NaN unknown
    best: np.ndarray           # running best lap (s)
    driver: np.ndarray         # driver of lap k at k-1
    driver_number: np.ndarray
    speed_kph: np.ndarray
    top_speed_kph: np.ndarray
    entries: np.ndarray        # pit-lane entries (s), sorted
    exits: np.ndarray          # matching exits (s)
    stop_entries: np.ndarray   # entries that count as a stop (not a pit-lane start)
    car_class: str
    team: str | None
    vehicle: str | None
    drivers: list[str]         # entry list by driver number
    crew: list[tuple[int, str]]  # (driver number, name) of each driver of the entry


def pit_visits(car: pd.DataFrame) -> tuple[list[float], list[float], list[float]]:
    """Pit-lane visits of one car's derived laps: (entries, exits, entries that are stops)."""
    entries: list[float] = []
    exits: list[float] = []
    stops: list[float] = []
    rows = car.reset_index(drop=True)
    pit = rows["pit_time_s"].to_numpy(dtype=float)
    in_lap = rows["in_lap"].to_numpy(dtype=bool)
    elapsed = rows["elapsed_s"].to_numpy(dtype=float)
    start = rows["start_s"].to_numpy(dtype=float)
    used_in = set()
    for i in range(len(rows)):
        if np.isnan(pit[i]):
            continue
        if i == 0:  # pit-lane start: in the pit lane from before the start
            entries.append(-1.0)
            exits.append(min(pit[i], elapsed[i] - 0.5))
            continue
        if in_lap[i - 1]:
            lead = min(PIT_ENTRY_LEAD_S, pit[i] / 3)
            entry = elapsed[i - 1] - lead
            used_in.add(i - 1)
        else:
            entry = start[i] + 1.0
        exit_ = min(entry + pit[i], elapsed[i] - 0.5)
        if exit_ <= entry:
            continue
        entries.append(entry)
        exits.append(exit_)
        stops.append(entry)
    for i in np.flatnonzero(in_lap):
        if i in used_in:
            continue
        # An in-lap with no pit time after it: retired in the pits (or the time is lost).
        entry = elapsed[i] - 5.0
        exit_ = start[i + 1] + 5.0 if i + 1 < len(rows) else math.inf
        entries.append(entry)
        exits.append(exit_)
        stops.append(entry)
    order = np.argsort(entries)
    return ([entries[j] for j in order], [exits[j] for j in order], sorted(stops))


def _mojibake(text: str) -> str:
    """UTF-8 read as Latin-1, as the 2026 IMSA feed serves its text."""
    return text.encode("utf-8").decode("latin-1")


def _same(text: str) -> str:
    return text


class FeedBuilder:
    """What the live feeds show at race time t, rebuilt from a race's derived laps.

    Args:
        laps: derived laps of one race (``build_race_frames(...)["laps"]`` or stored laps).
        periods: the race's flag periods.
        event: event name the payloads carry.
        start_epoch_ms: wall-clock instant of the start (WEC ``timestamp``).
        start_time_of_day_s: local time of day of the start (IMSA ``DT``).
        duration_s: scheduled race length (time to go / remaining).
    """

    def __init__(self, laps: pd.DataFrame, periods: pd.DataFrame, *, event: str = "Replay",
                 session: str = "Race", track: str = "Replay", start_epoch_ms: int =
                 1_700_000_000_000, start_time_of_day_s: float = 12 * 3600.0,
                 duration_s: float | None = None) -> None:
        laps = laps.sort_values(["number", "lap_number"], kind="stable")
        self.event, self.session, self.track = event, session, track
        self.start_epoch_ms = start_epoch_ms
        self.start_tod_s = start_time_of_day_s
        self.periods = periods
        flags = laps["flag"] if "flag" in laps else pd.Series(dtype=object)
        ff = laps.loc[flags.eq("FF"), "elapsed_s"]
        self.cars: list[_Car] = []
        for number, car in laps.groupby("number", sort=False):
            car = car.reset_index(drop=True)
            entries, exits, stops = pit_visits(car)
            lap_time = car["lap_time_s"].to_numpy(dtype=float)
            listed = (car.dropna(subset=["driver_name", "driver_number"])
                      .sort_values("driver_number").drop_duplicates("driver_number"))
            names = listed["driver_name"].tolist()
            crew = [(int(n), str(name)) for n, name in zip(
                listed["driver_number"], listed["driver_name"], strict=True)]
            self.cars.append(_Car(
                number=str(number), elapsed=car["elapsed_s"].to_numpy(dtype=float),
                lap_time=lap_time, best=np.fmin.accumulate(np.where(
                    np.arange(len(car)) == 0, np.nan, lap_time)) if len(car) else lap_time,
                driver=car["driver_name"].to_numpy(dtype=object),
                driver_number=car["driver_number"].to_numpy(),
                speed_kph=car["speed_kph"].to_numpy(dtype=float) if "speed_kph" in car
                else np.full(len(car), np.nan),
                top_speed_kph=car["top_speed_kph"].to_numpy(dtype=float)
                if "top_speed_kph" in car else np.full(len(car), np.nan),
                entries=np.array(entries, dtype=float), exits=np.array(exits, dtype=float),
                stop_entries=np.array(stops, dtype=float), car_class=str(car["class"].iloc[-1]),
                team=car["team"].iloc[-1], vehicle=car["manufacturer"].iloc[-1]
                if "manufacturer" in car else None, drivers=names, crew=crew))
        self._class_ids = {c: i for i, c in enumerate(sorted({c.car_class for c in self.cars}),
                                                      1)}
        last = max((c.elapsed[-1] for c in self.cars if len(c.elapsed)), default=0.0)
        if len(ff):
            self.chequered_s = float(ff.min())
        elif flags.notna().any():  # flags without FF (a finish under yellow): never shown
            self.chequered_s = math.inf
        else:  # no flag column: the leader's last crossing ends the race
            leader = max(self.cars, key=lambda c: (len(c.elapsed), -c.elapsed[-1]))
            self.chequered_s = float(leader.elapsed[-1])
        self.end_s = float(last)
        self.duration_s = duration_s or (self.chequered_s if math.isfinite(self.chequered_s)
                                         else self.end_s)

    # -- state at t ------------------------------------------------------------------------
    def flag(self, t: float) -> str:
        if t >= self.chequered_s:
            return "FF"
        return flag_at(self.periods, t) or "GF"

    def cars_at(self, t: float) -> list[dict]:
        """Each car as the timing screen shows it at race time t, in running order."""
        rows = []
        for car in self.cars:
            laps = int(np.searchsorted(car.elapsed, t, side="right"))
            in_pit = bool(np.any((car.entries <= t) & (t < car.exits)))
            stops = int(np.searchsorted(car.stop_entries, t, side="right"))
            current = min(laps, len(car.driver) - 1)  # the lap being driven now
            rows.append({
                "car": car, "laps": laps, "in_pit": in_pit, "stops": stops,
                "last_s": car.lap_time[laps - 1] if laps else math.nan,
                "best_s": car.best[laps - 1] if laps else math.nan,
                "crossing": car.elapsed[laps - 1] if laps else math.inf,
                "speed": car.speed_kph[laps - 1] if laps else math.nan,
                "top_speed": car.top_speed_kph[laps - 1] if laps else math.nan,
                "driver": car.driver[current] if len(car.driver) else None,
                "driver_number": car.driver_number[current] if len(car.driver) else None,
                "retired": laps == len(car.elapsed) and t - car.elapsed[-1] > 900
                and t < self.chequered_s})
        rows.sort(key=lambda r: (-r["laps"], r["crossing"], r["car"].number))
        class_pos: dict[str, int] = {}
        for i, r in enumerate(rows, 1):
            r["position"] = i
            cls = r["car"].car_class
            class_pos[cls] = class_pos.get(cls, 0) + 1
            r["class_position"] = class_pos[cls]
            leader = rows[0]
            if i == 1:
                r["gap"] = None
            elif r["laps"] < leader["laps"]:
                n = leader["laps"] - r["laps"]
                r["gap"] = f"{n} lap" if n == 1 else f"{n} laps"
            else:
                r["gap"] = round(r["crossing"] - leader["crossing"], 3)
        return rows

    # -- payloads --------------------------------------------------------------------------
    def imsa_payloads(self, t: float, layout: str = "imsa") -> dict[str, bytes]:
        """RaceResults and RaceData JSONP at race time t.

        ``imsa-2026`` as the CDN serves it: ``P`` a JSON boolean, the time to go in ``T``
        as "Time to go: H:MM:SS" ("Session Complete" once every car is in), text as UTF-8
        read as Latin-1, and transponder placeholder rows ("Tx…") among the cars.
        """
        modern = layout == "imsa-2026"
        text = _mojibake if modern else _same
        cars = []
        for r in self.cars_at(t):
            car: _Car = r["car"]
            gap = r["gap"]
            cars.append({
                "A": r["position"], "C": text(car.car_class), "N": car.number,
                "F": text(r["driver"] or ""), "L": r["laps"],
                "LL": format_lap_time(r["last_s"]) or "--.---",
                "SP": f"{r['speed'] / MPH_TO_KPH:.3f}" if r["speed"] == r["speed"]
                else "--.---", "BL": format_lap_time(r["best_s"]) or "--.---",
                "IN": 0, "D": "--.---" if gap is None else str(gap), "G": "--.---",
                "V": text(car.vehicle or ""), "S": "",
                "P": bool(r["in_pit"]) if modern else int(r["in_pit"]), "RM": 0, "FD": "",
                "PIC": r["class_position"], "PS": r["stops"], "A1": text(car.vehicle or ""),
                "A2": "", "A3": "", "LS": "", "SR": [], "DIC": "--.---", "GIC": "--.---"})
        # Placeholder rows the real feed carries (empty class): parsers must drop them.
        cars.append({"A": len(cars) + 1, "C": "", "N": "E1", "F": " ", "L": 0, "LL": "--.---",
                     "P": 0, "PS": 0, "PIC": 1})
        if modern:  # transponder rows: one among the cars, the others at the end
            for i, number in enumerate(TX_PLACEHOLDERS):
                cars.insert(1 if i == 0 else len(cars), {
                    "A": 0, "C": "", "N": number, "F": "", "V": "", "L": 0, "LL": "--.---",
                    "BL": "--.---", "P": False, "PS": 0, "PIC": 0})
        tod = (self.start_tod_s + t) % 86400
        results = {"A": 3, "R": 0, "S": text(f"WeatherTech Championship - {self.session}"),
                   "E": text(self.event), "T": text(self.track), "TL": 0.0, "SC": 0,
                   "SCT": 0, "DT": f"{int(tod // 3600):02d}:{int(tod % 3600 // 60):02d}:"
                                   f"{int(tod % 60):02d}", "B": cars, "MSR": []}
        to_go = max(0.0, self.duration_s - t)
        data: dict[str, object] = {"C": CODE_BY_FLAG[self.flag(t)]}
        if not modern:
            data["B"] = format_duration(to_go)
        elif t > self.end_s:
            data["T"] = "Session Complete"
        else:
            data["T"] = f"Time to go: {format_duration(to_go)}"
        return {"main": b"jsonpRaceResults(" + json.dumps(results).encode() + b");",
                "flag": b"jsonpRaceData(" + json.dumps(data).encode() + b");"}

    def wec_payload(self, t: float, layout: str = "wec-2017") -> bytes:
        """The WEC live JSON at race time t, in the 2017–2021 or the current layout."""
        flag = self.flag(t)
        current = layout == "wec-current"
        entries = []
        for r in self.cars_at(t):
            car: _Car = r["car"]
            state = "In" if r["in_pit"] else ("Chk" if flag == "FF" and r["crossing"]
                                              >= self.chequered_s else "Run")
            if r["retired"] and not r["in_pit"]:
                state = "Stop"
            gap = r["gap"]
            entry = {
                "ranking": r["position"], "number": car.number, "state": state,
                "category": car.car_class, "team": car.team or "", "driver": r["driver"] or "",
                "car": car.vehicle or "", "lap": r["laps"],
                "gap": "" if gap is None else str(gap), "gapPrev": "", "classGap": "",
                "classGapPrev": "", "pitstop": r["stops"],
                "speed": None if r["speed"] != r["speed"] else round(float(r["speed"]), 1),
                "lastPassingTime": None if not r["laps"] else
                self.start_epoch_ms + round(r["crossing"] * 1000),
                "categoryPosition": r["class_position"], "sector": 0,
                "currentSector1": "", "currentSector2": "", "currentSector3": "",
                "bestSector1": "", "bestSector2": "", "bestSector3": ""}
            if current:
                entry["lastlapTime"] = (None if r["last_s"] != r["last_s"]
                                        else round(r["last_s"] * 1000))
                entry["bestlapTime"] = (None if r["best_s"] != r["best_s"]
                                        else round(r["best_s"] * 1000))
                entry["drivers"] = [{"firstName": "", "lastName": name} for name in
                                    car.drivers]
            else:
                entry["lastlap"] = format_lap_time(r["last_s"])
                entry["bestlap"] = format_lap_time(r["best_s"])
            entries.append(entry)
        params = {"eventName": self.event, "timestamp": self.start_epoch_ms + round(t * 1000),
                  "elapsed": int(t), "remaining": max(0, int(self.duration_s - t)),
                  "elapsedTime": format_duration(t), "weather": "sunny", "airTemp": 20.0,
                  "trackTemp": 30.0}
        if current:
            params["sessionName"] = self.session
            params["raceState"] = WEC_STATE[layout][flag]
        else:
            params["racestate"] = WEC_STATE[layout][flag]
            params["safetycar"] = "true" if flag == "SF" else "false"
        return json.dumps({"params": params, "entries": entries}).encode()

    def payloads(self, t: float, layout: str) -> dict[str, bytes]:
        """The payloads of one poll at race time t for ``layout`` (see ``LAYOUTS``)."""
        if layout in ("imsa", "imsa-2026"):
            return self.imsa_payloads(t, layout)
        if layout == "wec-2026":
            return {"main": self.wec_2026_payload(t)}
        return {"main": self.wec_payload(t, layout)}

    # -- the 2026 WEC layout (DATA.md §5) --------------------------------------------------
    def _epoch_ms(self, t: float) -> int:
        return self.start_epoch_ms + round(t * 1000)

    def progress_flag_state(self, t: float) -> list[dict]:
        """``progressFlagState`` at race time t: the flag history so far, each item's
        ``startTime`` an epoch instant (ms); the last item is the ``current`` one."""
        changes = [(0.0, "GF")]
        for flag, start, end in zip(self.periods["flag"], self.periods["start_s"],
                                    self.periods["end_s"], strict=True):
            if start <= t:
                changes.append((float(start), str(flag)))
                if end == end and end <= t:
                    changes.append((float(end), "GF"))
        if t >= self.chequered_s:
            changes = [c for c in changes if c[0] < self.chequered_s]
            changes.append((self.chequered_s, "FF"))
        changes.sort(key=lambda c: c[0])
        items = []
        for i, (start, flag) in enumerate(changes):
            items.append({"startTime": self._epoch_ms(start),
                          "state": WEC_2026_PROGRESS.get(flag, "green"),
                          "current": i == len(changes) - 1,
                          "percentProgress": round(100 * start / self.duration_s, 2)
                          if self.duration_s else 0.0})
        return items

    def wec_2026_payload(self, t: float) -> bytes:
        """The WEC live JSON at race time t in the 2026 layout: ``timestamp`` 0,
        ``elapsedTime`` (s), ``startTime`` (epoch ms), ``progressFlagState`` with epoch-ms
        ``startTime``, ``drivers[]`` keyed by ``driverId``, the ``driver`` text "SURNAME
        First", gaps in ms with the text fields "-", ``speed`` the top speed,
        ``lastPassingTime`` 0 and the weather in ``params``."""
        flag = self.flag(t)
        rows = self.cars_at(t)
        leader = rows[0] if rows else None
        class_leader: dict[str, dict] = {}
        entries = []
        previous = None
        for r in rows:
            car: _Car = r["car"]
            class_leader.setdefault(car.car_class, r)
            state = "In" if r["in_pit"] else ("Chk" if flag == "FF" and r["crossing"]
                                              >= self.chequered_s else "Run")
            if r["retired"] and not r["in_pit"]:
                state = "Stop"
            crew = [_split_name(name) for _, name in car.crew]
            number_now = r["driver_number"]
            current_id = int(number_now) if number_now is not None and number_now == \
                number_now else None
            first_now, last_now = _split_name(r["driver"]) if r["driver"] else ("", "")
            entries.append({
                "number": car.number, "ranking": r["position"],
                "categoryPosition": r["class_position"], "category": car.car_class,
                "categoryId": self._class_ids.get(car.car_class, 0), "team": car.team or "",
                "car": car.vehicle or "", "lap": r["laps"],
                "lastlap": format_lap_time(r["last_s"]) or "",
                "lastlapTime": 0 if r["last_s"] != r["last_s"] else round(r["last_s"] * 1000),
                "bestLap": format_lap_time(r["best_s"]) or "",
                "bestlapTime": 0 if r["best_s"] != r["best_s"] else round(r["best_s"] * 1000),
                "pitstop": r["stops"], "state": state, "sector": 0,
                "currentSector1": "", "currentSector2": "", "currentSector3": "",
                "bestTimeSector1": 0, "bestTimeSector2": 0, "bestTimeSector3": 0,
                "gap": "-", "gapPrev": "-", "classGap": "-",
                "gapTime": _gap_ms(r, leader), "gapPrevTime": _gap_ms(r, previous),
                "classGapTime": _gap_ms(r, class_leader[car.car_class]),
                "gapLaps": _gap_laps_text(r, leader),
                "speed": "" if r["top_speed"] != r["top_speed"] else
                f"{float(r['top_speed']):.2f}",
                "lastPassingTime": 0,
                "driver": f"{last_now} {first_now}".strip(), "driverId": current_id,
                "drivers": [{"driverId": n, "number": n, "firstName": first,
                             "lastName": last, "shortName": f"{first[:1]}. {last}".strip(),
                             "license": "", "country": ""}
                            for (n, _), (first, last) in zip(car.crew, crew, strict=True)]})
            previous = r
        minute = t / 60.0
        params = {
            "sessionId": 1, "sessionName": self.session, "eventName": "N/A", "timestamp": 0,
            "elapsedTime": round(t, 3), "remaining": round(self.duration_s - t, 3),
            "startTime": self.start_epoch_ms, "duration": round(self.duration_s),
            "raceState": WEC_STATE["wec-2026"][flag], "stopTime": 0, "stoppedSinceTime": 0,
            "safetyCar": "N/A", "airTemp": round(20.0 + 0.01 * minute, 1),
            "trackTemp": round(30.0 + 0.02 * minute, 1), "humidity": 55.0,
            "pressure": 1013.0, "windSpeed": 3.5, "windDirection": 270.0}
        return json.dumps({"params": params, "entries": entries,
                           "progressFlagState": self.progress_flag_state(t),
                           "bestSectors": [], "bestTimesByCategory": []}).encode()

    # -- lossless polling times ------------------------------------------------------------
    def next_time(self, t: float, step_s: float) -> float:
        """The next poll time after t, at most ``step_s`` later, early enough that no car
        completes two laps, no pit-lane visit falls between two polls and no lap crossed on
        track shares a poll interval with the pit entry that follows it (so a replay loses
        nothing the feed would show)."""
        limit = t + step_s
        for car in self.cars:
            k = int(np.searchsorted(car.elapsed, t, side="right"))
            if k + 1 < len(car.elapsed):
                limit = min(limit, car.elapsed[k + 1] - 0.001)
            upcoming = (car.entries > t) & (car.entries <= limit)
            if upcoming.any():
                limit = min(limit, float(car.exits[upcoming].min()) - 0.001)
                # A lap crossed on track just before a pit entry is seen before the entry,
                # or the feed would make it look like the in-lap.
                entry = float(car.entries[upcoming].min())
                if k < len(car.elapsed) and car.elapsed[k] < entry:
                    limit = min(limit, max(car.elapsed[k], entry - 0.001))
            inside = (car.entries <= t) & (t < car.exits)
            if inside.any() and k < len(car.elapsed) and car.elapsed[k] > car.exits[inside].max():
                # in the pit lane now, next crossing on track: see the exit before it
                limit = min(limit, car.elapsed[k] - 0.001)
        return max(limit, math.floor(t) + 1.0)  # IMSA's clock shows whole seconds


def _split_name(name: str) -> tuple[str, str]:
    """ "Kamui KOBAYASHI" → ("Kamui", "KOBAYASHI"): the trailing upper-case words are the
    surname ("Nyck DE VRIES" → ("Nyck", "DE VRIES")); else the last word."""
    words = str(name).split()
    n = len(words)
    while n > 1 and words[n - 1] == words[n - 1].upper() and any(
            ch.isalpha() for ch in words[n - 1]):
        n -= 1
    if n == len(words):
        n = max(1, len(words) - 1)
    return " ".join(words[:n]), " ".join(words[n:])


def _gap_ms(row: dict, ahead: dict | None) -> int:
    """Time behind ``ahead`` (ms) at the line: this car's last crossing minus ``ahead``'s
    crossing of the same lap; 0 for the car itself or without a crossing."""
    if ahead is None or ahead is row or not row["laps"]:
        return 0
    other: _Car = ahead["car"]
    lap = row["laps"]
    if lap > len(other.elapsed) or ahead["laps"] < lap:
        return 0
    return max(0, round((row["crossing"] - other.elapsed[lap - 1]) * 1000))


def _gap_laps_text(row: dict, leader: dict | None) -> str:
    if leader is None:
        return "-"
    down = leader["laps"] - row["laps"]
    return "-" if down <= 0 else f"{down} lap" if down == 1 else f"{down} laps"
