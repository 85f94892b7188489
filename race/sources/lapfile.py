"""Parser for the official lap file: WEC "Analysis" and IMSA "Time Cards" (DATA.md §1).

Handles the three variants (A: WEC ≤ 2019, 25 columns; B: WEC 2024+, + FLAG_AT_FL and
S*_SECONDS; C: IMSA, + FLAG_AT_FL), ``;`` or ``,``, BOM or not, CRLF or LF, quoted fields.
Pure: bytes in, DataFrame out. Errors name the file, line and column.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from race.errors import ParseError, ValidationError, shorten
from race.schema import (
    FLAG_CODES,
    INT_RANGES,
    LAP_SOURCE_COLUMNS,
    LAP_VALUE_RANGES,
    MAX_TEXT_CHARS,
    REQUIRED_LAP_HEADERS,
    TIME_OF_DAY_COLUMNS,
)
from race.sources.csvtext import read_text_table
from race.timefmt import MAX_TIME_MS, TimeFormatError, format_lap_time, parse_times_ms

_WORKERS = max(1, min(4, os.cpu_count() or 1))
_INT_PATTERN = r"^\s*\d+\s*$"
_FLOAT_PATTERN = r"^\s*\d+(\.\d+)?\s*$"
# |ELAPSED(n) − ELAPSED(n−1) − LAP_TIME(n)| allowed, ms: 0 in every real file.
ELAPSED_TOLERANCE_MS = 0


def _fail(source: str, lines: np.ndarray, positions: np.ndarray, field: str,
          value: object, expected: str) -> ParseError:
    return ParseError(f"{shorten(value)} is not {expected}", source=source,
                      line=int(lines[positions[0]]), field=field)


def _bounds(column: str, dtype: str) -> tuple[float, float, str]:
    """The accepted range of a numeric column: the real files' and DuckDB's."""
    low, high = INT_RANGES.get(dtype, (-np.inf, np.inf))
    if column in LAP_VALUE_RANGES:
        lo, hi, what = LAP_VALUE_RANGES[column]
        return max(lo, low), min(hi, high), what
    return low, high, "a number"


def _column_as(table: pa.Table, header: str, column: str, dtype: str, kind: str,
               source: str, lines: np.ndarray) -> np.ndarray | pa.Array:
    if kind == "time":  # the time parser trims by itself
        max_ms = 86_400_000 - 1 if column in TIME_OF_DAY_COLUMNS else MAX_TIME_MS
        try:
            ms = parse_times_ms(table.column(header).combine_chunks(), max_ms=max_ms)
        except TimeFormatError as exc:
            raise _fail(source, lines, exc.positions, header, exc.values[0],
                        exc.expected) from None
        return ms / 1000.0
    text = pc.utf8_trim_whitespace(table.column(header).combine_chunks())
    empty = pc.equal(text, "")
    if kind in ("int", "float"):
        ok = pc.or_(empty, pc.match_substring_regex(
            text, _INT_PATTERN if kind == "int" else _FLOAT_PATTERN))
        if not pc.all(ok).as_py():
            pos = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
            raise _fail(source, lines, pos, header, text[int(pos[0])].as_py(),
                        "a whole number" if kind == "int" else "a number")
        nulled = pc.if_else(empty, pa.scalar(None, pa.string()), text)
        values = pc.cast(nulled, pa.float64()).to_numpy(zero_copy_only=False)
        low, high, what = _bounds(column, dtype)
        outside = ~np.isnan(values) & ~((values >= low) & (values <= high))
        if outside.any():
            pos = np.flatnonzero(outside)
            raise _fail(source, lines, pos, header, text[int(pos[0])].as_py(),
                        f"{what} ({low:g} to {high:g})")
        return values
    too_long = pc.greater(pc.utf8_length(text), MAX_TEXT_CHARS)
    if pc.any(too_long).as_py():
        pos = np.flatnonzero(too_long.to_numpy(zero_copy_only=False))
        raise _fail(source, lines, pos, header, text[int(pos[0])].as_py(),
                    f"a name or code (at most {MAX_TEXT_CHARS} characters)")
    if kind == "flag":
        ok = pc.is_in(text, pa.array(["", "B"]))
        if not pc.all(ok).as_py():
            pos = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
            raise _fail(source, lines, pos, header, text[int(pos[0])].as_py(), "'B' or empty")
        return pc.equal(text, "B").to_numpy(zero_copy_only=False)
    # Text: an object array, None where the field is empty.
    return pc.if_else(empty, pa.scalar(None, pa.string()), text).to_numpy(
        zero_copy_only=False)


def _kind(column: str, dtype: str) -> str:
    if column == "crossing_in_pit":
        return "flag"
    if dtype == "DOUBLE":
        return "time" if column.endswith("_s") else "float"
    return "int" if dtype in ("INTEGER", "SMALLINT") else "text"


def parse_lap_file(data: bytes, source: str = "<laps>") -> pd.DataFrame:
    """Parse an official lap file into one row per car per lap.

    Args:
        data: the file's bytes.
        source: file name for error messages.

    Returns:
        DataFrame with the stored lap columns of ``race.schema.LAPS`` (source part: times in
        seconds, ``crossing_in_pit`` True for ``B``, ``flag`` None when unknown) plus
        ``source_line``, the 1-based line of each row in the file.

    Raises:
        ParseError: unreadable file, missing columns or a malformed value (line and column).
        ValidationError: the rows break an invariant of the format (see ``validate_laps``).
    """
    table, lines = read_text_table(data, source)
    missing = [h for h in REQUIRED_LAP_HEADERS if h not in table.column_names]
    if missing:
        raise ParseError(f"missing column(s) {', '.join(missing)}: not an official lap file "
                         "(Analysis / Time Cards)", source=source, line=1)
    if table.num_rows == 0:
        raise ParseError("the file has a header but no laps", source=source, line=2)
    # Columns convert independently and pyarrow's kernels release the GIL: use the cores.
    # Results are taken in declared order, so the first bad column is the one reported.
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        futures = {column: pool.submit(_column_as, table, header, column, dtype,
                                       _kind(column, dtype), source, lines)
                   for header, column, dtype in LAP_SOURCE_COLUMNS
                   if header in table.column_names}
        out: dict[str, object] = {}
        for _header, column, dtype in LAP_SOURCE_COLUMNS:
            if column in futures:
                out[column] = futures[column].result()
            else:
                out[column] = (np.full(table.num_rows, np.nan) if dtype == "DOUBLE"
                               else np.full(table.num_rows, None, dtype=object))
    # Text stays object dtype with None for empty fields (no string-dtype inference).
    frame = pd.DataFrame({k: pd.Series(v, dtype=object, copy=False) if v.dtype == object
                          else v for k, v in out.items()}, copy=False)
    frame["source_line"] = lines
    validate_laps(frame, source)
    for column in ("driver_number", "lap_number"):
        frame[column] = frame[column].astype("int64")
    for column in ("lap_improvement", "s1_improvement", "s2_improvement", "s3_improvement"):
        frame[column] = frame[column].fillna(0).astype("int64")
    return frame


def validate_laps(frame: pd.DataFrame, source: str) -> None:
    """Check the invariants every real lap file satisfies; raise on the first broken one.

    Raises:
        ValidationError: naming the line and column of the first offending row.
    """
    def first(mask: pd.Series | np.ndarray, field: str, message: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise ValidationError(message.format(row=frame.iloc[i]), source=source,
                                  line=int(frame["source_line"].iloc[i]), field=field)

    first(frame["number"].isna(), "NUMBER", "car number is empty")
    first(frame["lap_number"].isna(), "LAP_NUMBER", "lap number is empty")
    first(frame["lap_number"] < 1, "LAP_NUMBER", "lap number {row.lap_number:.0f} < 1")
    first(frame["driver_number"].isna(), "DRIVER_NUMBER", "driver number is empty")
    first(frame["elapsed_s"].isna(), "ELAPSED", "ELAPSED is empty")
    first(frame["class"].isna(), "CLASS", "CLASS is empty")
    flags = frame["flag"]
    first(flags.notna() & ~flags.isin(FLAG_CODES), "FLAG_AT_FL",
          "unknown flag {row.flag!r} (expected one of " + ", ".join(FLAG_CODES) + ")")
    dup = frame.duplicated(["number", "lap_number"], keep="first")
    first(dup, "LAP_NUMBER", "car {row.number} lap {row.lap_number:.0f} appears twice")
    # Rows come sorted by car then lap; within a car laps count up by one and ELAPSED grows.
    same_car = frame["number"].eq(frame["number"].shift())
    lap_step = frame["lap_number"].diff()
    first(same_car & (lap_step != 1), "LAP_NUMBER",
          "car {row.number}: lap {row.lap_number:.0f} does not follow the previous row's lap")
    first(same_car & (frame["elapsed_s"].diff() <= 0), "ELAPSED",
          "car {row.number} lap {row.lap_number:.0f}: ELAPSED does not increase")
    seen_before = frame["number"].duplicated() & ~same_car
    first(seen_before, "NUMBER", "car {row.number} rows are not contiguous")
    _check_lap_times(frame, same_car.to_numpy(), source)


def _check_lap_times(frame: pd.DataFrame, same_car: np.ndarray, source: str) -> None:
    """LAP_TIME(n) = ELAPSED(n) − ELAPSED(n−1), and ELAPSED = LAP_TIME on a car's first
    row: exactly, to the millisecond, in every real file (54 files, 300,000 laps, red-flag
    laps of up to 17.5 h included). A row that breaks it holds a corrupt time."""
    lap_ms = np.round(frame["lap_time_s"].to_numpy(dtype=float) * 1000.0)
    elapsed_ms = np.round(frame["elapsed_s"].to_numpy(dtype=float) * 1000.0)
    missing = np.isnan(lap_ms)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ValidationError("LAP_TIME is empty", source=source,
                              line=int(frame["source_line"].iloc[i]), field="LAP_TIME")
    previous = np.where(same_car, np.concatenate(([0.0], elapsed_ms[:-1])), 0.0)
    off = np.abs(elapsed_ms - previous - lap_ms) > ELAPSED_TOLERANCE_MS
    if off.any():
        i = int(np.flatnonzero(off)[0])
        lap, elapsed = format_lap_time(lap_ms[i] / 1000), format_lap_time(elapsed_ms[i] / 1000)
        if same_car[i]:
            before = format_lap_time(previous[i] / 1000)
            change = format_lap_time((elapsed_ms[i] - previous[i]) / 1000)
            message = (f"LAP_TIME {lap} is not the change of ELAPSED ({elapsed} − {before} "
                       f"= {change})")
        else:
            message = f"LAP_TIME {lap} is not ELAPSED {elapsed} on the car's first lap"
        raise ValidationError(message, source=source, line=int(frame["source_line"].iloc[i]),
                              field="LAP_TIME")
