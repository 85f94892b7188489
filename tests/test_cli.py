"""The command line as a user runs it: ``python -m race …`` in a subprocess, DB in tmp."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from race.cli import COMMANDS, _load_optional_commands
from race.settings import DEFAULT_DB, resolve_db_path
from race.store import RaceStore
from tests.conftest import ROOT
from tests.lapfixture import lap_file

LAPS_COLUMNS = {"number", "lap_number", "lap_time_s", "elapsed_s", "driver_name", "class",
                "flag", "in_lap", "pit_time_s"}
CLASSIFICATION_FIELDS = ["number", "class", "position", "class_position", "laps",
                         "gap_to_leader", "interval", "class_gap", "class_interval",
                         "last_lap_s", "best_lap_s", "pit_stops", "driver", "status"]
RACE_ID = "imsa-2024-cli-race-race"


def run(*args: str, db: Path | None = None, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """``python -m race ARGS`` with ``RACE_DB`` set to ``db`` (when given)."""
    full_env = {k: v for k, v in os.environ.items() if k != "RACE_DB"}
    full_env["PYTHONPATH"] = str(ROOT)
    if db is not None:
        full_env["RACE_DB"] = str(db)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "race", *args], capture_output=True,
                          text=True, env=full_env, cwd=ROOT, timeout=120)


def assert_one_line_error(done: subprocess.CompletedProcess[str], status: int = 2) -> str:
    assert done.returncode == status, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def lap_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "imsa" / "2024" / "cli-race" / "laps.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(lap_file())
    return path


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, lap_path: Path,
             ) -> tuple[Path, list[dict]]:
    """A database with our race, imported through ``import --json`` (its output too)."""
    db = tmp_path_factory.mktemp("clidb") / "race.duckdb"
    done = run("import", str(lap_path), "--json", db=db)
    assert done.returncode == 0, done.stderr
    return db, json.loads(done.stdout)


def test_help_on_each_command() -> None:
    _load_optional_commands()
    top = run("--help")
    assert top.returncode == 0 and "usage: python -m race" in top.stdout
    for name in COMMANDS:
        done = run(name, "--help")
        assert done.returncode == 0, (name, done.stderr)
        assert done.stdout.startswith(f"usage: python -m race {name}"), name
        assert "--db" in done.stdout or name not in ("import", "races", "classification",
                                                     "export")


def test_import_json_output(imported: tuple[Path, list[dict]]) -> None:
    _, out = imported
    assert len(out) == 1
    assert set(out[0]) == {"race_id", "series", "event", "year", "laps", "cars", "classes"}
    assert out[0] == {"race_id": RACE_ID, "series": "IMSA", "event": "cli-race",
                      "year": 2024, "laps": 24, "cars": 3, "classes": ["GTD", "GTP"]}


def test_import_twice_and_overrides(imported: tuple[Path, list[dict]], lap_path: Path,
                                    tmp_path: Path) -> None:
    db = tmp_path / "other.duckdb"
    done = run("import", str(lap_path), "--series", "wec", "--event", "Test Event",
               "--year", "2030", "--json", db=db)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)[0]
    assert (out["series"], out["event"], out["year"]) == ("WEC", "Test Event", 2030)
    again = run("import", str(lap_path), "--series", "wec", "--event", "Test Event",
                "--year", "2030", db=db)
    assert again.returncode == 0 and "unchanged" in again.stdout


def test_races_json(imported: tuple[Path, list[dict]]) -> None:
    db, _ = imported
    done = run("races", "--json", db=db)
    assert done.returncode == 0, done.stderr
    races = json.loads(done.stdout)
    assert [r["race_id"] for r in races] == [RACE_ID]
    race = races[0]
    assert {"series", "season", "event", "laps", "cars", "classes", "has_flags"} <= set(race)
    assert race["laps"] == 24 and race["has_flags"] is True


@pytest.mark.parametrize("at", [None, "0", "400", "700.5"])
def test_classification_json(imported: tuple[Path, list[dict]], at: str | None) -> None:
    db, _ = imported
    args = ["classification", "--race", RACE_ID, "--json"] + (["--at", at] if at else [])
    done = run(*args, db=db)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 3
    for row in rows:
        assert list(row) == CLASSIFICATION_FIELDS
        assert isinstance(row["number"], str)
    assert [r["position"] for r in rows] == [1, 2, 3]
    if at is None:
        assert [r["number"] for r in rows] == ["01", "7", "23"]
        assert rows[0]["gap_to_leader"] == 0.0
        assert rows[1]["pit_stops"] == 1
        assert all(r["status"] == "finished" for r in rows)
        assert rows[2]["class_position"] == 1 and rows[2]["class_gap"] == 0.0
    if at == "0":
        assert all(r["laps"] == 0 for r in rows)


@pytest.mark.parametrize("args, needle", [
    (["classification", "--race", "no-such-race"], "no race 'no-such-race'"),
    (["classification", "--race", RACE_ID, "--at", "-5"], "--at must be"),
    (["export", "--race", "nope", "--table", "laps", "--format", "csv", "--out", "x.csv"],
     "no race 'nope'"),
])
def test_bad_arguments_one_line_error(imported: tuple[Path, list[dict]], args: list[str],
                                      needle: str) -> None:
    db, _ = imported
    assert needle in assert_one_line_error(run(*args, db=db))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("table", ["laps", "stints", "pit_stops", "flags"])
def test_export(imported: tuple[Path, list[dict]], tmp_path: Path, table: str,
                fmt: str) -> None:
    db, _ = imported
    out = tmp_path / "out" / f"{table}.{fmt}"
    done = run("export", "--race", RACE_ID, "--table", table, "--format", fmt,
               "--out", str(out), db=db)
    assert done.returncode == 0, done.stderr
    expected_rows = {"laps": 24, "stints": 4, "pit_stops": 1, "flags": 1}[table]
    assert f"wrote {expected_rows} rows" in done.stdout
    if fmt == "csv":
        frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    else:
        schema = pq.read_schema(out)
        if "number" in schema.names:
            assert str(schema.field("number").type) in ("string", "large_string")
        frame = pq.read_table(out).to_pandas()
    assert len(frame) == expected_rows
    if table != "flags":  # car numbers stay text ("01" is not 1)
        assert "7" in set(frame["number"]) and set(frame["number"]) <= {"01", "7", "23"}
    if table == "laps":
        assert set(frame.columns) >= LAPS_COLUMNS
        assert set(frame["number"]) == {"01", "7", "23"}  # "01" stays text


def test_db_precedence(lap_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_db, flag_db = tmp_path / "env.duckdb", tmp_path / "flag.duckdb"
    # RACE_DB when no --db ...
    assert run("import", str(lap_path), db=env_db).returncode == 0
    assert env_db.exists() and not flag_db.exists()
    # ... and --db wins over RACE_DB.
    assert run("import", str(lap_path), "--db", str(flag_db), db=env_db).returncode == 0
    assert flag_db.exists()
    listed = json.loads(run("races", "--json", "--db", str(flag_db), db=tmp_path / "x").stdout)
    assert [r["race_id"] for r in listed] == [RACE_ID]
    # The default, without either (checked in-process: never touch the project's own DB).
    monkeypatch.delenv("RACE_DB", raising=False)
    assert resolve_db_path(None) == DEFAULT_DB == ROOT / "data" / "race.duckdb"
    monkeypatch.setenv("RACE_DB", str(env_db))
    assert resolve_db_path(None) == env_db
    assert resolve_db_path(str(flag_db)) == flag_db


def test_missing_database_for_reading(tmp_path: Path) -> None:
    line = assert_one_line_error(run("races", db=tmp_path / "none.duckdb"))
    assert "no database at" in line


def test_second_process_gets_one_line_error(imported: tuple[Path, list[dict]],
                                            lap_path: Path, tmp_path: Path) -> None:
    """Another process holds the database: a one-line error naming it, no traceback."""
    db = tmp_path / "held.duckdb"
    db.write_bytes(imported[0].read_bytes())
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from race.store import RaceStore; "
         f"s = RaceStore({str(db)!r}); print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "ready"
        for args in (["import", str(lap_path)], ["races"],
                     ["classification", "--race", RACE_ID]):
            line = assert_one_line_error(run(*args, "--db", str(db)))
            assert "in use by another program" in line, line
            assert str(holder.pid) in line or "another program" in line
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with RaceStore(db, read_only=True) as store:  # released: usable again
        assert RACE_ID in set(store.races()["race_id"])
