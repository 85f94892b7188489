"""A tiny valid official lap file (IMSA "Time Cards" layout), written by us for tests.

Three cars in two classes, ``laps`` laps each: one pit stop with a driver change, a
full-course yellow seen by every car, the chequered flag on the last lap. Satisfies the
format's invariants (ELAPSED(n) − ELAPSED(n−1) = LAP_TIME(n), sectors sum to the lap,
contiguous lap numbers, rows sorted by car then lap).
"""

from __future__ import annotations

HEADER = ("NUMBER, DRIVER_NUMBER, LAP_NUMBER, LAP_TIME, LAP_IMPROVEMENT, "
          "CROSSING_FINISH_LINE_IN_PIT, S1, S1_IMPROVEMENT, S2, S2_IMPROVEMENT, S3, "
          "S3_IMPROVEMENT, KPH, ELAPSED, HOUR,S1_LARGE,S2_LARGE,S3_LARGE,TOP_SPEED,"
          "DRIVER_NAME,PIT_TIME,CLASS,GROUP,TEAM,MANUFACTURER,FLAG_AT_FL,")
COLUMNS = [c.strip() for c in HEADER.split(",")][:-1]
# (number, class, team, manufacturer, base lap ms, drivers)
CARS = (
    ("01", "GTP", "Alpha Racing, LLC", "Cadillac", 95_000, ("Ana SØRENSEN", "Bo NEGRÃO")),
    ("7", "GTP", "Beta Motorsport", "Porsche", 95_400, ("Cy DOE", "Di ROE")),
    ("23", "GTD", "Gamma GT", "BMW", 104_000, ("Ed POE", "Flo MOE")),
)
START_OF_DAY_MS = 10 * 3_600_000 + 5 * 60_000


def fmt(ms: int, *, hours: bool = False) -> str:
    """``M:SS.mmm``, or ``H:MM:SS.mmm`` from one hour (or always with ``hours``)."""
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, milli = divmod(rem, 1000)
    if h or hours:
        return f"{h}:{m:02d}:{s:02d}.{milli:03d}"
    return f"{m}:{s:02d}.{milli:03d}"


def rows(laps: int = 8) -> list[dict[str, str]]:
    """The file's rows as dicts keyed by column name."""
    fcy_lap = laps - 2  # every car crosses under FCY on this lap
    stop_after = laps // 2  # car "7" pits at the end of this lap
    out = []
    for idx, (number, cls, team, make, base, drivers) in enumerate(CARS):
        elapsed = 0
        driver = 1
        for lap in range(1, laps + 1):
            lap_ms = base + 317 * ((lap * 7 + idx * 3) % 5) + (9_000 if lap == 1 else 0)
            pit = ""
            in_pit = ""
            if lap == fcy_lap:
                lap_ms += 30_000
            if number == "7" and lap == stop_after:
                in_pit = "B"
            if number == "7" and lap == stop_after + 1:
                pit_ms = 71_234
                pit = fmt(pit_ms, hours=True)
                lap_ms += pit_ms - 20_000
                driver = 2
            elapsed += lap_ms
            s1 = lap_ms * 3 // 10
            s2 = lap_ms * 4 // 10
            s3 = lap_ms - s1 - s2
            flag = "FCY" if lap == fcy_lap else ("FF" if lap == laps else "GF")
            out.append({
                "NUMBER": number, "DRIVER_NUMBER": str(driver), "LAP_NUMBER": str(lap),
                "LAP_TIME": fmt(lap_ms), "LAP_IMPROVEMENT": "0",
                "CROSSING_FINISH_LINE_IN_PIT": in_pit, "S1": fmt(s1)[2:] if s1 < 60_000
                else fmt(s1), "S1_IMPROVEMENT": "0", "S2": fmt(s2), "S2_IMPROVEMENT": "0",
                "S3": fmt(s3), "S3_IMPROVEMENT": "0",
                "KPH": f"{5_430 * 3_600 / lap_ms:.1f}", "ELAPSED": fmt(elapsed),
                "HOUR": fmt(START_OF_DAY_MS + elapsed, hours=True), "S1_LARGE": fmt(s1),
                "S2_LARGE": fmt(s2), "S3_LARGE": fmt(s3), "TOP_SPEED": "",
                "DRIVER_NAME": drivers[driver - 1], "PIT_TIME": pit, "CLASS": cls,
                "GROUP": "", "TEAM": team, "MANUFACTURER": make, "FLAG_AT_FL": flag,
            })
    return out


def _field(value: str, sep: str) -> str:
    return f'"{value}"' if sep in value else value


def render(table: list[dict[str, str]], *, sep: str = ",", bom: bool = True,
           newline: str = "\r\n", columns: list[str] | None = None) -> bytes:
    """Serialise rows the way the official export does (trailing separator, BOM, CRLF)."""
    columns = columns or COLUMNS
    header = HEADER if (sep == "," and columns == COLUMNS) else sep.join(columns) + sep
    lines = [header] + [sep.join(_field(r.get(c, ""), sep) for c in columns) + sep
                        for r in table]
    data = newline.join(lines) + newline
    return (b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8")


def lap_file(laps: int = 8, **kwargs: object) -> bytes:
    """A valid lap file's bytes (see ``render`` for the layout options)."""
    return render(rows(laps), **kwargs)
