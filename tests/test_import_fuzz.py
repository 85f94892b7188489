"""Malformed and odd import files, generated from our own small race, through the CLI.

Three outcomes, and only three, for any file given to ``python -m race import``:

- a bad lap file: exit 2, exactly one ``error:`` line of at most 300 characters naming the
  file (and the line and column when the fault is in a row), the database unchanged;
- a bad ``results.csv`` or ``weather.csv`` beside a good lap file: a ``warning:`` line naming
  that file, the laps imported, nothing of the bad file stored;
- an odd but valid file (CRLF or LF, BOM or none, ``;`` or ``,``, extra or reordered columns,
  blank lines, quoting, a path with spaces, markup or SQL in a name): stored exactly as the
  plain file is.

Never a traceback, never "unexpected". Every file here is derived from ``tests/lapfixture.py``
(synthetic, written by us).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from race.cli import main
from race.schema import RACE_TABLES, RACES
from race.store import RaceStore
from tests.conftest import ROOT
from tests.lapfixture import (
    COLUMNS,
    RESULTS_COLUMNS,
    WEATHER_COLUMNS,
    lap_file,
    render,
    render_table,
    results_file,
    results_rows,
    rows,
    weather_file,
    weather_rows,
)

MAX_ERROR_CHARS = 300
Maker = Callable[[], bytes]


# -- lap file variants ------------------------------------------------------------------------
def _edit(row: int, **values: str) -> bytes:
    table = rows()
    table[row].update(values)
    return render(table)


def _edit_car(number: str, **columns: Callable[[dict[str, str]], str]) -> bytes:
    table = rows()
    for r in table:
        if r["NUMBER"] == number:
            for name, make in columns.items():
                r[name] = make(r)
    return render(table)


def _lines(data: bytes | None = None) -> list[bytes]:
    return (data or lap_file(bom=False, newline="\n")).split(b"\n")


def _insert_lines(after: int, extra: list[bytes], data: bytes | None = None,
                  newline: bytes = b"\n") -> bytes:
    lines = _lines(data)
    return newline.join(lines[:after] + extra + lines[after:])


def _blank_lines_then_bad_value() -> bytes:
    # Three blank lines after line 4: the bad value on row 9 (line 10) is on line 13.
    return _insert_lines(4, [b"", b"", b""], _edit(8, KPH="fast").replace(b"\r\n", b"\n"))


def _crlf_blank_lines_then_bad_value() -> bytes:
    data = _edit(8, KPH="fast").split(b"\r\n")
    return b"\r\n".join([*data[:2], b"", b"  ", b"", *data[2:]])  # → line 13


def _multiline_quoted_then_bad_value() -> bytes:
    table = rows()
    table[1]["TEAM"] = "Alpha Racing,\nLLC"  # a quoted field spanning two lines (line 3-4)
    table[8]["KPH"] = "fast"  # row 9: line 10 + 1
    return render(table)


def _relap(number: str, first: int) -> bytes:
    return _edit_car(number, LAP_NUMBER=lambda r: str(int(r["LAP_NUMBER"]) - 1 + first))


def _shift_elapsed(row: int, ms: int) -> bytes:
    from tests.lapfixture import fmt
    table = rows()
    parts = [float(p) for p in table[row]["ELAPSED"].split(":")]
    value = round((parts[0] * 60 + parts[1]) * 1000) + ms
    table[row]["ELAPSED"] = fmt(value)
    return render(table)


def _header_twice() -> bytes:
    lines = _lines()
    return b"\n".join([*lines[:10], lines[0], *lines[10:]])


def _huge_field(size: int = 10 * 1024 * 1024) -> bytes:
    return _edit(5, TEAM="x" * size)


def _nul_in_field() -> bytes:
    return _edit(6, DRIVER_NAME="Cy\x00DOE")


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def _prose() -> bytes:
    return b"Dear team,\nplease find the lap times attached.\nRegards\n"


def _quote_never_closed() -> bytes:
    return _edit(20, TEAM='"Gamma GT')


def _missing_trailing_sep_one_row() -> bytes:
    lines = _lines()
    lines[6] = lines[6][:-1]
    return b"\n".join(lines)


def _long_duplicate_header() -> bytes:
    name = b"X" * 5000
    lines = _lines()
    lines[0] = lines[0] + name + b"," + name + b","
    return b"\n".join(lines)


def _stray_quote_blank_lines_then_bad() -> bytes:
    # A quote inside an unquoted field (read as a character) and blank lines: line 13 + 1.
    table = rows()
    table[0]["DRIVER_NAME"] = 'Ana "Speedy SØRENSEN'
    table[8]["KPH"] = "fast"
    return _insert_lines(4, [b"", b"", b"", b""], render(table).replace(b"\r\n", b"\n"))


def _separators_only_row() -> bytes:
    return _insert_lines(5, [b"," * 26])


def _row_with_10k_fields() -> bytes:
    lines = _lines()
    lines[3] = lines[3] + b"x," * 10_000
    return b"\n".join(lines)


def _gzip() -> bytes:
    import gzip
    return gzip.compress(lap_file())


# name → (bytes maker, substrings the one error line must contain besides the file's path)
LAP_BAD: dict[str, tuple[Maker, list[str]]] = {
    # times no real file holds
    "seconds_60_lap_time": (lambda: _edit(3, LAP_TIME="1:60.000"),
                            ["line 5", "column LAP_TIME", "1:60.000"]),
    "seconds_75_sector": (lambda: _edit(4, S2="0:75.120"), ["line 6", "column S2"]),
    "minutes_60_elapsed": (lambda: _edit(9, ELAPSED="1:60:00.000"),
                           ["line 11", "column ELAPSED"]),
    "minutes_75_no_hours": (lambda: _edit(2, LAP_TIME="75:01.000"),
                            ["line 4", "column LAP_TIME"]),
    "seconds_99_pit_time": (lambda: _edit(12, PIT_TIME="0:01:99.000"),
                            ["line 14", "column PIT_TIME"]),
    "hour_of_day_25h": (lambda: _edit(7, HOUR="25:00:00.000"), ["line 9", "column HOUR"]),
    "lap_time_infinite": (lambda: _edit(3, LAP_TIME="9" * 400), ["line 5", "column LAP_TIME"]),
    "lap_time_huge": (lambda: _edit(3, LAP_TIME="99999:00:00.000"),
                      ["line 5", "column LAP_TIME"]),
    "lap_time_vs_elapsed": (lambda: _edit(3, LAP_TIME="1:36.001"),
                            ["line 5", "column LAP_TIME", "ELAPSED"]),
    "lap_time_off_by_1ms": (lambda: _edit(5, LAP_TIME=rows()[5]["LAP_TIME"][:-1] + (
        "1" if rows()[5]["LAP_TIME"][-1] == "0" else "0")), ["line 7", "column LAP_TIME"]),
    "first_lap_vs_elapsed": (lambda: _edit(8, ELAPSED="1:59.000"),
                             ["line 10", "column"]),
    "elapsed_jump": (lambda: _shift_elapsed(4, 60_000), ["line 6"]),
    "lap_time_empty": (lambda: _edit(4, LAP_TIME=""), ["line 6", "column LAP_TIME"]),
    "lap_time_decimal_comma": (lambda: _edit(4, LAP_TIME="1:35,365"), ["line 6"]),
    "lap_time_negative": (lambda: _edit(4, LAP_TIME="-1:35.365"),
                          ["line 6", "column LAP_TIME"]),
    "kph_infinite": (lambda: _edit(6, KPH="9" * 400), ["line 8", "column KPH"]),
    "kph_nan": (lambda: _edit(6, KPH="nan"), ["line 8", "column KPH"]),
    "kph_exponent": (lambda: _edit(6, KPH="2e2"), ["line 8", "column KPH"]),
    "top_speed_absurd": (lambda: _edit(6, TOP_SPEED="5000.0"), ["line 8", "column TOP_SPEED"]),
    # integers out of their column's range
    "lap_numbers_beyond_int32": (lambda: _relap("23", 2**31),
                                 ["line 18", "column LAP_NUMBER"]),
    "lap_number_absurd": (lambda: _relap("7", 900_000), ["line 10", "column LAP_NUMBER"]),
    "driver_number_beyond_int32": (lambda: _edit(2, DRIVER_NUMBER=str(2**31)),
                                   ["line 4", "column DRIVER_NUMBER"]),
    "driver_number_zero": (lambda: _edit(2, DRIVER_NUMBER="0"),
                           ["line 4", "column DRIVER_NUMBER"]),
    "driver_number_99": (lambda: _edit_car("01", DRIVER_NUMBER=lambda r: "99"),
                         ["line 2", "column DRIVER_NUMBER"]),
    "lap_improvement_beyond_smallint": (lambda: _edit(3, LAP_IMPROVEMENT="40000"),
                                        ["line 5", "column LAP_IMPROVEMENT"]),
    "sector_improvement_20_digits": (lambda: _edit(3, S1_IMPROVEMENT="9" * 20),
                                     ["line 5", "column S1_IMPROVEMENT"]),
    "lap_number_negative": (lambda: _edit(0, LAP_NUMBER="-1"), ["line 2", "column LAP_NUMBER"]),
    "lap_number_arabic_digits": (lambda: _edit(1, LAP_NUMBER="\u0662"),
                                 ["line 3", "column LAP_NUMBER"]),
    # rows that break the file's structure
    "laps_out_of_order": (lambda: render([*rows()[:2], rows()[3], rows()[2], *rows()[4:]]),
                          ["line 4", "column LAP_NUMBER"]),
    "duplicate_car_lap": (lambda: render([*rows()[:5], rows()[4], *rows()[5:]]),
                          ["line 7", "column LAP_NUMBER"]),
    "number_empty": (lambda: _edit(0, NUMBER=""), ["line 2", "column NUMBER"]),
    "number_spaces_only": (lambda: _edit(9, NUMBER="   "), ["line 11", "column NUMBER"]),
    "flag_unknown_code": (lambda: _edit(2, FLAG_AT_FL="GREEN"), ["line 4", "column FLAG_AT_FL"]),
    "flag_lowercase": (lambda: _edit(2, FLAG_AT_FL="gf"), ["line 4", "column FLAG_AT_FL"]),
    "pit_time_garbage": (lambda: _edit(12, PIT_TIME="71 s"), ["line 14", "column PIT_TIME"]),
    "header_repeated_inside": (_header_twice, ["line 11"]),
    "row_without_trailing_sep": (_missing_trailing_sep_one_row, ["line 7", "fields"]),
    "quote_never_closed": (_quote_never_closed, ["line 22"]),
    # line numbers stay right
    "blank_lines_then_bad_value": (_blank_lines_then_bad_value, ["line 13", "column KPH"]),
    "crlf_blank_lines_then_bad": (_crlf_blank_lines_then_bad_value,
                                  ["line 13", "column KPH"]),
    "multiline_field_then_bad": (_multiline_quoted_then_bad_value, ["line 11", "column KPH"]),
    # long values are cut, not echoed whole
    "value_5000_chars": (lambda: _edit(3, LAP_TIME="7" * 2 + "x" * 5000),
                         ["line 5", "column LAP_TIME"]),
    "team_10_mb": (_huge_field, ["line 7", "column TEAM"]),
    "class_2000_chars": (lambda: _edit(3, CLASS="GTP" * 700), ["line 5", "column CLASS"]),
    "duplicate_header_5000_chars": (_long_duplicate_header, ["line 1"]),
    # not a lap file at all
    "nul_byte_in_field": (_nul_in_field, ["line 8"]),
    "latin1_encoded": (lambda: lap_file(bom=False).decode("utf-8").encode("latin-1"),
                       ["line 2", "UTF-8"]),
    "png_image": (_png, []),
    "prose_text": (_prose, ["line 1"]),
    "double_bom": (lambda: b"\xef\xbb\xbf" + lap_file(), ["line 1"]),
    "gzip_compressed": (_gzip, []),
    "header_lowercase": (lambda: lap_file().replace(b"LAP_TIME", b"lap_time", 1),
                         ["line 1", "LAP_TIME"]),
    "row_of_separators_only": (_separators_only_row, ["line 6", "column NUMBER"]),
    "row_with_10k_extra_fields": (_row_with_10k_fields, ["line 4", "fields"]),
    "stray_quote_blank_lines_then_bad": (_stray_quote_blank_lines_then_bad,
                                         ["line 14", "column KPH"]),
}


# -- results.csv and weather.csv variants beside a good lap file -------------------------------
def _results(edit: Callable[[list[dict[str, str]]], list[dict[str, str]]] | None = None,
             columns: list[str] | None = None, **kwargs: object) -> bytes:
    table = results_rows()
    return render_table(edit(table) if edit else table, columns or RESULTS_COLUMNS, **kwargs)


def _weather(edit: Callable[[list[dict[str, str]]], list[dict[str, str]]] | None = None,
             columns: list[str] | None = None, **kwargs: object) -> bytes:
    table = weather_rows()
    return render_table(edit(table) if edit else table, columns or WEATHER_COLUMNS, **kwargs)


def _set(i: int, **values: str) -> Callable[[list[dict[str, str]]], list[dict[str, str]]]:
    def edit(table: list[dict[str, str]]) -> list[dict[str, str]]:
        table[i].update(values)
        return table
    return edit


def _dup(i: int) -> Callable[[list[dict[str, str]]], list[dict[str, str]]]:
    return lambda table: [*table[: i + 1], dict(table[i]), *table[i + 1:]]


SIBLING_BAD: dict[str, tuple[str, Maker]] = {
    "results_duplicate_row": ("results", lambda: _results(_dup(1))),
    "results_duplicate_number": ("results", lambda: _results(_set(2, NUMBER="7"))),
    "results_duplicate_column": ("results", lambda: _results(
        columns=[*RESULTS_COLUMNS[:5], "NUMBER", *RESULTS_COLUMNS[5:]])),
    "results_fractional_position": ("results", lambda: _results(_set(1, POSITION="2.5"))),
    "results_position_inf": ("results", lambda: _results(_set(1, POSITION="inf"))),
    "results_position_beyond_int32": ("results", lambda: _results(_set(1, POSITION="9" * 12))),
    "results_laps_negative": ("results", lambda: _results(_set(0, LAPS="-8"))),
    "results_total_time_61_minutes": ("results",
                                      lambda: _results(_set(0, TOTAL_TIME="0:61:00.000"))),
    "results_total_time_huge": ("results", lambda: _results(_set(0, TOTAL_TIME="9" * 400))),
    "results_fastest_lap_garbage": ("results", lambda: _results(_set(2, FL_TIME="fast"))),
    "results_fl_lapnum_fraction": ("results", lambda: _results(_set(2, FL_LAPNUM="4.5"))),
    "results_empty": ("results", lambda: b""),
    "results_header_only": ("results", lambda: _results(lambda t: [])),
    "results_tab_separated": ("results", lambda: _results(sep="\t")),
    "results_binary": ("results", lambda: bytes(range(256)) * 40),
    "results_latin1": ("results", lambda: results_file(bom=False).decode().encode("latin-1")),
    "results_html_page": ("results", lambda: b"<html><body>502 Bad Gateway</body></html>"),
    "results_missing_number": ("results", lambda: _results(
        columns=[c for c in RESULTS_COLUMNS if c != "NUMBER"])),
    "results_row_too_long": ("results", lambda: _results(sep=",").replace(
        b"Classified,", b"Classified,extra,", 1)),
    "results_field_10_mb": ("results", lambda: _results(_set(0, TEAM="t" * (10 << 20)))),
    "results_licence_30k_chars": ("results",
                                  lambda: _results(_set(0, DRIVER1_LICENSE="P" * 30_000))),
    "weather_time_huge": ("weather", lambda: _weather(_set(3, TIME_UTC_SECONDS="9" * 20))),
    "weather_time_negative": ("weather", lambda: _weather(_set(3, TIME_UTC_SECONDS="-5"))),
    "weather_time_year_3000": ("weather",
                               lambda: _weather(_set(3, TIME_UTC_SECONDS="32503680000"))),
    "weather_air_temp_inf": ("weather", lambda: _weather(_set(2, AIR_TEMP="inf"))),
    "weather_air_temp_garbage": ("weather", lambda: _weather(_set(2, AIR_TEMP="warm"))),
    "weather_duplicate_time_other_values": ("weather", lambda: _weather(
        lambda t: [*t[:4], {**t[3], "AIR_TEMP": "99.9"}, *t[4:]])),
    "weather_duplicate_column": ("weather", lambda: _weather(
        columns=[*WEATHER_COLUMNS, "AIR_TEMP"])),
    "weather_header_only": ("weather", lambda: _weather(lambda t: [])),
    "weather_binary": ("weather", lambda: b"\x00\x01\x02" * 1000),
    "weather_semicolon_in_comma_file": ("weather", lambda: _weather().replace(b",", b";", 40)),
    "weather_time_exponent": ("weather", lambda: _weather(_set(0, TIME_UTC_SECONDS="1.7e9"))),
    "results_laps_exponent": ("results", lambda: _results(_set(0, LAPS="8e0"))),
}


# -- odd but valid: the same stored rows as the plain file -------------------------------------
def _quote_all(data: bytes, sep: bytes = b",") -> bytes:
    out = []
    for line in data.decode("utf-8-sig").split("\r\n"):
        if not line:
            out.append(line)
            continue
        fields = next(csv.reader([line], delimiter=sep.decode()))
        out.append(sep.decode().join(f'"{f}"' for f in fields[:-1]) + sep.decode())
    return "\r\n".join(out).encode()


def _reordered_columns() -> bytes:
    order = list(reversed(COLUMNS))
    return render(rows(), columns=order)


def _extra_columns() -> bytes:
    columns = [*COLUMNS[:5], "COMMENT", *COLUMNS[5:], "EXTRA_1", "EXTRA_2"]
    table = [{**r, "COMMENT": "nothing; to, see", "EXTRA_1": "1", "EXTRA_2": ""} for r in rows()]
    return render(table, columns=columns)


def _blank_and_space_lines() -> bytes:
    lines = _lines()
    return b"\n".join([lines[0], b"", *lines[1:5], b"   ", b"\t", *lines[5:], b"", b""])


def _no_trailing_sep() -> bytes:
    return b"\n".join(line[:-1] if line.endswith(b",") else line for line in _lines())


def _padded_values() -> bytes:
    return render([{k: f"  {v} " if v else v for k, v in r.items()} for r in rows()])


def _cr_only() -> bytes:
    return lap_file(bom=False, newline="\r")


# name → (lap bytes, results bytes, weather bytes, the team name the plain file has instead)
ODD: dict[str, tuple[Maker, Maker, Maker]] = {
    "lf_no_bom": (lambda: lap_file(bom=False, newline="\n"),
                  lambda: results_file(bom=False, newline="\n"),
                  lambda: weather_file(bom=False, newline="\n")),
    "semicolon": (lambda: lap_file(sep=";"), lambda: results_file(sep=";"),
                  lambda: weather_file(sep=";")),
    "semicolon_lf_no_bom": (lambda: lap_file(sep=";", bom=False, newline="\n"),
                            lambda: results_file(sep=";", bom=False, newline="\n"),
                            lambda: weather_file(sep=";", bom=False, newline="\n")),
    "extra_columns": (_extra_columns,
                      lambda: _results(columns=[*RESULTS_COLUMNS, "*Extra 9", "IMSA_CarId"]),
                      lambda: _weather(columns=["IGNORED", *WEATHER_COLUMNS])),
    "reordered_columns": (_reordered_columns,
                          lambda: _results(columns=list(reversed(RESULTS_COLUMNS))),
                          lambda: _weather(columns=list(reversed(WEATHER_COLUMNS)))),
    "blank_lines": (_blank_and_space_lines,
                    lambda: results_file().replace(b"\r\n", b"\r\n\r\n"),
                    lambda: weather_file().replace(b"\r\n", b"\r\n\r\n")),
    "every_field_quoted": (lambda: _quote_all(lap_file()), lambda: _quote_all(results_file()),
                           lambda: _quote_all(weather_file())),
    "no_trailing_separator": (_no_trailing_sep,
                              lambda: results_file().replace(b",\r\n", b"\r\n"),
                              lambda: weather_file().replace(b",\r\n", b"\r\n")),
    "padded_values": (_padded_values, results_file, weather_file),
    "cr_only_newlines": (_cr_only, lambda: results_file(newline="\r"),
                         lambda: weather_file(newline="\r")),
}
# Names the plain file must store verbatim, whatever they look like.
NAMES: dict[str, str] = {
    "html_team": "<script>alert('x')</script><b>Beta</b>",
    "sql_team": "Beta'); DROP TABLE laps; --",
    "unicode_team": "Équipe Ünïcødé 速い 🏁 Zoë",
    "quotes_team": 'Beta "The Rocket" Motorsport',
}


# -- harness ----------------------------------------------------------------------------------
def dump(db: Path, *, drop_source: bool = False) -> dict[str, list[tuple]]:
    """Every race table's rows in a canonical order; ``drop_source`` leaves out what names
    the file (path, checksum, import time) and the race id."""
    with RaceStore(db, read_only=True) as store:
        cur = store.cursor()
        out = {}
        for table in RACE_TABLES:
            names = [c for c in table.names if not drop_source or (
                c != "race_id" and not (table is RACES and c in (
                    "source_path", "source_sha256", "imported_at")))]
            cols = ", ".join(f'"{c}"' for c in names)
            out[table.name] = cur.execute(
                f"SELECT {cols} FROM {table.name} ORDER BY ALL").fetchall()
        return out


def run_import(capsys: pytest.CaptureFixture[str], db: Path, *args: str,
               ) -> tuple[int, list[str], list[str]]:
    code = main(["import", *args, "--db", str(db)])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def write_race(folder: Path, laps: bytes, results: bytes | None = None,
               weather: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "laps.csv").write_bytes(laps)
    if results is not None:
        (folder / "results.csv").write_bytes(results)
    if weather is not None:
        (folder / "weather.csv").write_bytes(weather)
    return folder / "laps.csv"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database holding our race imported from good laps, results and weather files."""
    root = tmp_path_factory.mktemp("fuzz")
    path = write_race(root / "imsa" / "2024" / "test-race", lap_file(), results_file(),
                      weather_file())
    db = root / "seed.duckdb"
    assert main(["import", str(path), "--db", str(db)]) == 0
    return db


def test_corpus_has_60_files_or_more() -> None:
    assert len(LAP_BAD) + len(SIBLING_BAD) + len(ODD) + len(NAMES) >= 60


@pytest.mark.parametrize("case", sorted(LAP_BAD))
def test_bad_lap_file_one_clear_error_db_unchanged(case: str, seeded: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "race.duckdb"
    db.write_bytes(seeded.read_bytes())
    maker, expected = LAP_BAD[case]
    # The bad file replaces the imported race's file: a partial write would show.
    path = write_race(tmp_path / "imsa" / "2024" / "test-race", maker(), results_file(),
                      weather_file())
    before = dump(db)
    code, _out, err = run_import(capsys, db, str(path))
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith("error: "), err
    line = err[0]
    assert len(line) <= MAX_ERROR_CHARS, (len(line), line[:400])
    assert "unexpected" not in line and "Traceback" not in line, line
    assert str(path) in line, line
    for part in expected:
        assert part in line, line
    assert dump(db) == before


@pytest.mark.parametrize("case", sorted(SIBLING_BAD))
def test_bad_results_or_weather_is_a_warning(case: str, seeded: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    kind, maker = SIBLING_BAD[case]
    files = {"results": results_file(), "weather": weather_file(), kind: maker()}
    path = write_race(tmp_path / "imsa" / "2024" / "test-race", lap_file(), files["results"],
                      files["weather"])
    db = tmp_path / "race.duckdb"
    code, out, err = run_import(capsys, db, str(path))
    assert code == 0 and not err, err
    warnings = [line for line in out if line.strip().startswith("warning:")]
    assert len(warnings) == 1, out
    bad = path.parent / f"{kind}.csv"
    assert str(bad) in warnings[0] and len(warnings[0]) <= MAX_ERROR_CHARS + 40, warnings
    assert "unexpected" not in warnings[0], warnings
    stored, reference = dump(db, drop_source=True), dump(seeded, drop_source=True)
    assert stored["laps"] == reference["laps"]
    skipped = {"results": ("classification",), "weather": ("weather",)}[kind]
    for table in skipped:
        assert stored[table] == [], table
    kept = "weather" if kind == "results" else "classification"
    assert stored[kept] == reference[kept]


@pytest.fixture(scope="module")
def plain_dumps(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str | None], dict]:
    """The stored rows of the plain files (optionally with one team renamed), once each."""
    cache: dict[str | None, dict] = {}

    def get(team: str | None) -> dict:
        if team not in cache:
            root = tmp_path_factory.mktemp("plain")
            path = write_race(root / "race", *_named(team))
            db = root / "plain.duckdb"
            assert main(["import", str(path), "--db", str(db), "--series", "IMSA",
                         "--event", "test-race", "--year", "2024"]) == 0
            cache[team] = dump(db, drop_source=True)
        return cache[team]
    return get


def _named(team: str | None, **kwargs: object) -> tuple[bytes, bytes, bytes]:
    laps, results = rows(), results_rows()
    if team is not None:
        for r in (*laps, *results):
            if r["NUMBER"] == "7":
                r["TEAM"] = team
    return (render(laps, **kwargs), render_table(results, RESULTS_COLUMNS, **kwargs),
            weather_file(**kwargs))


@pytest.mark.parametrize("case", sorted(ODD) + sorted(NAMES))
def test_odd_but_valid_files_import_as_the_plain_file(
        case: str, tmp_path: Path, plain_dumps: Callable[[str | None], dict],
        capsys: pytest.CaptureFixture[str]) -> None:
    if case in NAMES:  # the name in an odd layout too
        laps, results, weather = _named(NAMES[case], sep=";", bom=False, newline="\n")
    else:
        laps, results, weather = (make() for make in ODD[case])
    folder = tmp_path / "my race files" / "Test Race (copy)"
    path = write_race(folder, laps, results, weather)
    db = tmp_path / "odd.duckdb"
    code, out, err = run_import(capsys, db, str(path), "--series", "IMSA", "--event",
                                "test-race", "--year", "2024")
    assert code == 0 and not err, err
    assert not [line for line in out if "warning:" in line], out
    expected = plain_dumps(NAMES.get(case))
    assert dump(db, drop_source=True) == expected
    if case in NAMES:
        with RaceStore(db, read_only=True) as store:
            teams = store.cursor().execute(
                "SELECT DISTINCT team FROM cars WHERE number = '7'").fetchall()
        assert teams == [(NAMES[case],)]


@pytest.mark.parametrize("kind", ["folder", "pipe", "missing"])
def test_path_that_is_no_lap_file(kind: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "laps.csv"
    if kind == "folder":
        target.mkdir()
    elif kind == "pipe":  # reading it would block forever
        os.mkfifo(target)
    code, _out, err = run_import(capsys, tmp_path / "race.duckdb", str(target))
    assert code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    assert str(target) in err[0] and "unexpected" not in err[0]


def test_cli_subprocess_bad_files(seeded: Path, tmp_path: Path) -> None:
    """The real command, as a user runs it: exit 2, one short line on stderr, no traceback."""
    db = tmp_path / "race.duckdb"
    db.write_bytes(seeded.read_bytes())
    before = dump(db)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for case in ("lap_numbers_beyond_int32", "team_10_mb", "multiline_field_then_bad"):
        path = write_race(tmp_path / case / "imsa" / "2024" / "test-race", LAP_BAD[case][0]())
        done = subprocess.run([sys.executable, "-m", "race", "import", str(path), "--db",
                               str(db)], capture_output=True, text=True, env=env, cwd=ROOT,
                              timeout=120)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[:500]
        assert len(lines[0]) <= MAX_ERROR_CHARS and "Traceback" not in done.stderr
    assert dump(db) == before


# -- the Data page's upload: the same three outcomes ------------------------------------------
UPLOAD_NAME = "Test Race 2024 (upload).csv"


@pytest.mark.parametrize("case", sorted(LAP_BAD))
def test_upload_of_a_bad_lap_file_fails_alone(case: str, seeded: Path, tmp_path: Path) -> None:
    from race.present.views import import_files
    db = tmp_path / "race.duckdb"
    db.write_bytes(seeded.read_bytes())
    before = dump(db)
    with RaceStore(db) as store:
        bad, good = import_files(store, [(UPLOAD_NAME, LAP_BAD[case][0]()),
                                         ("other-race.csv", lap_file(bom=False))],
                                 series="IMSA", year=2024)
    assert not bad.ok and good.ok, (bad, good)
    assert UPLOAD_NAME in bad.message and len(bad.message) <= MAX_ERROR_CHARS, bad.message
    assert "\n" not in bad.message and "unexpected" not in bad.message
    for part in LAP_BAD[case][1]:
        assert part in bad.message, bad.message
    with RaceStore(db) as store:  # the good file was stored, and only it
        store.delete_race(good.race_id)
    assert dump(db) == before


@pytest.mark.parametrize("case", sorted(ODD))
def test_upload_of_an_odd_file_stores_the_plain_laps(case: str, tmp_path: Path) -> None:
    from race.present.views import import_files
    stored = []
    for name, data in ((UPLOAD_NAME, lap_file()), (UPLOAD_NAME, ODD[case][0]())):
        db = tmp_path / f"{len(stored)}.duckdb"
        with RaceStore(db) as store:
            (outcome,) = import_files(store, [(name, data)], series="IMSA", year=2024)
        assert outcome.ok and "warning" not in outcome.message, outcome
        stored.append(dump(db, drop_source=True))
    assert stored[0] == stored[1]
