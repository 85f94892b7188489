"""The only module that talks to DuckDB: schema, transactional race replacement, queries.

One read-write process per database file is DuckDB's rule; a second process gets a
``StoreError`` saying so, never a lock traceback. Within a process, share one ``RaceStore``;
every method takes its own cursor so threads (the scheduler, Streamlit sessions) can call it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from race.errors import NotFoundError, StoreError
from race.rows import Rows
from race.schema import (
    ALERTS,
    ALL_TABLES,
    CARS,
    DRIVERS,
    EVENTS,
    FLAG_PERIODS,
    INGEST_LOG,
    LAPS,
    LIVE_BACKFILL,
    LIVE_STATE,
    PIT_STOPS,
    PREDICTIONS,
    RACE_TABLES,
    RACES,
    STINTS,
    WEATHER,
    Table,
)

if TYPE_CHECKING:
    from race.live.race import StoreDelta

log = logging.getLogger(__name__)
TABLES = {t.name: t for t in ALL_TABLES}
EXPORTABLE = ("laps", "stints", "pit_stops", "flags")
# Columns a live delta may delete events by (with their kind): race.live.race.StoreDelta.
EVENT_DROP_COLUMNS = ("class", "number", "t_s")


SMALL_INSERT_ROWS = 16


def _cells(frame: pd.DataFrame | Rows, columns: list[str]) -> list[list[object]]:
    """Each column's cells as Python values, NaN/NA → None."""
    values = []
    for column in columns:
        cells = frame[column].tolist()
        values.append([None if v is None or v is pd.NA or v is pd.NaT
                       or (isinstance(v, float) and v != v) else v for v in cells])
    return values


def _params(frame: pd.DataFrame | Rows, columns: list[str], race_id: str | None = None,
            values: list[list[object]] | None = None) -> list[object]:
    """A frame's cells row by row as Python values (NaN/NA → NULL) for VALUES parameters,
    ``race_id`` first when given (``values``: the columns' cells, when already made)."""
    values = _cells(frame, columns) if values is None else values
    out: list[object] = []
    for row in zip(*values, strict=True):
        if race_id is not None:
            out.append(race_id)
        out.extend(row)
    return out


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class RaceStore:
    """A DuckDB database file holding every race, with the project's schema.

    Args:
        path: database file (created with its folder when missing), or ``:memory:``.
        read_only: open without write access (several readers may share a file).
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            # One DuckDB worker thread: this app's statements are small (a live poll writes
            # a few rows; a page reads one race), and for those the second thread costs more
            # to schedule than it gains: a poll cycle is about 1.5 ms faster, imports and
            # page reads no slower (benchmarks/live_poll.py, import_speed.py,
            # strategy_page.py). Queries from several Python threads still run side by side.
            self._con = duckdb.connect(self.path, read_only=read_only,
                                       config={"threads": 1})
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                holder = re.search(r"PID (\d+)", text)
                who = f" (process {holder.group(1)})" if holder else ""
                raise StoreError(
                    f"database {self.path} is in use by another program{who}: DuckDB allows "
                    "one writer per file. Stop the other process (the app or "
                    "'python -m race monitor'), or use another --db.") from None
            raise StoreError(f"cannot open database {self.path}: {text.splitlines()[0]}") \
                from None
        except duckdb.Error as exc:
            raise StoreError(f"cannot open database {self.path}: "
                             f"{str(exc).splitlines()[0]}") from None
        self._write_lock = threading.Lock()
        # One cursor for every write transaction, used under the write lock: making a
        # cursor costs about as much as a small statement, and a live poll is a few.
        self._writer: duckdb.DuckDBPyConnection | None = None
        # Writes made through this store (commits and rollbacks alike). DuckDB lets no other
        # process write the file while this one holds it, so a reader that saw the same count
        # sees the same data: data_version() is remembered per count (a viewer's 5-second
        # refresh asks it every time; the query is ~0.5 ms of a ~6 ms refresh).
        self._writes = 0
        self._known_version: tuple[int, int] | None = None
        if not read_only:
            self._create_schema()

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._con.close()

    def __enter__(self) -> RaceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create_schema(self) -> None:
        cur = self._con.cursor()
        for table in ALL_TABLES:
            cur.execute(table.ddl())
        cur.execute("CREATE SEQUENCE IF NOT EXISTS ingest_seq START 1")
        # A database made by an older version lacks the columns declared since (always
        # appended last, so positional inserts still line up): add them, NULL.
        present = set(cur.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main'"
            " AND database_name = current_database()").fetchall())
        for table in ALL_TABLES:
            for column, kind in table.columns:
                if (table.name, column) not in present:
                    cur.execute(f'ALTER TABLE {table.name} ADD COLUMN "{column}" {kind}')

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction: everything inside commits together or not at all."""
        with self._write_lock:
            if self._writer is None:
                self._writer = self._con.cursor()
            cur = self._writer
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                self._writes += 1
            cur.execute("COMMIT")
            self._writes += 1

    # -- writes --------------------------------------------------------------------------
    @staticmethod
    def _insert(cur: duckdb.DuckDBPyConnection, table: Table, frame: pd.DataFrame | Rows,
                verb: str = "INSERT", race_id: str | None = None) -> None:
        """Bulk insert rows (a DataFrame or ``Rows``), cast to the declared columns (missing
        ones are NULL).

        ``verb`` may be ``INSERT OR REPLACE`` / ``INSERT OR IGNORE`` (upserts by primary key);
        ``race_id``, when given, fills that column (the frame need not carry it).
        """
        if frame is None or frame.empty:
            return
        present = [c for c in table.names if c in frame.columns
                   and not (c == "race_id" and race_id is not None)]
        if len(frame) <= SMALL_INSERT_ROWS:
            # A few rows (a live poll): parameterised VALUES, no DataFrame conversion.
            # Columns that are NULL in every row are left out (NULL anyway): each
            # parameter costs binding time, and a live lap leaves many columns empty.
            cells = _cells(frame, present)
            kept = [i for i, column in enumerate(cells)
                    if any(v is not None for v in column)]
            present, cells = [present[i] for i in kept], [cells[i] for i in kept]
            named = (["race_id"] if race_id is not None else []) + present
            names = ", ".join(f'"{c}"' for c in named)
            row = "(" + ", ".join("?" * len(named)) + ")"
            cur.execute(f"{verb} INTO {table.name} ({names}) VALUES "
                        + ", ".join([row] * len(frame)),
                        _params(frame, present, race_id, cells))
            return
        if isinstance(frame, Rows):
            frame = frame.to_frame()
        if race_id is not None:
            frame = frame.assign(race_id=race_id)
        present = [c for c in table.names if c in frame.columns]
        select = ", ".join(f'"{c}"' if c in present else "NULL" for c in table.names)
        _race_rows_staged = frame[present]  # read by name by the query (replacement scan)
        cur.execute(f"{verb} INTO {table.name} SELECT {select} FROM _race_rows_staged")

    def replace_race(self, race_id: str, frames: dict[str, pd.DataFrame]) -> None:
        """Replace every row of ``race_id`` in the race tables with ``frames`` atomically.

        Args:
            race_id: the race's key.
            frames: table name → rows (without ``race_id``; it is added). Tables not named
                are emptied for this race.
        """
        try:
            with self.transaction() as cur:
                for table in reversed(RACE_TABLES):
                    cur.execute(f"DELETE FROM {table.name} WHERE race_id = ?", [race_id])
                for table in RACE_TABLES:
                    frame = frames.get(table.name)
                    if frame is not None and not frame.empty:
                        self._bulk_insert(cur, table, frame.assign(race_id=race_id))
        except duckdb.Error as exc:  # rolled back: the race's rows are as they were
            raise StoreError(f"cannot store race {race_id}: "
                             f"{str(exc).splitlines()[0]}") from None

    @staticmethod
    def _bulk_insert(cur: duckdb.DuckDBPyConnection, table: Table, frame: pd.DataFrame,
                     ) -> None:
        """Insert a whole frame in one statement, cast to the declared columns.

        DuckDB reads the local DataFrame by its name (a replacement scan): no view to
        register and drop, which costs more than the insert itself for small tables.
        """
        present = [c for c in table.names if c in frame.columns]
        select = ", ".join(f'"{c}"' if c in present else "NULL" for c in table.names)
        _race_frame_staged = frame  # read by name by the query below
        cur.execute(f"INSERT INTO {table.name} SELECT {select} FROM _race_frame_staged")

    def delete_race(self, race_id: str, message: str = "deleted") -> None:
        """Delete a race and everything stored for it; the ingest log records the deletion
        in the same transaction (so the data version moves: cached views drop the race)."""
        self.race(race_id)
        with self.transaction() as cur:
            for table in reversed(RACE_TABLES):
                cur.execute(f"DELETE FROM {table.name} WHERE race_id = ?", [race_id])
            self._log_row(cur, kind="delete", source=race_id, status="ok", race_id=race_id,
                          rows=0, message=message, started_at=None)

    def log_ingest(self, *, kind: str, source: str, status: str, race_id: str | None = None,
                   rows: int = 0, message: str = "", started_at: datetime | None = None) -> int:
        """Record one ingestion run (import, poll, replay) in the ingest log; returns its id."""
        with self._write_lock:
            try:
                return self._log_row(self._con.cursor(), kind=kind, source=source,
                                     status=status, race_id=race_id, rows=rows,
                                     message=message, started_at=started_at)
            finally:
                self._writes += 1

    @staticmethod
    def _log_row(cur: duckdb.DuckDBPyConnection, *, kind: str, source: str, status: str,
                 race_id: str | None, rows: int, message: str,
                 started_at: datetime | None) -> int:
        """Insert one ingest-log row with ``cur`` (inside the caller's transaction, if any)."""
        ingest_id = cur.execute(
            f"INSERT INTO {INGEST_LOG.name} VALUES (nextval('ingest_seq'), ?, ?, ?, ?, ?, ?, ?, "
            "?) RETURNING ingest_id",
            [started_at or _now(), _now(), kind, source, race_id, status, rows,
             message[:2000]]).fetchall()[0][0]
        return int(ingest_id)

    # -- reads ---------------------------------------------------------------------------
    @property
    def write_count(self) -> int:
        """How many writes this store has made: a key for reads that ``data_version`` does
        not cover (the model job replaces predictions and alerts without an ingest)."""
        return self._writes

    def data_version(self) -> int:
        """A number that changes whenever anything is ingested: the newest ingest id (imports,
        backfills, deletions, failed polls) combined with the live races' revisions (one
        per stored poll). It grows with every ingest id; within one, with every poll."""
        writes = self._writes  # read before the query: a write meanwhile asks again next time
        known = self._known_version
        if known is not None and known[0] == writes:
            return known[1]
        row = self._con.cursor().execute(
            f"SELECT (SELECT coalesce(max(ingest_id), 0) FROM {INGEST_LOG.name}), "
            "(SELECT coalesce(sum(revision), 0) FROM live_state)").fetchone()
        version = int(row[0]) * 2 ** 32 + int(row[1]) % 2 ** 32
        self._known_version = (writes, version)
        return version

    def memory_mb(self) -> float:
        """Memory DuckDB holds for this database (buffers, indexes, transactions), in MB."""
        row = self._con.cursor().execute(
            "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()").fetchone()
        return int(row[0]) / 2 ** 20

    def races(self) -> pd.DataFrame:
        """All races, newest season first."""
        return self._con.cursor().execute(
            "SELECT * FROM races ORDER BY season DESC NULLS LAST, series, event").df()

    def has_race(self, race_id: str) -> bool:
        """True when ``race_id`` is stored."""
        return bool(self._con.cursor().execute(
            "SELECT 1 FROM races WHERE race_id = ?", [race_id]).fetchall())

    def race_source_sha256(self, race_id: str) -> str | None:
        """Content hash of the file a stored race was imported from (None: not stored)."""
        row = self._con.cursor().execute(
            "SELECT source_sha256 FROM races WHERE race_id = ?", [race_id]).fetchone()
        return None if row is None else row[0]

    def max_lap_number(self, race_id: str) -> int:
        """The highest lap number stored for a race (the leader's laps; 0 when none)."""
        row = self._con.cursor().execute(
            "SELECT coalesce(max(lap_number), 0) FROM laps WHERE race_id = ?",
            [race_id]).fetchone()
        return int(row[0])

    def race(self, race_id: str) -> dict:
        """One race's row as a dict. Raises NotFoundError naming the known ids."""
        frame = self._con.cursor().execute("SELECT * FROM races WHERE race_id = ?",
                                           [race_id]).df()
        if frame.empty:
            known = ", ".join(self.races()["race_id"].head(10)) or "none"
            raise NotFoundError(f"no race {race_id!r} in {self.path} (known: {known})")
        return frame.iloc[0].to_dict()

    def table(self, name: str, race_id: str, columns: list[str] | None = None, *,
              via_arrow: bool = False) -> pd.DataFrame:
        """Rows of one race table, in key order.

        Args:
            name: a table of ``race.schema`` (``flags`` is accepted for ``flag_periods``).
            race_id: the race.
            columns: subset of columns (default: all but ``race_id``).
            via_arrow: convert through Arrow: about twice as fast for long tables with text
                columns (laps); text comes as pandas strings even when all NULL, DATE
                columns as ``datetime.date`` objects.
        """
        name = "flag_periods" if name == "flags" else name
        table = TABLES.get(name)
        if table is None:
            raise NotFoundError(f"no table {name!r} (tables: {', '.join(TABLES)})")
        wanted = columns or [c for c in table.names if c != "race_id"]
        unknown = [c for c in wanted if c not in table.names]
        if unknown:
            raise NotFoundError(f"table {name} has no column(s) {', '.join(unknown)}")
        cols = ", ".join(f'"{c}"' for c in wanted)
        order = ", ".join(k for k in table.key if k != "race_id" and k in wanted)
        sql = f"SELECT {cols} FROM {name} WHERE race_id = ?" + (
            f" ORDER BY {order}" if order else "")
        cur = self._con.cursor()
        if via_arrow:
            return cur.sql(sql, params=[race_id]).to_arrow_table().to_pandas()
        return cur.execute(sql, [race_id]).df()

    def ingest_log(self, limit: int = 200) -> pd.DataFrame:
        """The newest ingestion runs first."""
        return self._con.cursor().execute(
            f"SELECT * FROM {INGEST_LOG.name} ORDER BY ingest_id DESC LIMIT ?", [limit]).df()

    def export(self, race_id: str, name: str, fmt: str, out: str | Path) -> int:
        """Write one race table to CSV or Parquet; returns the number of rows written."""
        if name not in EXPORTABLE:
            raise NotFoundError(f"cannot export {name!r} (choose {', '.join(EXPORTABLE)})")
        if fmt not in ("csv", "parquet"):
            raise NotFoundError(f"unknown format {fmt!r} (choose csv or parquet)")
        self.race(race_id)
        frame = self.table(name, race_id)
        if name == "laps":
            frame = frame.drop(columns=[c for c in frame.columns if c.endswith("_seconds_s")])
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            frame.to_csv(out, index=False)
        else:
            frame.to_parquet(out, index=False)
        return len(frame)

    # -- live ingestion (race.live) ------------------------------------------------------
    def create_live_race(self, race_id: str, race: dict, *, source: str, url: str,
                         flag_url: str | None = None) -> None:
        """Create the races row (unless the race exists) and its live_state row (unless
        present) for a race followed on a live feed; ``race`` holds ``races`` columns."""
        with self.transaction() as cur:
            if not cur.execute("SELECT 1 FROM races WHERE race_id = ?", [race_id]).fetchall():
                row = {**race, "race_id": race_id, "imported_at": _now()}
                self._insert(cur, RACES, pd.DataFrame([row]))
            if not cur.execute("SELECT 1 FROM live_state WHERE race_id = ?",
                               [race_id]).fetchall():
                cur.execute(
                    "INSERT INTO live_state (race_id, source, url, flag_url, revision, active, "
                    "polls_ok, polls_failed, updated_at) VALUES (?, ?, ?, ?, 0, true, 0, 0, ?)",
                    [race_id, source, url, flag_url, _now()])

    def live_state(self, race_id: str) -> dict | None:
        """The live_state row of a race as a dict (``tracker`` is JSON text), or None."""
        frame = self._con.cursor().execute(
            "SELECT * FROM live_state WHERE race_id = ?", [race_id]).df()
        return None if frame.empty else frame.iloc[0].to_dict()

    def live_states(self) -> pd.DataFrame:
        """Every race followed live, most recently polled first (without tracker JSON)."""
        cols = ", ".join(f'"{c}"' for c in LIVE_STATE.names if c != "tracker")
        return self._con.cursor().execute(
            f"SELECT {cols} FROM live_state ORDER BY updated_at DESC NULLS LAST").df()

    def set_live_active(self, race_id: str, active: bool) -> None:
        """Mark a live race as followed (True) or finished/stopped (False)."""
        with self.transaction() as cur:
            cur.execute("UPDATE live_state SET active = ?, updated_at = ? WHERE race_id = ?",
                        [active, _now(), race_id])

    def backfill_markers(self, race_id: str) -> pd.DataFrame:
        """Live laps waiting for the official file (number, lap_number, reason)."""
        return self.table("live_backfill", race_id, ["number", "lap_number", "reason"])

    @classmethod
    def _update(cls, cur: duckdb.DuckDBPyConnection, table: Table, frame: pd.DataFrame | Rows,
                race_id: str | None = None) -> None:
        """Update stored rows from a frame holding their key and new values (all columns
        of the frame that the table declares; the key is the table's primary key).
        ``race_id``, when given, is the key's race (the frame need not carry it)."""
        if frame is None or frame.empty:
            return
        if isinstance(frame, Rows) and len(frame) > SMALL_INSERT_ROWS:
            frame = frame.to_frame()
        if race_id is not None:
            frame = frame.assign(race_id=race_id) if len(frame) > SMALL_INSERT_ROWS else frame
        present = [c for c in table.names if c in frame.columns or (
            c == "race_id" and race_id is not None)]
        values = [c for c in present if c not in table.key]
        assignments = ", ".join(f'"{c}" = v."{c}"' for c in values)
        match = " AND ".join(f'{table.name}."{k}" = v."{k}"' for k in table.key)
        names = ", ".join(f'"{c}"' for c in present)
        if len(frame) <= SMALL_INSERT_ROWS:
            row = "(" + ", ".join("?" * len(present)) + ")"
            cells = [c for c in present if c != "race_id"] if race_id is not None else present
            cur.execute(f"UPDATE {table.name} SET {assignments} FROM (VALUES "
                        + ", ".join([row] * len(frame)) + f") v({names}) WHERE {match}",
                        _params(frame, cells, race_id))
            return
        _race_rows_changed = frame[present]  # read by name by the query (replacement scan)
        cur.execute(f"UPDATE {table.name} SET {assignments} FROM _race_rows_changed v "
                    f"WHERE {match}")

    @staticmethod
    def _revision_conflict(cur: duckdb.DuckDBPyConnection, race_id: str,
                           revision: int) -> LiveStateConflict:
        rows = cur.execute("SELECT revision FROM live_state WHERE race_id = ?",
                           [race_id]).fetchall()
        found = rows[0][0] if rows else None
        return LiveStateConflict(
            f"live race {race_id} changed since it was loaded (revision {found}, expected "
            f"{revision}): reload it")

    def apply_live_delta(self, delta: StoreDelta, *, revision: int, tracker: str,
                         status: str, message: str, source: str, clock_s: float | None,
                         flag: str | None, started_at: datetime | None = None,
                         problem: str | None = None, weather: dict | None = None) -> int:
        """Write one poll's changes (``race.live.race.StoreDelta``) in one transaction.

        New laps are inserted (the primary key refuses a lap stored twice), changed flags
        updated, touched stints/pit stops/cars replaced, periods replaced when they changed,
        the tracker state and the poll's status saved in live_state (its revision moves the
        data version; successful polls are not written to the ingest log).

        Args:
            revision: the live_state revision the caller loaded; another value means the
                race was rewritten meanwhile (backfill, import): ``LiveStateConflict``.
            tracker: the lap tracker's state as JSON text.
            problem: the feed's layout problem ("layout not understood: …") or None.
            weather: one ``weather`` row (columns of ``schema.WEATHER`` without race_id),
                replacing a reading with the same ``time_utc``.

        Returns:
            The new revision.
        """
        try:
            return self._apply_live_delta(delta, revision, tracker, status, message, source,
                                          clock_s, flag, started_at, problem, weather)
        except duckdb.Error as exc:
            raise StoreError(f"cannot store live laps of {delta.race_id}: "
                             f"{str(exc).splitlines()[0]}") from exc

    def _apply_live_delta(self, delta: StoreDelta, revision: int, tracker: str, status: str,
                          message: str, source: str, clock_s: float | None, flag: str | None,
                          started_at: datetime | None, problem: str | None = None,
                          weather: dict | None = None) -> int:
        race_id = delta.race_id
        with self.transaction() as cur:
            stamp = _now()
            # Bump the revision first: no row matched means someone rewrote the race.
            bumped = cur.execute(
                "UPDATE live_state SET revision = revision + 1, polls_ok = polls_ok + 1, "
                "last_poll_at = ?, last_status = ?, last_message = ?, clock_s = ?, flag = ?, "
                "tracker = ?, updated_at = ?, problem = ? WHERE race_id = ? AND revision = ?",
                [stamp, status, message[:2000], clock_s, flag, tracker, stamp,
                 problem[:2000] if problem else None, race_id, revision]).fetchall()
            if not bumped or not bumped[0][0]:
                raise self._revision_conflict(cur, race_id, revision)
            self._insert(cur, LAPS, delta.laps, race_id=race_id)
            self._update(cur, LAPS, delta.lap_flags, race_id=race_id)
            for table, frame in ((STINTS, delta.stints), (CARS, delta.cars)):
                self._update(cur, table, frame, race_id=race_id)
            for table, frame in ((STINTS, delta.new_stints), (CARS, delta.new_cars)):
                self._insert(cur, table, frame, race_id=race_id)
            self._insert(cur, PIT_STOPS, delta.new_pit_stops, race_id=race_id)
            self._insert(cur, PIT_STOPS, delta.pit_stops, "INSERT OR REPLACE", race_id)
            self._insert(cur, DRIVERS, delta.drivers, race_id=race_id)
            if not delta.markers.empty:
                self._insert(cur, LIVE_BACKFILL, delta.markers.with_column("created_at", stamp),
                             race_id=race_id)
            if delta.flag_periods is not None:
                cur.execute("DELETE FROM flag_periods WHERE race_id = ?", [race_id])
                self._insert(cur, FLAG_PERIODS, delta.flag_periods, race_id=race_id)
            elif delta.period_end is not None:
                cur.execute("UPDATE flag_periods SET end_s = ? WHERE race_id = ? AND "
                            "period_number = ?", [delta.period_end[1], race_id,
                                                  delta.period_end[0]])
            if weather:
                self._insert(cur, WEATHER, pd.DataFrame([weather]), "INSERT OR REPLACE",
                             race_id)
            for kind, column, value in delta.events_drop:
                if column is None:
                    cur.execute("DELETE FROM events WHERE race_id = ? AND kind = ?",
                                [race_id, kind])
                elif column in EVENT_DROP_COLUMNS:
                    cur.execute(f'DELETE FROM events WHERE race_id = ? AND kind = ? AND '
                                f'"{column}" = ?', [race_id, kind, value])
                else:
                    raise StoreError(f"cannot delete events by {column!r}")
            self._insert(cur, EVENTS, delta.events, race_id=race_id)
            if delta.race:
                cur.execute("UPDATE races SET laps = ?, cars = ?, classes = ? "
                            "WHERE race_id = ?", [delta.race["laps"], delta.race["cars"],
                                                  delta.race["classes"], race_id])
            # A successful poll is not logged in the ingest log: live_state holds the last
            # poll (time, status, message, counts) and its revision moves the data version.
            # One statement less per poll, and the log keeps imports, backfills and failures
            # instead of 8,640 'ok' rows a day.
        return revision + 1

    def record_poll_failure(self, race_id: str, *, status: str, message: str, source: str,
                            started_at: datetime | None = None,
                            problem: str | None = None) -> None:
        """Count a failed or skipped poll and log it (with the feed's layout problem, if
        any); stored laps are not touched."""
        with self.transaction() as cur:
            stamp = _now()
            cur.execute(
                "UPDATE live_state SET polls_failed = polls_failed + 1, last_poll_at = ?, "
                "last_status = ?, last_message = ?, updated_at = ?, problem = ? "
                "WHERE race_id = ?",
                [stamp, status, message[:2000], stamp, problem[:2000] if problem else None,
                 race_id])
            self._log_row(cur, kind="poll", source=source, status=status, race_id=race_id,
                          rows=0, message=message, started_at=started_at)


    # -- snapshots for read-only replicas (see ReplicaStore) ------------------------------
    def publish_snapshot(self, folder: str | Path) -> PublishedSnapshot:
        """Publish the stored races into ``folder`` as a consistent read-only snapshot.

        The finished races' file is reused while they hold what it holds (written once per
        change, not per poll); the live races, the ingest log and the live states are
        written every time. Each part is copied in one transaction (a poll committing
        meanwhile is in this snapshot or the next, never half in it), renamed into place,
        then ``CURRENT`` is replaced. Old files are left for ``race.publish`` to remove.

        Raises:
            StoreError: the folder cannot be written.
        """
        folder = Path(folder)
        started = time.perf_counter()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for _ in range(3):
                with self._read_transaction() as cur:
                    _, _, key = _snapshot_sets(cur)
                finished = folder / f"finished-{key}.duckdb"
                written = not finished.exists()
                if written:
                    tmp, _, _, key = self._snapshot_part(folder, live=False)
                    finished = folder / f"finished-{key}.duckdb"
                    os.replace(tmp, finished)
                tmp, version, live_ids, live_key = self._snapshot_part(folder, live=True)
                if live_key == key:  # the finished races did not change in between
                    break
                tmp.unlink()
            else:
                raise StoreError("the finished races kept changing while they were "
                                 "published: try again")
            live = folder / f"live-{version}-{uuid.uuid4().hex[:8]}.duckdb"
            os.replace(tmp, live)
            snapshot = Snapshot(version, live.name, finished.name, tuple(live_ids),
                                time.time())
            _write_pointer(folder, snapshot)
            return PublishedSnapshot(snapshot, live.stat().st_size,
                                     finished.stat().st_size, written,
                                     time.perf_counter() - started)
        except OSError as exc:
            raise StoreError(f"cannot publish a snapshot in {folder}: "
                             f"{exc.strerror or exc}") from None

    @contextmanager
    def _read_transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._con.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            yield cur
            cur.execute("COMMIT")
        finally:
            cur.close()

    def _snapshot_part(self, folder: Path, *, live: bool) -> tuple[Path, int, list[str], str]:
        """Copy the live part (or the finished part) into a new file ``folder/.tmp-*``.

        Returns:
            (the file, the data version, the live race ids, the finished races' digest), all
            as of the one transaction that copied the rows.
        """
        tmp = folder / f".tmp-{uuid.uuid4().hex}.duckdb"
        alias = f"pw_snapshot_{uuid.uuid4().hex[:12]}"
        cur = self._con.cursor()
        try:
            cur.execute(f"ATTACH {_sql_text(str(tmp))} AS {alias} "
                        f"(BLOCK_SIZE {SNAPSHOT_BLOCK_BYTES})")
            try:
                cur.execute("BEGIN TRANSACTION")
                live_ids, finished_ids, key = _snapshot_sets(cur)
                version = _version_of(cur)
                ids = live_ids if live else finished_ids
                for table in _PER_RACE_TABLES:
                    cur.execute(f"CREATE TABLE {alias}.{table.name} AS SELECT * FROM "
                                f"main.{table.name} WHERE list_contains(?, race_id)", [ids])
                if live:
                    # The tracker's JSON is the writer's own (to resume after a restart).
                    cur.execute(f"CREATE TABLE {alias}.live_state AS SELECT * REPLACE "
                                "(NULL::VARCHAR AS tracker) FROM main.live_state")
                    cur.execute(f"CREATE TABLE {alias}.ingest_log AS "
                                "SELECT * FROM main.ingest_log")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.execute(f"DETACH {alias}")  # checkpoints and closes the file
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
            if isinstance(exc, duckdb.Error):
                raise StoreError(f"cannot write a snapshot in {folder}: "
                                 f"{str(exc).splitlines()[0]}") from None
            raise
        finally:
            cur.close()
        return tmp, version, live_ids, key


    def events(self, race_id: str, *, kinds: tuple[str, ...] | None = None,
               until_s: float | None = None, classes: tuple[str, ...] | None = None,
               latest: int | None = None) -> pd.DataFrame:
        """Stored events of a race (``race.schema.EVENTS``, without ``race_id``) by race time.

        Args:
            kinds: these kinds only.
            until_s: the events up to this race time.
            classes: these classes only (events of no class, the flags, stay).
            latest: the last ``latest`` events only (the Live page's few).
        """
        sql = "SELECT t_s, kind, number, class, lap, text FROM events WHERE race_id = ?"
        params: list[object] = [race_id]
        if kinds is not None:
            sql += " AND list_contains(?, kind)"
            params.append(list(kinds))
        if until_s is not None:
            sql += " AND t_s <= ?"
            params.append(until_s)
        if classes:
            sql += " AND (class IS NULL OR list_contains(?, class))"
            params.append(list(classes))
        if latest is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY t_s DESC LIMIT ?) ORDER BY t_s"
            params.append(int(latest))
        return self._con.cursor().execute(sql + (" ORDER BY t_s, kind, number, lap"
                                                 if latest is None else ""), params).df()

    # -- model outputs: next-lap predictions and incident alerts -------------------------
    def replace_model_outputs(self, race_id: str, predictions: pd.DataFrame | None = None,
                              alerts: pd.DataFrame | None = None) -> None:
        """Replace a race's stored predictions and/or alerts in one transaction.

        Args:
            race_id: the race.
            predictions: rows of ``race.schema.PREDICTIONS`` (None leaves them as they are).
            alerts: rows of ``race.schema.ALERTS`` (None leaves them as they are).
        """
        with self.transaction() as cur:
            stamp = _now()
            for table, frame in ((PREDICTIONS, predictions), (ALERTS, alerts)):
                if frame is None:
                    continue
                cur.execute(f"DELETE FROM {table.name} WHERE race_id = ?", [race_id])
                if not frame.empty:
                    self._bulk_insert(cur, table, frame.assign(race_id=race_id,
                                                               updated_at=stamp))

    def predictions(self, race_id: str, number: str | None = None) -> pd.DataFrame:
        """Stored next-lap predictions of a race (one car when ``number`` is given)."""
        sql = "SELECT * EXCLUDE (race_id) FROM predictions WHERE race_id = ?"
        params: list[object] = [race_id]
        if number is not None:
            sql += " AND number = ?"
            params.append(number)
        return self._con.cursor().execute(sql + " ORDER BY number, lap_number", params).df()

    def alerts(self, race_id: str, *, since_s: float | None = None,
               include_labels: bool = False) -> pd.DataFrame:
        """Stored alerts of a race, newest first; ``neutralised`` labels only on request."""
        sql = "SELECT * EXCLUDE (race_id) FROM alerts WHERE race_id = ?"
        params: list[object] = [race_id]
        if since_s is not None:
            sql += " AND elapsed_s >= ?"
            params.append(since_s)
        if not include_labels:
            sql += " AND kind <> 'neutralised'"
        return self._con.cursor().execute(
            sql + " ORDER BY elapsed_s DESC, number", params).df()


class LiveStateConflict(StoreError):
    """A live race was rewritten (backfill, import) since the writer loaded it."""


# -- snapshots: one writer, many read-only replicas ------------------------------------------
# A publisher (``python -m race monitor --publish DIR``, race.publish) writes the stored races
# into DIR as two DuckDB files and a pointer naming them:
#   finished-<key>.duckdb  every race not followed live; <key> is a digest of what they hold,
#                          so the file is written once and only again when they change;
#   live-<version>-<id>.duckdb  the races followed live in full, the ingest log and the live
#                          states (without the tracker JSON): rewritten on every stored poll;
#   CURRENT                JSON naming both files and the data version they hold.
# Each file is written aside (.tmp-*) and renamed, then CURRENT is replaced by a rename, so a
# reader sees the old snapshot or the new one, never half of one. Files stay in place after
# CURRENT stops naming them until the publisher's grace period ends (race.publish).
SNAPSHOT_POINTER = "CURRENT"
READ_ONLY_MESSAGE = ("this is a read-only replica: it shows the races another process "
                     "publishes ('python -m race monitor --publish DIR') and cannot change "
                     "them; import, delete and follow races on the publisher's machine")
# What the live part holds for every race (not per race): the log and the live states.
_GLOBAL_TABLES = (INGEST_LOG, LIVE_STATE)
# DuckDB's block size for snapshot files (its default, 256 KB, is the floor of every column
# segment: an empty snapshot took 0.5 MB, a 1 h race 3 MB); benchmarks/publish_snapshot.py.
SNAPSHOT_BLOCK_BYTES = 65536
_PER_RACE_TABLES = tuple(t for t in RACE_TABLES if t not in _GLOBAL_TABLES)


@dataclass(frozen=True)
class Snapshot:
    """What ``CURRENT`` names: the two files of one consistent snapshot.

    Attributes:
        version: the publisher's data version (``RaceStore.data_version``) they hold.
        live, finished: file names in the snapshot folder.
        live_races: ids of the races followed live (in the live file).
        published_unix: when the pointer was written (s since the epoch, UTC).
    """

    version: int
    live: str
    finished: str
    live_races: tuple[str, ...]
    published_unix: float

    def as_json(self) -> dict:
        return {**asdict(self), "live_races": list(self.live_races)}


@dataclass(frozen=True)
class PublishedSnapshot:
    """One ``publish_snapshot`` call: the snapshot, its sizes and how long it took."""

    snapshot: Snapshot
    live_bytes: int
    finished_bytes: int
    finished_written: bool
    seconds: float


def _sql_text(text: str) -> str:
    """A string literal for a statement that takes no parameters (ATTACH's path)."""
    return "'" + text.replace("'", "''") + "'"


def read_snapshot(folder: str | Path) -> Snapshot | None:
    """The snapshot ``folder/CURRENT`` names, or None when nothing was published yet.

    Raises:
        StoreError: the pointer cannot be read or is not one.
    """
    pointer = Path(folder) / SNAPSHOT_POINTER
    try:
        text = pointer.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {pointer}: {exc.strerror}") from None
    try:
        data = json.loads(text)
        return Snapshot(int(data["version"]), str(data["live"]), str(data["finished"]),
                        tuple(str(r) for r in data["live_races"]),
                        float(data["published_unix"]))
    except (ValueError, KeyError, TypeError):
        raise StoreError(f"{pointer} is not a snapshot pointer (JSON with version, live, "
                         "finished): is another program writing this folder?") from None


def _write_pointer(folder: Path, snapshot: Snapshot) -> None:
    tmp = folder / f".tmp-{uuid.uuid4().hex}-{SNAPSHOT_POINTER}"
    tmp.write_text(json.dumps(snapshot.as_json()), encoding="utf-8")
    os.replace(tmp, folder / SNAPSHOT_POINTER)


def _snapshot_sets(cur: duckdb.DuckDBPyConnection) -> tuple[list[str], list[str], str]:
    """(live race ids, finished race ids, digest of what the finished races hold).

    The digest moves when a finished race is imported again, backfilled or deleted (its
    newest ingest id, its lap and event counts), when its models' outputs are replaced
    (their count and newest ``updated_at``), and when a race stops being followed."""
    live = [r[0] for r in cur.execute(
        "SELECT race_id FROM live_state WHERE active ORDER BY race_id").fetchall()]
    rows = cur.execute(
        "SELECT r.race_id, r.imported_at, g.ingest_id, l.n, e.n, p.n, p.at, a.n, a.at "
        "FROM races r "
        "LEFT JOIN (SELECT race_id, max(ingest_id) AS ingest_id FROM ingest_log "
        "  GROUP BY race_id) g USING (race_id) "
        "LEFT JOIN (SELECT race_id, count(*) AS n FROM laps GROUP BY race_id) l "
        "  USING (race_id) "
        "LEFT JOIN (SELECT race_id, count(*) AS n FROM events GROUP BY race_id) e "
        "  USING (race_id) "
        "LEFT JOIN (SELECT race_id, count(*) AS n, max(updated_at) AS at FROM predictions "
        "  GROUP BY race_id) p USING (race_id) "
        "LEFT JOIN (SELECT race_id, count(*) AS n, max(updated_at) AS at FROM alerts "
        "  GROUP BY race_id) a USING (race_id) "
        "WHERE NOT list_contains(?, r.race_id) ORDER BY r.race_id", [live]).fetchall()
    digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
    return live, [r[0] for r in rows], digest


def _version_of(cur: duckdb.DuckDBPyConnection) -> int:
    row = cur.execute(
        f"SELECT (SELECT coalesce(max(ingest_id), 0) FROM {INGEST_LOG.name}), "
        "(SELECT coalesce(sum(revision), 0) FROM live_state)").fetchone()
    return int(row[0]) * 2 ** 32 + int(row[1]) % 2 ** 32


def _open_snapshot(folder: Path, snapshot: Snapshot) -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose views (one per table of the schema) read the two files
    of ``snapshot``: the finished races' rows and the live races' rows together."""
    con = duckdb.connect(":memory:", config={"threads": 1})
    try:
        con.execute(f"ATTACH {_sql_text(str(folder / snapshot.live))} AS live_part "
                    "(READ_ONLY)")
        con.execute(f"ATTACH {_sql_text(str(folder / snapshot.finished))} AS finished_part "
                    "(READ_ONLY)")
        for table in _GLOBAL_TABLES:
            con.execute(f"CREATE VIEW {table.name} AS SELECT * FROM live_part.{table.name}")
        for table in _PER_RACE_TABLES:
            # BY NAME: a finished file kept from an older schema lacks the newer columns.
            con.execute(f"CREATE VIEW {table.name} AS SELECT * FROM finished_part.{table.name}"
                        f" UNION ALL BY NAME SELECT * FROM live_part.{table.name}")
    except duckdb.Error as exc:
        con.close()
        raise StoreError(f"cannot open the snapshot {snapshot.live} + {snapshot.finished} in "
                         f"{folder}: {str(exc).splitlines()[0]}") from None
    return con


class ReplicaStore(RaceStore):
    """The newest snapshot of a folder a publisher writes, read-only (a replica's store).

    Every read method of ``RaceStore`` works; writes raise ``StoreError`` with
    ``READ_ONLY_MESSAGE``. ``data_version`` is the snapshot's, and the first call that finds
    a newer ``CURRENT`` (checked at most every ``check_every_s``) switches to it: reads
    already running finish on the snapshot they started on (a replaced snapshot stays open
    for ``KEEP_OPEN_S``, the last ``KEEP_OPEN`` of them at most).

    Args:
        folder: the publisher's snapshot folder.
        check_every_s: how often ``CURRENT`` is looked at (s).

    Raises:
        StoreError: the folder holds no snapshot yet, or its files cannot be opened.
    """

    # Replaced snapshots stay open this long for reads still running on them (a 24 h race's
    # laps load in well under a second), at most this many (a replay publishes every second).
    KEEP_OPEN_S = 30.0
    KEEP_OPEN = 16

    def __init__(self, folder: str | Path, *, check_every_s: float = 0.5) -> None:
        self.path = str(folder)
        self.folder = Path(folder)
        self.check_every_s = check_every_s
        self._write_lock = threading.Lock()
        self._writer = None
        self._swap_lock = threading.Lock()
        self._retired: deque[tuple[float, duckdb.DuckDBPyConnection]] = deque()
        self._writes, self._known_version = 0, None  # RaceStore.data_version's memo
        snapshot = read_snapshot(self.folder)
        if snapshot is None:
            raise StoreError(
                f"no snapshot in {self.folder} yet: start the publisher ('python -m race "
                f"monitor --publish {self.folder}'), wait for its first line, then reload")
        self._con = _open_snapshot(self.folder, snapshot)
        self.snapshot = snapshot
        self._checked = time.monotonic()

    def refresh(self) -> bool:
        """Switch to a newer snapshot if ``CURRENT`` names one; True when switched.

        A snapshot whose files cannot be opened (not all synced yet) is skipped: the current
        one stays, and the next check tries again."""
        now = time.monotonic()
        if now - self._checked < self.check_every_s:
            return False
        with self._swap_lock:
            if now - self._checked < self.check_every_s:
                return False
            self._checked = now
            try:
                found = read_snapshot(self.folder)
                if found is None or found == self.snapshot:
                    return False
                con = _open_snapshot(self.folder, found)
            except StoreError as exc:
                log.warning("replica keeps snapshot %s: %s", self.snapshot.version, exc)
                return False
            self._retired.append((now, self._con))
            self._con, self.snapshot = con, found
            self._known_version = None
            while self._retired and (len(self._retired) > self.KEEP_OPEN
                                     or now - self._retired[0][0] > self.KEEP_OPEN_S):
                self._retired.popleft()[1].close()
            return True

    def data_version(self) -> int:
        """The data version of the newest snapshot (switching to it when it is new)."""
        self.refresh()
        return self.snapshot.version

    @property
    def write_count(self) -> int:
        """A replica never writes: what it reads changes only with the snapshot (model
        outputs included, the publisher copies them)."""
        return self.snapshot.version

    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:  # type: ignore[override]
        raise StoreError(READ_ONLY_MESSAGE)

    def log_ingest(self, **_: object) -> int:  # type: ignore[override]
        raise StoreError(READ_ONLY_MESSAGE)

    def publish_snapshot(self, folder: str | Path) -> PublishedSnapshot:
        raise StoreError(READ_ONLY_MESSAGE)

    def close(self) -> None:
        with self._swap_lock:
            while self._retired:
                self._retired.popleft()[1].close()
            self._con.close()
