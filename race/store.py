"""The only module that talks to DuckDB: schema, transactional race replacement, queries.

One read-write process per database file is DuckDB's rule; a second process gets a
``StoreError`` saying so, never a lock traceback. Within a process, share one ``RaceStore``;
every method takes its own cursor so threads (the scheduler, Streamlit sessions) can call it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from race.errors import NotFoundError, StoreError
from race.schema import ALL_TABLES, INGEST_LOG, RACE_TABLES, Table

log = logging.getLogger(__name__)
TABLES = {t.name: t for t in ALL_TABLES}
EXPORTABLE = ("laps", "stints", "pit_stops", "flags")


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
            self._con = duckdb.connect(self.path, read_only=read_only)
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
        if not read_only:
            self._create_schema()

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
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

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction: everything inside commits together or not at all."""
        with self._write_lock:
            cur = self._con.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    # -- writes --------------------------------------------------------------------------
    @staticmethod
    def _insert(cur: duckdb.DuckDBPyConnection, table: Table, frame: pd.DataFrame) -> None:
        """Bulk insert a DataFrame, cast to the declared columns (missing ones are NULL)."""
        if frame is None or frame.empty:
            return
        present = [c for c in table.names if c in frame.columns]
        cur.register("_staged", frame[present])
        select = ", ".join(f'"{c}"' if c in present else "NULL" for c in table.names)
        try:
            cur.execute(f"INSERT INTO {table.name} SELECT {select} FROM _staged")
        finally:
            cur.unregister("_staged")

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

        Inside a transaction only: when the insert fails the transaction rolls back and its
        cursor is dropped with the staged view, so the original error is the one raised.
        """
        present = [c for c in table.names if c in frame.columns]
        select = ", ".join(f'"{c}"' if c in present else "NULL" for c in table.names)
        cur.register("_staged", frame[present])
        cur.execute(f"INSERT INTO {table.name} SELECT {select} FROM _staged")
        cur.unregister("_staged")

    def delete_race(self, race_id: str) -> None:
        """Delete a race and everything stored for it."""
        self.race(race_id)
        with self.transaction() as cur:
            for table in reversed(RACE_TABLES):
                cur.execute(f"DELETE FROM {table.name} WHERE race_id = ?", [race_id])

    def log_ingest(self, *, kind: str, source: str, status: str, race_id: str | None = None,
                   rows: int = 0, message: str = "", started_at: datetime | None = None) -> int:
        """Record one ingestion run (import, poll, replay) in the ingest log; returns its id."""
        with self._write_lock:
            cur = self._con.cursor()
            ingest_id = cur.execute("SELECT nextval('ingest_seq')").fetchone()[0]
            cur.execute(
                f"INSERT INTO {INGEST_LOG.name} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [ingest_id, started_at or _now(), _now(), kind, source, race_id, status,
                 rows, message[:2000]])
        return int(ingest_id)

    # -- reads ---------------------------------------------------------------------------
    def data_version(self) -> int:
        """A number that changes whenever anything is ingested: the newest ingest id."""
        row = self._con.cursor().execute(
            f"SELECT coalesce(max(ingest_id), 0) FROM {INGEST_LOG.name}").fetchone()
        return int(row[0])

    def races(self) -> pd.DataFrame:
        """All races, newest season first."""
        return self._con.cursor().execute(
            "SELECT * FROM races ORDER BY season DESC NULLS LAST, series, event").df()

    def race(self, race_id: str) -> dict:
        """One race's row as a dict. Raises NotFoundError naming the known ids."""
        frame = self._con.cursor().execute("SELECT * FROM races WHERE race_id = ?",
                                           [race_id]).df()
        if frame.empty:
            known = ", ".join(self.races()["race_id"].head(10)) or "none"
            raise NotFoundError(f"no race {race_id!r} in {self.path} (known: {known})")
        return frame.iloc[0].to_dict()

    def table(self, name: str, race_id: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Rows of one race table, in key order.

        Args:
            name: a table of ``race.schema`` (``flags`` is accepted for ``flag_periods``).
            race_id: the race.
            columns: subset of columns (default: all but ``race_id``).
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
        return self._con.cursor().execute(sql, [race_id]).df()

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
