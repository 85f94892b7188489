"""Parsers for the IMSA official results ("03_Results") and weather ("26_Weather") files.

Pure: bytes in, DataFrames out (DATA.md §3). Results give the official classification and
each driver's FIA licence (Platinum/Gold/Silver/Bronze), joined to laps on NUMBER and
DRIVER_NUMBER = n of the DRIVERn_ block.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from race.errors import ParseError, shorten
from race.schema import MAX_TEXT_CHARS
from race.sources.csvtext import read_text_table
from race.timefmt import TimeFormatError, parse_times_ms

RESULTS_REQUIRED = ("POSITION", "NUMBER", "STATUS", "LAPS", "CLASS")
WEATHER_REQUIRED = ("TIME_UTC_SECONDS", "AIR_TEMP", "TRACK_TEMP")
_WHOLE = re.compile(r"\d{1,9}")
_DECIMAL = re.compile(r"-?\d{1,12}(\.\d{1,12})?")
# Whole-number columns of the results file: the largest value a real race could hold.
_RESULTS_INT_MAX = {"POSITION": 999, "LAPS": 9_999, "FL_LAPNUM": 9_999}
# Weather readings are stamped in epoch seconds (real: 2021-2024).
_WEATHER_EPOCH_S = (pd.Timestamp("1990-01-01").timestamp(), pd.Timestamp("2100-01-01").timestamp())


def _numbers(table, name: str, source: str, lines: np.ndarray, *, whole: bool = False,
             low: float = -1e12, high: float = 1e12) -> np.ndarray:
    """A numeric column (NaN where empty); a value that is not a plain number (no ``inf``,
    ``nan``, exponent), not whole when ``whole``, or outside [low, high] raises."""
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    pattern = _WHOLE if whole else _DECIMAL
    out = np.full(table.num_rows, np.nan)
    for i, raw in enumerate(table.column(name).to_pylist()):
        text = raw.strip()
        if not text:
            continue
        if not pattern.fullmatch(text):
            expected = "a whole number ≥ 0" if whole else "a number"
            raise ParseError(f"{shorten(text)} is not {expected}", source=source,
                             line=int(lines[i]), field=name)
        value = float(text)
        if not low <= value <= high:
            raise ParseError(f"{shorten(text)} is out of range ({low:g} to {high:g})",
                             source=source, line=int(lines[i]), field=name)
        out[i] = value
    return out


def _texts(table, name: str, source: str = "", lines: np.ndarray | None = None,
           ) -> list[str | None]:
    if name not in table.column_names:
        return [None] * table.num_rows
    values = [v.strip() or None for v in table.column(name).to_pylist()]
    for i, v in enumerate(values):
        if v is not None and len(v) > MAX_TEXT_CHARS:
            raise ParseError(f"{shorten(v)} is longer than {MAX_TEXT_CHARS} characters",
                             source=source, line=int(lines[i]) if lines is not None else None,
                             field=name)
    return values


def _no_rows(table, source: str) -> None:
    if table.num_rows == 0:
        raise ParseError("the file has a header but no rows", source=source, line=2)


def _first_duplicate(keys: pd.Series, lines: np.ndarray, source: str, field: str,
                     what: str, shown: list[str] | None = None) -> None:
    """Raise on the second row holding a key already seen (``shown``: the keys' text)."""
    dup = keys.duplicated() & keys.notna()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        text = shown[i] if shown is not None else keys.iloc[i]
        raise ParseError(f"{what} {shorten(text)} appears twice", source=source,
                         line=int(lines[i]), field=field)


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
    _no_rows(table, source)
    times = {}
    for name in ("TOTAL_TIME", "FL_TIME"):
        if name not in table.column_names:
            times[name] = np.full(table.num_rows, np.nan)
            continue
        try:
            times[name] = parse_times_ms(pc.utf8_trim_whitespace(table.column(name))) / 1000.0
        except TimeFormatError as exc:
            raise ParseError(f"{shorten(exc.values[0])} is not {exc.expected}",
                             source=source, line=int(lines[exc.positions[0]]),
                             field=name) from None
    whole = {name: _numbers(table, name, source, lines, whole=True, low=0, high=high)
             for name, high in _RESULTS_INT_MAX.items()}

    def texts(name: str) -> list[str | None]:
        return _texts(table, name, source, lines)

    classification = pd.DataFrame({
        "number": texts("NUMBER"),
        "position": pd.array(whole["POSITION"], dtype="Int64"),
        "status": texts("STATUS"),
        "laps": pd.array(whole["LAPS"], dtype="Int64"),
        "total_time_s": times["TOTAL_TIME"],
        "gap_first": texts("GAP_FIRST"),
        "gap_previous": texts("GAP_PREVIOUS"),
        "fastest_lap_number": pd.array(whole["FL_LAPNUM"], dtype="Int64"),
        "fastest_lap_s": times["FL_TIME"],
        "team": texts("TEAM"),
        "class": texts("CLASS"),
        "vehicle": texts("VEHICLE"),
        "tyres": texts("TIRES"),
    })
    _first_duplicate(classification["number"], lines, source, "NUMBER", "car")
    keep = classification["number"].notna().to_numpy()
    classification = classification[keep]
    # Official class position: order within class by overall position.
    classification["class_position"] = (classification.sort_values("position")
                                        .groupby("class").cumcount() + 1)
    rows = []
    numbers = texts("NUMBER")
    for n in range(1, 7):
        first = texts(f"DRIVER{n}_FIRSTNAME")
        second = texts(f"DRIVER{n}_SECONDNAME")
        licence = texts(f"DRIVER{n}_LICENSE")
        country = texts(f"DRIVER{n}_COUNTRY")
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
        wind_speed_mph, wind_direction_deg, rain``. RAIN is -1 (not measured) in every real
        file (2021-2024): ``rain`` is then None; 0 is False, above 0 True. A RAIN that is
        not a number is None too (it never makes the file unreadable).
    """
    table, lines = read_text_table(data, source)
    missing = [c for c in WEATHER_REQUIRED if c not in table.column_names]
    if missing:
        raise ParseError(f"missing column(s) {', '.join(missing)}: not a weather file",
                         source=source, line=1)
    _no_rows(table, source)
    low, high = _WEATHER_EPOCH_S
    seconds = _numbers(table, "TIME_UTC_SECONDS", source, lines, low=low, high=high)
    time_utc = pd.Series(pd.to_datetime(seconds, unit="s"))
    _first_duplicate(time_utc, lines, source, "TIME_UTC_SECONDS", "reading time",
                     [v.strip() for v in table.column("TIME_UTC_SECONDS").to_pylist()])
    frame = pd.DataFrame({
        "time_utc": time_utc,
        "air_temp_f": _numbers(table, "AIR_TEMP", source, lines),
        "track_temp_f": _numbers(table, "TRACK_TEMP", source, lines),
        "humidity_pct": _numbers(table, "HUMIDITY", source, lines),
        "pressure_inhg": _numbers(table, "PRESSURE", source, lines),
        "wind_speed_mph": _numbers(table, "WIND_SPEED", source, lines),
        "wind_direction_deg": _numbers(table, "WIND_DIRECTION", source, lines),
        "rain": _rain(table),
    })
    return frame.dropna(subset=["time_utc"]).reset_index(drop=True)


def _rain(table) -> pd.Series:
    """RAIN as True / False, None where it is -1 (not measured), empty or not a number."""
    if "RAIN" not in table.column_names:
        return pd.Series([None] * table.num_rows, dtype="boolean")
    value = pd.to_numeric(pd.Series(table.column("RAIN").to_pylist(), dtype=object)
                          .astype(str).str.strip(), errors="coerce")
    return (value > 0).astype("boolean").mask(~(value >= 0))
