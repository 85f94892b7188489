"""Time-ordered simulation of an endurance race, lap by lap across all cars.

Every car's next line crossing sits in one heap; the earliest is processed first, so flags,
traffic and the chequered flag are seen by all cars at the same race time. A lap is planned
when it starts: its green pace (class, car, driver licence, tyre age, fuel load, night, noise,
traffic met on the road) and then integrated exactly through the pre-drawn neutralisation
periods (FCY: speed limit, gaps kept; safety car: a common slow pace, cars close up on the car
ahead). Crossing times are snapped to whole milliseconds, so LAP_TIME, sectors and ELAPSED
are exact differences of the same integers.
"""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from race.synthetic.entries import Entry, SeriesSpec
from race.synthetic.incidents import Incident, Period

_NIGHT_START_S = 21.0 * 3600   # darkness from 21:00 …
_NIGHT_END_S = 5.75 * 3600     # … to 05:45 local, with a 45 min dusk/dawn ramp
_NIGHT_RAMP_S = 2700.0
_NIGHT_SLOWER = 0.012          # +1.2 % lap time in full darkness


@dataclass
class _Lap:
    """A planned lap: crossing times (s), in-lap, PIT_TIME on this (out-)lap, speed trap."""

    number: int
    driver: int
    start: float
    s1_end: float
    s2_end: float
    end: float
    in_pit: bool
    pit_s: float | None
    top_speed: float | None
    neutral_share: float       # share of the lap's distance run under a neutralisation


@dataclass
class _Car:
    index: int
    entry: Entry
    capacity: float            # green laps per tank / energy allocation
    fuel: float
    driver: int
    run_target: int            # stints the current driver will do in a row
    run: int = 1               # stints done in a row by the current driver
    tyre_laps: int = 0
    tyre_stints: int = 1
    laps: int = 0
    stint_laps: int = 0
    pending_pit_s: float | None = None
    active: bool = True
    lap: _Lap | None = None
    damage_pct: float = 0.0
    # What the lap being run leads to at the line: a stop and what it includes.
    retire_in_pit: bool = False
    repair_s: float = 0.0
    forced_tyres: bool = False
    drive_through: bool = False
    drive_time: list[float] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)


class RaceSimulation:
    """Simulate one race; ``run()`` returns one row per car per lap (times in ms).

    Args:
        spec: series preset (track, classes, flag conventions).
        entries: the entry list.
        periods: neutralisations, sorted and disjoint.
        incidents: car incidents, sorted by time.
        duration_s: race length (s); the leader takes the chequered flag at its first
            crossing after it, every other car at its next crossing.
        rng: the seeded random source (the only one used).
    """

    def __init__(self, spec: SeriesSpec, entries: list[Entry], periods: list[Period],
                 incidents: list[Incident], duration_s: float, rng: random.Random) -> None:
        self.spec, self.entries, self.rng = spec, entries, rng
        self.duration_s = duration_s
        self.track = spec.track
        self.periods = periods
        self._p_start = [p.start_s for p in periods]
        self.incidents: dict[int, list[Incident]] = {}
        for incident in incidents:
            self.incidents.setdefault(incident.car, []).append(incident)
        self.reference_s = min(c.lap_s for c in spec.classes)
        self.sc_lap_s = self.reference_s * self.track.safety_car_ratio
        self.fcy_lap_s = self.track.length_km / self.track.fcy_kph * 3600.0
        n = len(entries)
        ranks = sorted({e.cls.lap_s for e in entries})
        self.rank = np.array([ranks.index(e.cls.lap_s) for e in entries])
        self.cls_code = np.array([self.spec.classes.index(e.cls) for e in entries])
        # Road positions for traffic and safety-car queues: laps done, current lap start
        # and planned length, nominal pace, and when a car leaves the pit lane.
        self.done = np.zeros(n)
        self.lap_start = np.zeros(n)
        self.lap_len = np.ones(n)
        self.pace = np.array([e.cls.lap_s for e in entries], dtype=float)
        self.lane_until = np.zeros(n)
        self.on_track = np.ones(n, dtype=bool)
        self.chequered = False
        self.cars = [self._new_car(i, e) for i, e in enumerate(entries)]

    # -- set-up --------------------------------------------------------------------------
    def _new_car(self, index: int, entry: Entry) -> _Car:
        rng = self.rng
        capacity = entry.cls.stint_laps * rng.uniform(0.97, 1.04)
        bronze = [i for i, d in enumerate(entry.drivers) if d.licence == "Bronze"]
        starter = bronze[0] if bronze and rng.random() < 0.5 else rng.randrange(
            len(entry.drivers))
        car = _Car(index, entry, capacity, capacity, starter, self._run_target(entry, starter))
        car.drive_time = [0.0] * len(entry.drivers)
        return car

    def _run_target(self, entry: Entry, driver: int) -> int:
        """How many stints in a row a driver does: amateurs single, pros often double."""
        if entry.drivers[driver].licence == "Bronze":
            return 1 if self.rng.random() < 0.4 else 2
        return self.rng.choices((1, 2, 3), weights=(0.2, 0.5, 0.3))[0]

    # -- track state ---------------------------------------------------------------------
    def _state(self, t: float) -> tuple[Period | None, float]:
        """The period in force at ``t`` (None = green) and when that state ends."""
        k = bisect_right(self._p_start, t) - 1
        if k >= 0 and t < self.periods[k].end_s:
            return self.periods[k], self.periods[k].end_s
        nxt = k + 1
        return None, (self.periods[nxt].start_s if nxt < len(self.periods) else math.inf)

    def _traverse(self, t: float, segments: list[tuple[float, bool]],
                  ratios: dict[str, float]) -> tuple[list[float], float]:
        """Run segments from ``t``; return each segment's end time and the neutral share.

        Args:
            segments: (green duration s, fixed) — a fixed segment (pit lane, grid delay)
                takes the same time whatever the flag.
            ratios: neutral/green pace ratio per period mode ("fcy", "sc").
        """
        ends: list[float] = []
        green_total = neutral_green = 0.0
        for green, fixed in segments:
            remaining = 1.0
            while remaining > 0.0 and green > 0.0:
                period, until = self._state(t)
                duration = green if fixed or period is None else green * ratios[period.mode]
                need = remaining * duration
                if t + need <= until:
                    t += need
                    if period is not None and not fixed:
                        neutral_green += remaining * green
                    remaining = 0.0
                else:
                    covered = (until - t) / duration
                    if period is not None and not fixed:
                        neutral_green += covered * green
                    remaining -= covered
                    t = until
            if not fixed:
                green_total += green
            ends.append(t)
        share = neutral_green / green_total if green_total > 0 else 0.0
        return ends, share

    def _time_factor(self, t: float) -> float:
        """Track rubbering in (early laps slower) and darkness (night laps slower)."""
        tod = (self.track.start_time_of_day_s + t) % 86400.0
        if _NIGHT_END_S <= tod <= _NIGHT_START_S:
            dark = max(0.0, 1.0 - min(tod - _NIGHT_END_S, _NIGHT_START_S - tod) / _NIGHT_RAMP_S)
        else:
            dark = 1.0
        return 1.0 + 0.003 * math.exp(-t / 5400.0) + _NIGHT_SLOWER * dark

    # -- traffic -------------------------------------------------------------------------
    def _road(self, i: int, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Other cars on track at ``t``: mask and their position (laps, fractional)."""
        frac = np.clip((t - self.lap_start) / self.lap_len, 0.0, 1.0)
        mask = self.on_track & (self.lane_until <= t)
        mask[i] = False
        return mask, self.done + frac

    def _traffic_loss(self, i: int, t: float, lap_s: float) -> tuple[float, int]:
        """Time car ``i`` loses to the cars it meets on this green lap, and passes made.

        Each other car's road position is projected over the lap at its own pace; every
        time the relative position crosses a whole lap, one car passes the other. Lapping
        a slower class costs the faster car 0.1–3 s; being lapped costs a fraction of that.
        """
        mask, pos = self._road(i, t)
        if not mask.any():
            return 0.0, 0
        rel0 = pos[mask] - self.done[i]
        rel1 = rel0 + lap_s / self.pace[mask] - 1.0
        passes = np.floor(rel0) - np.floor(rel1)
        other = self.rank[mask]
        mine = self.rank[i]
        lapping = int(passes[(passes > 0) & (other > mine)].sum())
        same = int(np.abs(passes[other == mine]).sum())
        lapped = int(-passes[(passes < 0) & (other < mine)].sum())
        rng = self.rng
        loss = sum(min(3.0, rng.expovariate(1 / 0.22)) for _ in range(lapping))
        loss += sum(rng.uniform(0.05, 0.45) for _ in range(same))
        loss += sum(rng.uniform(0.05, 0.3) for _ in range(lapped))
        return loss, lapping + same

    def _safety_car_catch(self, i: int, t: float) -> float:
        """Seconds a car gains per lap behind the safety car while closing on the queue."""
        mask, pos = self._road(i, t)
        if not mask.any():
            return 0.0
        ahead = (pos[mask] - self.done[i]) % 1.0
        ahead = ahead[ahead > 1e-6]
        if not len(ahead):
            return 0.0
        gap_s = float(ahead.min()) * self.sc_lap_s
        return min(max(gap_s - 1.2, 0.0) * 0.8, 0.3 * self.sc_lap_s)

    # -- one lap -------------------------------------------------------------------------
    def _laps_to_go(self, car: _Car, t: float) -> float:
        pace = self.pace[car.index]
        return max(0.0, (self.duration_s - t) / pace) + 1.0

    def _apply_incidents(self, car: _Car, t: float, lap_s: float) -> tuple[bool, float, bool]:
        """Incidents in this lap: (car is out now, extra seconds, lap ends in the pits)."""
        queue = self.incidents.get(car.index)
        extra, in_pit = 0.0, False
        while queue and queue[0].time_s < t + lap_s:
            kind = queue[0].kind
            if car.pending_pit_s is not None and kind in ("damage", "mechanical", "puncture",
                                                          "drive"):
                break  # on an out-lap: the car comes back in on the next lap instead
            incident = queue.pop(0)
            if kind == "crash":
                return True, 0.0, False
            if kind in ("stopped", "spin"):
                extra += incident.size
            elif kind == "damage":
                extra += self.rng.uniform(25.0, 70.0)
                car.repair_s = incident.size
                car.forced_tyres = True
                car.damage_pct = max(car.damage_pct, self.rng.choice([0.0, 0.2, 0.5]))
                in_pit = True
            elif kind == "mechanical":
                extra += incident.size
                car.retire_in_pit = True
                in_pit = True
            elif kind == "puncture":
                extra += incident.size
                car.forced_tyres = True
                in_pit = True
            elif kind == "drive":
                car.drive_through = True
                in_pit = True
        return False, extra, in_pit

    def _wants_stop(self, car: _Car, t: float) -> bool:
        """Fuel/energy strategy at the start of a lap: is this lap an in-lap?"""
        if car.pending_pit_s is not None or car.stint_laps < 3:
            return False
        after = car.fuel - 1.0
        to_go = self._laps_to_go(car, t) - 1.0
        if after >= to_go:
            return False                      # enough to reach the flag
        if after < 1.0:
            return True                       # cannot do another lap after this one
        period, _ = self._state(t)
        if period is not None and after < 0.55 * car.capacity and car.stint_laps >= 6:
            # A stop under a neutralisation costs less track time: most teams take it.
            return self.rng.random() < (0.8 if period.mode == "sc" else 0.45)
        return False

    def _start_lap(self, car: _Car, t: float, grid_slot: int | None = None) -> None:
        """Plan the lap car ``car`` starts at ``t`` (lap 1 from ``grid_slot`` on the grid).

        Green pace first (car, driver, tyres, fuel, time of day, noise, incidents, traffic),
        split into sectors, then run through the neutralisation periods; an in-lap ends with
        the pit entry, an out-lap starts with the stop's PIT_TIME.
        """
        rng = self.rng
        entry, i = car.entry, car.index
        driver = entry.drivers[car.driver]
        cls = entry.cls
        base = cls.lap_s * (1.0 + (entry.pace_pct + driver.pace_pct + car.damage_pct) / 100.0)
        base *= self._time_factor(t)
        base += cls.fade_s * car.tyre_laps - cls.fuel_gain_s * (car.capacity - car.fuel)
        gone, extra, in_pit = self._apply_incidents(car, t, base)
        if gone:  # stopped on track for good: no further crossing
            car.active = False
            self.on_track[i] = False
            return
        number = car.laps + 1
        in_pit = in_pit or (grid_slot is None and self._wants_stop(car, t))
        sigma = driver.noise_pct * cls.lap_s / 100.0
        shares = self.track.sector_shares
        sectors = [base * s + rng.gauss(0.0, sigma * math.sqrt(s)) for s in shares]
        if rng.random() < 0.025:  # a mistake: a lock-up, a wide moment
            sectors[rng.randrange(3)] += rng.expovariate(1 / 1.4)
        if extra:
            sectors[rng.randrange(3)] += extra
        period, _ = self._state(t)
        ratios = {"fcy": max(1.0, self.fcy_lap_s / base) * rng.uniform(0.99, 1.02),
                  "sc": max(1.0, (self.sc_lap_s - (self._safety_car_catch(i, t)
                                                   if period is not None
                                                   and period.mode == "sc" else 0.0)) / base)
                  * rng.uniform(0.995, 1.01)}
        passes = 0
        if grid_slot is None and car.pending_pit_s is None:
            green_ahead = self._state(t + base)[0] is None and period is None
            if green_ahead:
                loss, passes = self._traffic_loss(i, t, base)
                for _ in range(3):
                    sectors[rng.randrange(3)] += loss / 3.0
        segments: list[tuple[float, bool]] = []
        seg_sector: list[int] = []
        if grid_slot is not None:
            # Rolling start: lap 1 is timed from the start signal, so cars further back on
            # the grid cross the line later; the field is bunched in the first corners.
            segments.append((grid_slot * 0.72 + (rng.uniform(0.3, 2.0) if grid_slot else 0.0),
                             True))
            seg_sector.append(0)
            sectors[0] -= 0.9
        pit_s = car.pending_pit_s
        if pit_s is not None:
            # Out-lap: the pit-lane time is fixed whatever the flag; the pit exit rejoins
            # part-way through S1; cold tyres cost a little.
            segments.append((pit_s, True))
            seg_sector.append(0)
            sectors[0] = max(1.0, sectors[0] - self.track.pit_exit_share * base)
            sectors[0] += rng.uniform(0.8, 2.2) if car.tyre_laps == 0 else rng.uniform(0.0, 0.8)
        for k in range(3):
            segments.append((sectors[k], False))
            seg_sector.append(k)
        if in_pit:
            segments.append((rng.uniform(4.5, 7.0), True))  # pit entry, line in the pit lane
            seg_sector.append(2)
        ends, neutral_share = self._traverse(t, segments, ratios)
        sector_end = [max(e for e, k in zip(ends, seg_sector, strict=True) if k == s)
                      for s in range(3)]
        top_speed = None
        if self.spec.top_speed and number > 1:
            if self._state(sector_end[1])[0] is not None:
                top_speed = rng.uniform(95.0, 180.0)
            else:
                top_speed = (cls.top_speed_kph + entry.pace_pct * -2.0 + rng.gauss(0.0, 2.4)
                             + 1.5 * min(passes, 3))
        car.lap = _Lap(number, car.driver, t, sector_end[0], sector_end[1], sector_end[2],
                       in_pit, pit_s, top_speed, neutral_share)
        car.pending_pit_s = None
        self.lap_start[i] = t
        self.lap_len[i] = max(1.0, sector_end[2] - t)
        self.lane_until[i] = t + (pit_s or 0.0)

    # -- the line ------------------------------------------------------------------------
    def _cross(self, car: _Car) -> bool:
        """Record the lap that just ended; return True when the car runs another lap."""
        lap = car.lap
        assert lap is not None
        t = lap.end
        period, _ = self._state(t)
        flag = "GF" if period is None else period.code
        finished = False
        if self.chequered:
            flag, finished = "FF", True
        elif t >= self.duration_s and car.laps + 1 > self.done.max():
            # The leader: after this crossing it has more laps than anyone (a car level on
            # laps crossed earlier, so it is ahead and takes the flag first).
            flag, finished, self.chequered = "FF", True, True
        car.rows.append((lap.number, lap.driver + 1, round(lap.start * 1000),
                         round(lap.s1_end * 1000), round(lap.s2_end * 1000),
                         round(lap.end * 1000), lap.in_pit,
                         None if lap.pit_s is None else round(lap.pit_s * 1000), flag,
                         lap.top_speed))
        car.laps += 1
        self.done[car.index] = car.laps
        car.drive_time[car.driver] += lap.end - lap.start
        car.fuel -= 1.0 - 0.6 * lap.neutral_share
        car.tyre_laps += 1
        car.stint_laps += 1
        if finished or (lap.in_pit and car.retire_in_pit):
            car.active = False
            self.on_track[car.index] = False
            return False
        if lap.in_pit:
            self._pit_stop(car, t)
        return True

    def _pit_stop(self, car: _Car, t: float) -> None:
        """Service at the stop after an in-lap: fuel, tyres, driver, repairs → PIT_TIME."""
        rng, cls, spec = self.rng, car.entry.cls, self.spec
        lane = self.track.pit_lane_s + rng.gauss(0.0, 0.5)
        if car.drive_through:
            car.drive_through = False
            car.pending_pit_s = lane
            return
        to_go = self._laps_to_go(car, t)
        target = min(car.capacity, to_go + 0.6)
        refuel = max(0.0, target - car.fuel)
        refuel_s = 3.0 + cls.refuel_s * refuel / car.capacity if refuel > 0.3 else 0.0
        tyres = car.forced_tyres or (to_go > 8 and (
            car.tyre_stints >= 2 or rng.random() < (0.35 if spec.sequential_tyres else 0.65)))
        # Rotate when the driver's planned run is done, or early when one driver would
        # take far more than a fair share of the race.
        fair_s = self.duration_s / len(car.entry.drivers)
        change = (len(car.entry.drivers) > 1 and to_go > 6
                  and (car.run >= car.run_target or car.drive_time[car.driver] > 1.2 * fair_s))
        service = refuel_s
        if change:
            service = max(service, rng.uniform(18.0, 26.0))
        if tyres:
            service = service + cls.tyre_s if spec.sequential_tyres else max(service,
                                                                             cls.tyre_s)
        service = max(service, 4.0)
        slow = rng.uniform(4.0, 15.0) if rng.random() < 0.05 else 0.0
        pit = lane + service + car.entry.pit_skill_s + rng.gauss(0.0, 1.0) + slow
        pit += car.repair_s
        car.repair_s = 0.0
        car.forced_tyres = False
        car.fuel += refuel if refuel_s else 0.0
        if tyres:
            car.tyre_laps, car.tyre_stints = 0, 1
        else:
            car.tyre_stints += 1
        if change:
            others = [d for d in range(len(car.entry.drivers)) if d != car.driver]
            car.driver = min(others, key=lambda d: (car.drive_time[d], rng.random()))
            car.run, car.run_target = 1, self._run_target(car.entry, car.driver)
        else:
            car.run += 1
        car.stint_laps = 0
        car.pending_pit_s = max(pit, lane)

    # -- the race ------------------------------------------------------------------------
    def run(self) -> pd.DataFrame:
        """Simulate the race and return its laps.

        Returns:
            one row per car per lap, in car order then lap order: ``car`` (entry index),
            ``lap_number, driver_number, start_ms, s1_end_ms, s2_end_ms, end_ms, in_pit,
            pit_ms, flag, top_speed``.
        """
        rng = self.rng
        grid = sorted(range(len(self.cars)), key=lambda i: (
            self.rank[i], self.entries[i].pace_pct + rng.gauss(0.0, 0.25)))
        heap: list[tuple[float, int]] = []
        for slot, i in enumerate(grid):
            car = self.cars[i]
            self._start_lap(car, 0.0, grid_slot=slot)
            heapq.heappush(heap, (car.lap.end, i))
        while heap:
            t, i = heapq.heappop(heap)
            car = self.cars[i]
            if self._cross(car):
                self._start_lap(car, t)
                if car.active:
                    heapq.heappush(heap, (car.lap.end, i))
        columns = ["lap_number", "driver_number", "start_ms", "s1_end_ms", "s2_end_ms",
                   "end_ms", "in_pit", "pit_ms", "flag", "top_speed"]
        frames = []
        for car in self.cars:
            frame = pd.DataFrame(car.rows, columns=columns)
            frame.insert(0, "car", car.index)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)
