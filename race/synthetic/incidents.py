"""The race's script of incidents and neutralisations, drawn before the simulation starts.

Neutralisation periods are fixed in advance (with their cause) so that every car's lap can be
integrated through them exactly and the flag each car sees at the line is the same track
state for all of them. Incidents name a car and a race time; the simulation applies each to
the car's lap that contains that time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from race.synthetic.entries import Entry, SeriesSpec

# Incident kinds:
#   crash       car stops on track for good (retirement), causes FCY then safety car
#   stopped     car stops on track, restarts after a while (loses 40–150 s), causes FCY
#   damage      contact: slow lap back to the pits, long repair stop (5–25 min)
#   mechanical  car limps into the pits and retires there
#   spin        loses 5–18 s in one sector, no neutralisation
#   puncture    slow lap to the pits for four tyres
#   drive       drive-through penalty: an in-lap and a stop without service
RETIRING = ("crash", "mechanical")


@dataclass(frozen=True)
class Period:
    """A neutralisation: ``code`` is what FLAG_AT_FL shows, ``mode`` how cars move.

    ``mode`` is ``"fcy"`` (speed limit, gaps kept) or ``"sc"`` (safety-car train: gaps
    close). IMSA shows its safety-car periods as FCY.
    """

    start_s: float
    end_s: float
    code: str
    mode: str


@dataclass(frozen=True)
class Incident:
    time_s: float
    kind: str
    car: int          # index into the entry list
    size: float       # time lost (s) or repair time (s), by kind


def _spaced_times(rng: random.Random, count: int, lo: float, hi: float,
                  gap: float) -> list[float]:
    """Up to ``count`` sorted times in [lo, hi] at least ``gap`` apart."""
    times: list[float] = []
    for _ in range(count * 40):
        if len(times) == count:
            break
        t = rng.uniform(lo, hi)
        if all(abs(t - other) >= gap for other in times):
            times.append(t)
    return sorted(times)


def _pick_car(rng: random.Random, entries: list[Entry], taken: set[int]) -> int:
    """A car not yet used by a car-bound incident; GT cars and amateurs err more often."""
    weights = []
    for i, e in enumerate(entries):
        bronze = any(d.licence == "Bronze" for d in e.drivers)
        weights.append(0.0 if i in taken else 1.0 + 0.6 * bronze + 0.4 * (e.cls.lap_s > 104))
    i = rng.choices(range(len(entries)), weights=weights)[0]
    taken.add(i)
    return i


def plan_incidents(spec: SeriesSpec, entries: list[Entry], duration_s: float,
                   rng: random.Random) -> tuple[list[Period], list[Incident]]:
    """Draw the neutralisation periods and car incidents of a race.

    Always includes a crash that retires a car (with its neutralisation), a damaged car with a
    long repair stop and a spin; further FCY/safety-car periods at about
    ``spec.neutralisations_per_hour``.

    Returns:
        (periods sorted by start and disjoint, incidents sorted by time)
    """
    hours = duration_s / 3600.0
    sc_lap_s = min(c.lap_s for c in spec.classes) * spec.track.safety_car_ratio
    taken: set[int] = set()
    incidents: list[Incident] = []
    periods: list[Period] = []
    n_neutral = max(2, round(hours * spec.neutralisations_per_hour * rng.uniform(0.75, 1.25)))
    times = _spaced_times(rng, n_neutral, 0.02 * duration_s, 0.9 * duration_s,
                          min(1800.0, duration_s / (n_neutral + 1)))
    causes = ["crash"] + [rng.choices(["crash", "stopped", "debris", "damage"],
                                      weights=[0.2, 0.4, 0.25, 0.15])[0]
                          for _ in times[1:]]
    rng.shuffle(causes)
    last_end = 0.0
    for t, cause in zip(times, causes, strict=True):
        start = max(t + rng.uniform(8.0, 25.0), last_end + 240.0)
        if start > 0.93 * duration_s:
            continue
        if cause == "crash":
            size = 0.0
        elif cause == "stopped":
            size = rng.uniform(40.0, 150.0)
        elif cause == "damage":
            size = rng.uniform(300.0, 1200.0 if hours < 12 else 2400.0)
        else:
            size = 0.0
        if cause != "debris":
            incidents.append(Incident(t, cause, _pick_car(rng, entries, taken), size))
        long_one = cause == "crash" or (cause == "stopped" and rng.random() < 0.3)
        if spec.neutral_code == "FCY":  # IMSA: every neutralisation is a safety-car FCY
            length = rng.uniform(780.0, 1300.0) if long_one else rng.uniform(420.0, 720.0)
            periods.append(Period(start, start + length, "FCY", "sc"))
        elif long_one:
            fcy_end = start + rng.uniform(50.0, 140.0)
            periods.append(Period(start, fcy_end, "FCY", "fcy"))
            # A safety car stays out for 3.5–6 of its own laps (longer on a long track).
            length = rng.uniform(3.5, 6.0) * sc_lap_s
            periods.append(Period(fcy_end, fcy_end + length, "SF", "sc"))
        else:
            periods.append(Period(start, start + rng.uniform(90.0, 260.0), "FCY", "fcy"))
        last_end = periods[-1].end_s
    if not any(i.kind == "damage" for i in incidents):
        incidents.append(Incident(rng.uniform(0.15, 0.55) * duration_s, "damage",
                                  _pick_car(rng, entries, taken),
                                  rng.uniform(300.0, 1200.0 if hours < 12 else 2400.0)))
    if hours >= 3 and rng.random() < 0.8:
        incidents.append(Incident(rng.uniform(0.3, 0.85) * duration_s, "mechanical",
                                  _pick_car(rng, entries, taken), rng.uniform(15.0, 60.0)))
    for kind, rate, low, high in (("spin", 0.7, 5.0, 18.0), ("puncture", 0.3, 10.0, 30.0),
                                  ("drive", 0.3, 0.0, 0.0)):
        count = max(1 if kind == "spin" else 0, round(hours * rate * rng.uniform(0.6, 1.4)))
        for n in range(count):
            # The first spin goes to a car with no other incident, so it always happens.
            car = (rng.choice([i for i in range(len(entries)) if i not in taken])
                   if kind == "spin" and n == 0 else rng.randrange(len(entries)))
            incidents.append(Incident(rng.uniform(0.04, 0.92) * duration_s, kind, car,
                                      rng.uniform(low, high)))
    incidents.sort(key=lambda i: (i.time_s, i.car))
    return periods, incidents
