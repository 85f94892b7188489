"""Malformed lap files: a clear error naming file/line/column, and the database untouched.

The corpus is derived here from our own small valid file (``tests/lapfixture.py``). Each bad
file replaces the content of an already imported race's file, so a partial write would show
in the dump of every race table; the ingest log gains exactly one ``error`` row (by design).
The same files go through the command line: exit status 2, one ``error:`` line, no traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from race.errors import ParseError, RaceDataError, StoreError
from race.importer import build_race_frames, import_lap_file
from race.schema import RACE_TABLES
from race.store import RaceStore
from tests.conftest import REALDATA, ROOT
from tests.lapfixture import COLUMNS, lap_file, render, rows

Maker = Callable[[], bytes]


def _edit(row: int, **values: str) -> bytes:
    table = rows()
    table[row].update(values)
    return render(table)


def _text_lines() -> list[str]:
    return lap_file(bom=False, newline="\n").decode("utf-8").split("\n")


def _truncated() -> bytes:
    return lap_file(bom=False, newline="\n")[:-60]  # cut inside the last row


def _drop_column(name: str) -> bytes:
    return render(rows(), columns=[c for c in COLUMNS if c != name])


def _swap_rows(a: int, b: int) -> bytes:
    table = rows()
    table[a], table[b] = table[b], table[a]
    return render(table)


def _duplicate_row(i: int) -> bytes:
    table = rows()
    return render([*table[: i + 1], table[i], *table[i + 1:]])


def _skip_row(i: int) -> bytes:
    table = rows()
    return render(table[:i] + table[i + 1:])


def _extra_field() -> bytes:
    lines = _text_lines()
    lines[3] = lines[3] + "surplus,"
    return "\n".join(lines).encode()


def _latin1() -> bytes:
    return lap_file(bom=False).decode("utf-8").replace("Ø", "O").encode("utf-8").replace(
        b"Ana ", b"Ana \xe9")


def _elapsed_decreasing() -> bytes:
    table = rows()
    table[4]["ELAPSED"] = table[2]["ELAPSED"]
    return render(table)


# name → (bytes maker, substrings the message must contain). "{path}" is the file's path.
CASES: dict[str, tuple[Maker, list[str]]] = {
    "truncated_mid_row": (_truncated, ["{path}", "line 25", "fields where the header has"]),
    "wrong_separator_tab": (lambda: lap_file(bom=False).replace(b",", b"\t"),
                            ["{path}", "line 1", "separated column names"]),
    "rows_with_other_separator": (
        lambda: b"\n".join([lap_file().split(b"\r\n")[0],
                            *lap_file().split(b"\r\n")[1:]]).replace(b"\n", b"\r\n")
        .replace(b",", b";").replace(b";", b",", 26),
        ["{path}", "line 2", "fields where the header has"]),
    "missing_lap_time_column": (lambda: _drop_column("LAP_TIME"),
                                ["{path}", "line 1", "missing column(s) LAP_TIME"]),
    "missing_several_columns": (lambda: render(rows(), columns=COLUMNS[:5]),
                                ["{path}", "line 1",
                                 "missing column(s) CROSSING_FINISH_LINE_IN_PIT, S1,"]),
    "garbage_lap_time": (lambda: _edit(3, LAP_TIME="1:3x.456"),
                         ["{path}", "line 5", "column LAP_TIME", "'1:3x.456'"]),
    "garbage_elapsed": (lambda: _edit(9, ELAPSED="soon"),
                        ["{path}", "line 11", "column ELAPSED", "'soon'"]),
    "garbage_pit_time": (lambda: _edit(12, PIT_TIME="-1:00"),
                         ["{path}", "line 14", "column PIT_TIME"]),
    "garbage_lap_number": (lambda: _edit(2, LAP_NUMBER="three"),
                           ["{path}", "line 4", "column LAP_NUMBER", "whole number"]),
    "garbage_kph": (lambda: _edit(6, KPH="fast"), ["{path}", "line 8", "column KPH"]),
    "garbage_driver_number": (lambda: _edit(1, DRIVER_NUMBER="1.5"),
                              ["{path}", "line 3", "column DRIVER_NUMBER"]),
    "garbage_in_pit_marker": (lambda: _edit(5, CROSSING_FINISH_LINE_IN_PIT="Y"),
                              ["{path}", "line 7", "column CROSSING_FINISH_LINE_IN_PIT"]),
    "binary_content": (lambda: bytes(range(256)) * 20, ["{path}", "binary content"]),
    "utf16_text": (lambda: lap_file(bom=False).decode("utf-8").encode("utf-16"),
                   ["{path}", "line 1", "UTF-16 text, not UTF-8"]),
    "empty_file": (lambda: b"", ["{path}", "the file is empty"]),
    "whitespace_only": (lambda: b" \r\n\r\n  \n", ["{path}", "the file is empty"]),
    "header_only": (lambda: lap_file().split(b"\r\n")[0] + b"\r\n",
                    ["{path}", "line 2", "header but no laps"]),
    "duplicated_lap": (lambda: _duplicate_row(3),
                       ["{path}", "line 6", "column LAP_NUMBER", "appears twice"]),
    "non_utf8_bytes": (_latin1, ["{path}", "line 2", "not UTF-8", "0xe9"]),
    "lap_numbers_not_contiguous": (lambda: _skip_row(3),
                                   ["{path}", "line 5", "column LAP_NUMBER", "does not follow"]),
    "lap_number_zero": (lambda: _edit(0, LAP_NUMBER="0"),
                        ["{path}", "line 2", "column LAP_NUMBER", "1 to 9999"]),
    "elapsed_decreasing": (_elapsed_decreasing,
                           ["{path}", "line 6", "column ELAPSED", "does not increase"]),
    "unknown_flag_code": (lambda: _edit(4, FLAG_AT_FL="PURPLE"),
                          ["{path}", "line 6", "column FLAG_AT_FL", "unknown flag 'PURPLE'"]),
    "empty_number": (lambda: _edit(10, NUMBER=""),
                     ["{path}", "line 12", "column NUMBER", "car number is empty"]),
    "empty_class": (lambda: _edit(17, CLASS=""), ["{path}", "line 19", "column CLASS"]),
    "empty_elapsed": (lambda: _edit(7, ELAPSED=""), ["{path}", "line 9", "column ELAPSED"]),
    "car_rows_not_contiguous": (lambda: _swap_rows(7, 8),
                                ["{path}", "line 10", "column NUMBER", "not contiguous"]),
    "extra_field_in_row": (_extra_field, ["{path}", "line 4", "fields where the header has"]),
    "duplicated_column_name": (
        lambda: lap_file().replace(b"KPH, ELAPSED", b"KPH, KPH", 1),
        ["{path}", "line 1", "duplicated column name(s) KPH"]),
    "html_page": (lambda: b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
                  b"<body><h1>Not Found</h1><p>a, b, c, d</p></body></html>\n",
                  ["{path}", "line 1", "HTML"]),
    "json_document": (lambda: json.dumps([{"NUMBER": "7", "LAP_NUMBER": 1}] * 3).encode(),
                      ["{path}", "line 1", "JSON"]),
    "unclosed_quote": (lambda: _edit(2, TEAM='"Alpha Racing, LLC'),
                       ["{path}", "line 4", "fields where the header has"]),
}


def dump(store: RaceStore) -> dict[str, list[tuple]]:
    """Every row of every race table, in a canonical order (the content, byte for byte)."""
    cur = store.cursor()
    out = {}
    for table in RACE_TABLES:
        cols = ", ".join(f'"{c}"' for c in table.names)
        out[table.name] = cur.execute(f"SELECT {cols} FROM {table.name} ORDER BY ALL").fetchall()
    return out


def error_rows(store: RaceStore) -> int:
    return int(store.cursor().execute(
        "SELECT count(*) FROM ingest_log WHERE status = 'error'").fetchone()[0])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A database holding our valid race (and a real one when ../shared/realdata exists).

    Returns the database path and the valid file's path (the bad files overwrite a copy).
    """
    root = tmp_path_factory.mktemp("bad")
    race_file = root / "imsa" / "2024" / "test-race" / "laps.csv"
    race_file.parent.mkdir(parents=True)
    race_file.write_bytes(lap_file())
    db = root / "seed.duckdb"
    with RaceStore(db) as store:
        import_lap_file(store, race_file)
        real = REALDATA / "imsa" / "2022" / "10-belle-isle-street-course" / "laps.csv"
        if real.exists():
            import_lap_file(store, real)
    return db, race_file


@pytest.fixture
def fresh(seeded: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the seeded database and of the valid race's folder."""
    db, race_file = seeded
    copy = tmp_path / "race.duckdb"
    copy.write_bytes(db.read_bytes())
    folder = tmp_path / "imsa" / "2024" / "test-race"
    folder.mkdir(parents=True)
    (folder / "laps.csv").write_bytes(race_file.read_bytes())
    return copy, folder / "laps.csv"


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_clear_error_and_db_untouched(case: str, fresh: tuple[Path, Path]) -> None:
    db, path = fresh
    maker, expected = CASES[case]
    path.write_bytes(maker())
    with RaceStore(db) as store:
        before, errors = dump(store), error_rows(store)
        with pytest.raises(RaceDataError) as info:
            import_lap_file(store, path)
        message = str(info.value)
        for part in expected:
            assert part.format(path=path) in message, message
        assert "\n" not in message
        assert dump(store) == before
        assert error_rows(store) == errors + 1


@pytest.mark.parametrize("case", ["folder", "missing"])
def test_path_that_is_not_a_file(case: str, fresh: tuple[Path, Path]) -> None:
    db, path = fresh
    target = path.parent if case == "folder" else path.parent / "nope.csv"
    with RaceStore(db) as store:
        before, errors = dump(store), error_rows(store)
        with pytest.raises(ParseError, match="is a folder" if case == "folder"
                           else "no such file") as info:
            import_lap_file(store, target)
        assert str(target) in str(info.value)
        assert dump(store) == before
        assert error_rows(store) == errors + 1


def _cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RACE_DB": str(db), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "race", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)


@pytest.mark.parametrize("case", ["truncated_mid_row", "binary_content", "json_document",
                                  "unknown_flag_code", "non_utf8_bytes", "empty_file"])
def test_cli_bad_file_exit_2_one_line(case: str, fresh: tuple[Path, Path]) -> None:
    db, path = fresh
    path.write_bytes(CASES[case][0]())
    with RaceStore(db) as store:
        before = dump(store)
    done = _cli("import", str(path), db=db)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr and str(path) in lines[0]
    with RaceStore(db) as store:
        assert dump(store) == before


def test_cli_nonexistent_and_folder_paths(fresh: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = fresh
    for target in (tmp_path / "missing.csv", tmp_path / "empty-folder"):
        if target.suffix == "":
            target.mkdir()
        done = _cli("import", str(target), db=db)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
        assert "Traceback" not in done.stderr


def test_same_file_twice_leaves_identical_tables(fresh: tuple[Path, Path]) -> None:
    db, path = fresh
    with RaceStore(db) as store:
        first = dump(store)
        result = import_lap_file(store, path)
        assert result.unchanged
        assert dump(store) == first
        # Even a forced re-derivation (the same file under a new name) is reproducible.
        twin = path.parent.parent / "test-race-twin" / "laps.csv"
        twin.parent.mkdir()
        twin.write_bytes(path.read_bytes())
        import_lap_file(store, twin)
        once = dump(store)
        store.delete_race(import_lap_file(store, twin).race_id)
        import_lap_file(store, twin)
        assert _without_import_times(dump(store)) == _without_import_times(once)


def _without_import_times(tables: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    from race.schema import RACES
    i = RACES.names.index("imported_at")
    out = dict(tables)
    out["races"] = [r[:i] + r[i + 1:] for r in tables["races"]]
    return out


@pytest.mark.parametrize("broken", ["laps", "stints", "flag_periods"])
def test_failure_during_write_leaves_db_untouched(broken: str, fresh: tuple[Path, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is valid but one table's insert fails mid-transaction (after the old rows
    were deleted and other tables written): everything rolls back."""
    db, path = fresh
    path.write_bytes(lap_file(laps=9))  # new content: the import really rewrites the race

    def bad_frames(laps: pd.DataFrame) -> dict[str, pd.DataFrame]:
        frames = build_race_frames(laps)
        frame = frames[broken].copy()
        # Not a key column: duplicate keys are refused before the transaction.
        column = {"laps": "speed_kph", "stints": "laps", "flag_periods": "start_s"}[broken]
        frame[column] = "not a number"
        frames[broken] = frame
        return frames

    monkeypatch.setattr("race.importer.build_race_frames", bad_frames)
    with RaceStore(db) as store:
        before, errors = dump(store), error_rows(store)
        with pytest.raises(StoreError, match="cannot store race"):
            import_lap_file(store, path)
        assert dump(store) == before
        assert error_rows(store) == errors + 1
    monkeypatch.undo()
    with RaceStore(db) as store:  # and the database still works afterwards
        assert import_lap_file(store, path).laps == 27
