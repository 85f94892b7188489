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


# -- the official results ("03_Results") and weather ("26_Weather") files of the same race --
RESULTS_COLUMNS = ["POSITION", "NUMBER", "STATUS", "LAPS", "TOTAL_TIME", "GAP_FIRST",
                   "GAP_PREVIOUS", "FL_LAPNUM", "FL_TIME", "FL_KPH", "TEAM", "CLASS", "GROUP",
                   "DIVISION", "VEHICLE", "TIRES",
                   *(f"DRIVER{n}_{part}" for n in (1, 2, 3)
                     for part in ("FIRSTNAME", "SECONDNAME", "LICENSE", "COUNTRY"))]
LICENCES = ("Platinum", "Gold", "Silver", "Bronze")
WEATHER_COLUMNS = ["TIME_UTC_SECONDS", "TIME_UTC_STR", "AIR_TEMP", "TRACK_TEMP", "HUMIDITY",
                   "PRESSURE", "WIND_SPEED", "WIND_DIRECTION", "RAIN"]
RACE_START_EPOCH_S = 1_718_013_900  # 2024-06-10 10:05:00 UTC


def _ms(text: str) -> int:
    parts = [float(p) for p in text.split(":")]
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return round(seconds * 1000)


def results_rows(laps: int = 8) -> list[dict[str, str]]:
    """The official classification of ``rows(laps)``: one row per car, drivers in blocks."""
    table = rows(laps)
    cars = []
    for number, cls, team, make, _base, drivers in CARS:
        own = [r for r in table if r["NUMBER"] == number]
        best = min(own[1:], key=lambda r: _ms(r["LAP_TIME"]))
        cars.append((len(own), _ms(own[-1]["ELAPSED"]), number, cls, team, make, drivers,
                     best))
    cars.sort(key=lambda c: (-c[0], c[1]))
    out = []
    for position, (n_laps, total, number, cls, team, make, drivers, best) in enumerate(cars, 1):
        lead_total, prev_total = cars[0][1], cars[max(0, position - 2)][1]
        row = {"POSITION": str(position), "NUMBER": number, "STATUS": "Classified",
               "LAPS": str(n_laps), "TOTAL_TIME": fmt(total, hours=True),
               "GAP_FIRST": "-" if position == 1 else f"+{(total - lead_total) / 1000:.3f}",
               "GAP_PREVIOUS": "-" if position == 1 else f"+{(total - prev_total) / 1000:.3f}",
               "FL_LAPNUM": best["LAP_NUMBER"], "FL_TIME": best["LAP_TIME"],
               "FL_KPH": best["KPH"], "TEAM": team, "CLASS": cls, "GROUP": "",
               "DIVISION": "", "VEHICLE": f"{make} Racer", "TIRES": "M"}
        for n, name in enumerate(drivers, 1):
            first, _, second = name.partition(" ")
            row |= {f"DRIVER{n}_FIRSTNAME": first, f"DRIVER{n}_SECONDNAME": second,
                    f"DRIVER{n}_LICENSE": LICENCES[(position + n) % 4],
                    f"DRIVER{n}_COUNTRY": ("USA", "GBR", "BRA")[n % 3]}
        out.append(row)
    return out


def weather_rows(minutes: int = 16) -> list[dict[str, str]]:
    """One reading a minute from the start (°F, inHg, mph), as the official file has them."""
    out = []
    for i in range(minutes):
        t = RACE_START_EPOCH_S + 60 * i
        out.append({"TIME_UTC_SECONDS": str(t), "TIME_UTC_STR": f"10-Jun-24 10:{5 + i:02d}:00",
                    "AIR_TEMP": f"{70 + i * 0.1:.1f}", "TRACK_TEMP": f"{85 + i * 0.2:.2f}",
                    "HUMIDITY": str(60 - i % 3), "PRESSURE": "29.92", "WIND_SPEED": "3.1",
                    "WIND_DIRECTION": str(180 + i), "RAIN": "-1"})
    return out


def render_table(table: list[dict[str, str]], columns: list[str], *, sep: str = ",",
                 bom: bool = True, newline: str = "\r\n") -> bytes:
    """Serialise a results or weather table (trailing separator, BOM, CRLF by default)."""
    lines = [sep.join(columns) + sep] + [
        sep.join(_field(r.get(c, ""), sep) for c in columns) + sep for r in table]
    return (b"\xef\xbb\xbf" if bom else b"") + (newline.join(lines) + newline).encode("utf-8")


def results_file(**kwargs: object) -> bytes:
    return render_table(results_rows(), RESULTS_COLUMNS, **kwargs)


def weather_file(**kwargs: object) -> bytes:
    return render_table(weather_rows(), WEATHER_COLUMNS, **kwargs)
