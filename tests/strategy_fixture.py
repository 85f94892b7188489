"""A small synthetic race written as an official lap file (IMSA variant C), for the strategy
tests. Written by the project; no real data in it.

Every car runs alone at its own pace (± a fixed wobble), burns one unit of fuel per green
lap and half a unit per lap that touches the caution, and pits when the next lap would empty
the tank: in-lap ``B``, PIT_TIME on the out-lap, a driver change every second stop. One
full-course yellow slows everybody by 60 % between ``fcy`` start and end (flags ``FCY`` at
the line).
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = ("NUMBER,DRIVER_NUMBER,LAP_NUMBER,LAP_TIME,LAP_IMPROVEMENT,"
          "CROSSING_FINISH_LINE_IN_PIT,S1,S1_IMPROVEMENT,S2,S2_IMPROVEMENT,S3,S3_IMPROVEMENT,"
          "KPH,ELAPSED,HOUR,S1_LARGE,S2_LARGE,S3_LARGE,TOP_SPEED,DRIVER_NAME,PIT_TIME,CLASS,"
          "GROUP,TEAM,MANUFACTURER,FLAG_AT_FL,")


@dataclass(frozen=True)
class CarSpec:
    number: str
    cls: str
    pace_s: float
    tank: float          # green laps per tank
    pit_s: float = 60.0  # PIT_TIME


DEFAULT_CARS = (
    CarSpec("2", "LMP2", 100.0, 20), CarSpec("8", "LMP2", 100.6, 20),
    CarSpec("11", "LMP2", 101.1, 20), CarSpec("52", "LMP2", 101.5, 20),
    CarSpec("12", "GTD", 110.0, 25, 65.0), CarSpec("23", "GTD", 110.5, 25, 65.0),
    CarSpec("57", "GTD", 111.0, 25, 65.0),
)


def _clock(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, f = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{f:03d}" if h else f"{m}:{s:02d}.{f:03d}"


def race_rows(cars: tuple[CarSpec, ...] = DEFAULT_CARS, *, hours: float = 3.0,
              fcy: tuple[float, float] | None = (3600.0, 4200.0), wobble: float = 0.3,
              ) -> list[dict]:
    """Simulated laps: one dict per car per lap (times in seconds)."""
    end = hours * 3600.0
    rows = []
    for k, car in enumerate(cars):
        t, lap, fuel, driver, stops, pending_pit = 0.0, 0, car.tank, 1, 0, 0.0
        finished = False
        while not finished:
            lap += 1
            lap_s = car.pace_s + wobble * (((lap * 7 + k * 3) % 5) - 2) / 2
            if fcy is not None and fcy[0] <= t < fcy[1]:
                lap_s *= 1.6
            # fuel is counted per lap as the engine does: a lap touching the caution is a
            # neutralised lap
            neutral = fcy is not None and t < fcy[1] and t + lap_s > fcy[0]
            pit_time = pending_pit
            lap_s += pit_time
            pending_pit = 0.0
            burn = 0.5 if neutral else 1.0
            fuel -= burn
            in_lap = fuel < 1.0 and t + lap_s < end - car.pace_s
            if in_lap:
                lap_s += 8.0
            t += lap_s
            finished = t >= end
            flag = "FF" if finished else ("FCY" if fcy and fcy[0] <= t < fcy[1] else "GF")
            rows.append({"number": car.number, "driver": driver, "lap": lap, "lap_s": lap_s,
                         "elapsed_s": t, "pit_s": pit_time or None, "in_lap": in_lap,
                         "cls": car.cls, "flag": flag})
            if in_lap:
                stops += 1
                fuel = car.tank
                pending_pit = car.pit_s
                if stops % 2 == 0:
                    driver = 2 if driver == 1 else 1
                rows.append({"driver_next": driver})
    # attach the driver change to the out-lap (the lap after the in-lap)
    out, next_driver = [], None
    for row in rows:
        if "driver_next" in row:
            next_driver = row["driver_next"]
            continue
        if next_driver is not None:
            row["driver"] = next_driver
            next_driver = None
        out.append(row)
    return out


def lap_file_bytes(cars: tuple[CarSpec, ...] = DEFAULT_CARS, **kwargs: object) -> bytes:
    """The simulated race as an IMSA-style Time Cards CSV (variant C, commas)."""
    lines = [HEADER]
    for r in race_rows(cars, **kwargs):
        s1 = r["lap_s"] * 0.3
        s2 = r["lap_s"] * 0.4
        s3 = r["lap_s"] - s1 - s2
        s1, s2 = round(s1, 3), round(s2, 3)
        s3 = round(r["lap_s"], 3) - s1 - s2
        name = f"Driver {r['number']}-{r['driver']}"
        manufacturer = "Oreca" if r["cls"] == "LMP2" else ("Brand" + r["number"][-1])
        lines.append(",".join([
            r["number"], str(r["driver"]), str(r["lap"]), _clock(r["lap_s"]), "0",
            "B" if r["in_lap"] else "", _clock(s1), "0", _clock(s2), "0", _clock(s3), "0",
            "150.0", _clock(r["elapsed_s"]), _clock(36000 + r["elapsed_s"]), "", "", "", "",
            name, _clock(r["pit_s"]) if r["pit_s"] else "", r["cls"], "",
            f"Team {r['number']}", manufacturer, r["flag"], ""]))
    return ("\n".join(lines) + "\n").encode()
