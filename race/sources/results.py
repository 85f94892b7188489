"""Parsers for the IMSA official results ("03_Results") and weather ("26_Weather") files.

Pure: bytes in, DataFrames out (DATA.md §3). Results give the official classification and
each driver's FIA licence (Platinum/Gold/Silver/Bronze), joined to laps on NUMBER and
DRIVER_NUMBER = n of the DRIVERn_ block.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from race.errors import ParseError
from race.sources.csvtext import read_text_table
from race.timefmt import TimeFormatError, parse_times_ms

RESULTS_REQUIRED = ("POSITION", "NUMBER", "STATUS", "LAPS", "CLASS")
WEATHER_REQUIRED = ("TIME_UTC_SECONDS", "AIR_TEMP", "TRACK_TEMP")


def _numbers(table, name: str, source: str, lines: np.ndarray) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    values = pd.to_numeric(pd.Series(table.column(name).to_pylist()).str.strip()
                           .replace("", None), errors="coerce")
    text = pd.Series(table.column(name).to_pylist()).str.strip()
    bad = values.isna() & text.ne("")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ParseError(f"{text.iloc[i]!r} is not a number", source=source,
                         line=int(lines[i]), field=name)
    return values.to_numpy(dtype=float)


def _texts(table, name: str) -> list[str | None]:
    if name not in table.column_names:
        return [None] * table.num_rows
    return [v.strip() or None for v in table.column(name).to_pylist()]


def parse_results_file(data: bytes, source: str = "<results>") -> tuple[pd.DataFrame,
                                                                         pd.DataFrame]:
    """Parse an IMSA official results file.

    Returns:
        (classification: ``number, position, status, laps, total_time_s, gap_first,
        gap_previous, fastest_lap_number, fastest_lap_s, team, class, vehicle, tyres``;
        drivers: ``number, driver_number, driver_name, licence, country``)

    Raises:
        ParseError: missing columns or malformed values, with line and column.
    """
    table, lines = read_text_table(data, source, allow_short_rows=True)
    missing = [c for c in RESULTS_REQUIRED if c not in table.column_names]
    if missing:
        raise ParseError(f"missing column(s) {', '.join(missing)}: not an official results "
                         "file", source=source, line=1)
    times = {}
    for name in ("TOTAL_TIME", "FL_TIME"):
        if name not in table.column_names:
            times[name] = np.full(table.num_rows, np.nan)
            continue
        try:
            times[name] = parse_times_ms(pc.utf8_trim_whitespace(table.column(name))) / 1000.0
        except TimeFormatError as exc:
            raise ParseError(f"{exc.values[0]!r} is not a time", source=source,
                             line=int(lines[exc.positions[0]]), field=name) from None
    position = _numbers(table, "POSITION", source, lines)
    laps = _numbers(table, "LAPS", source, lines)
    classification = pd.DataFrame({
        "number": _texts(table, "NUMBER"),
        "position": pd.array(position, dtype="Int64"),
        "status": _texts(table, "STATUS"),
        "laps": pd.array(laps, dtype="Int64"),
        "total_time_s": times["TOTAL_TIME"],
        "gap_first": _texts(table, "GAP_FIRST"),
        "gap_previous": _texts(table, "GAP_PREVIOUS"),
        "fastest_lap_number": pd.array(_numbers(table, "FL_LAPNUM", source, lines),
                                       dtype="Int64"),
        "fastest_lap_s": times["FL_TIME"],
        "team": _texts(table, "TEAM"),
        "class": _texts(table, "CLASS"),
        "vehicle": _texts(table, "VEHICLE"),
        "tyres": _texts(table, "TIRES"),
    })
    classification = classification[classification["number"].notna()]
    # Official class position: order within class by overall position.
    classification["class_position"] = (classification.sort_values("position")
                                        .groupby("class").cumcount() + 1)
    rows = []
    numbers = _texts(table, "NUMBER")
    for n in range(1, 7):
        first = _texts(table, f"DRIVER{n}_FIRSTNAME")
        second = _texts(table, f"DRIVER{n}_SECONDNAME")
        licence = _texts(table, f"DRIVER{n}_LICENSE")
        country = _texts(table, f"DRIVER{n}_COUNTRY")
        for i, number in enumerate(numbers):
            if number and (first[i] or second[i]):
                name = " ".join(p for p in (first[i], second[i]) if p)
                rows.append((number, n, name, licence[i], country[i]))
    drivers = pd.DataFrame(rows, columns=["number", "driver_number", "driver_name", "licence",
                                          "country"])
    return classification.reset_index(drop=True), drivers


def parse_weather_file(data: bytes, source: str = "<weather>") -> pd.DataFrame:
    """Parse an IMSA weather file (about one row a minute; °F, inHg, mph).

    Returns:
        DataFrame ``time_utc, air_temp_f, track_temp_f, humidity_pct, pressure_inhg,
        wind_speed_mph, wind_direction_deg`` (RAIN is not usable and is dropped).
    """
    table, lines = read_text_table(data, source)
    missing = [c for c in WEATHER_REQUIRED if c not in table.column_names]
    if missing:
        raise ParseError(f"missing column(s) {', '.join(missing)}: not a weather file",
                         source=source, line=1)
    seconds = _numbers(table, "TIME_UTC_SECONDS", source, lines)
    frame = pd.DataFrame({
        "time_utc": pd.to_datetime(seconds, unit="s"),
        "air_temp_f": _numbers(table, "AIR_TEMP", source, lines),
        "track_temp_f": _numbers(table, "TRACK_TEMP", source, lines),
        "humidity_pct": _numbers(table, "HUMIDITY", source, lines),
        "pressure_inhg": _numbers(table, "PRESSURE", source, lines),
        "wind_speed_mph": _numbers(table, "WIND_SPEED", source, lines),
        "wind_direction_deg": _numbers(table, "WIND_DIRECTION", source, lines),
    })
    return frame.dropna(subset=["time_utc"]).drop_duplicates("time_utc").reset_index(drop=True)
