"""Backfill a live race from the official lap file: exact times replace what the feed missed.

The results portals publish the official lap file hour by hour during a race. Merging it
into a race followed live: for each car, the official rows replace the live rows of the laps
they cover; live rows after that stay (the file is behind the feed), and their ELAPSED is
re-chained from the official crossing where lap times allow (ELAPSED(n) = ELAPSED(n−1) +
LAP_TIME(n)), which turns estimated crossings exact again. The merged laps are derived by the
import's own code (``race.importer.build_race_frames``) and the race is replaced in one
transaction; markers of backfilled laps disappear, the live state survives with a new
revision so the live session reloads before its next write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from race.errors import RaceDataError
from race.importer import ImportResult, build_race_frames, import_lap_file
from race.live.tracker import ELAPSED_ESTIMATED
from race.schema import LAP_SOURCE_COLUMNS
from race.sources.lapfile import parse_lap_file
from race.store import RaceStore

log = logging.getLogger(__name__)

SOURCE_COLUMNS = [c for _, c, _ in LAP_SOURCE_COLUMNS]
KEPT_TABLES = ("classification", "weather")


@dataclass
class BackfillResult:
    """What a backfill did.

    Attributes:
        status: ``backfilled`` (merged into a live race) or ``imported`` (no live laps: an
            ordinary official import).
        filled: live laps replaced by official rows.
        remaining: backfill markers still open (laps after the file's coverage).
    """

    race_id: str
    status: str
    laps: int
    filled: int
    remaining: int
    source: str

    def as_json(self) -> dict:
        return {"race_id": self.race_id, "status": self.status, "laps": self.laps,
                "filled": self.filled, "remaining": self.remaining, "source": self.source}


def merge_official(official: pd.DataFrame, live: pd.DataFrame,
                   markers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Official laps plus the live laps they do not cover (lap columns of the file).

    Args:
        official: parsed official lap file.
        live: stored laps of the live race.
        markers: its open backfill markers (number, lap_number, reason).

    Returns:
        (merged laps sorted by car and lap, markers still open, live laps replaced)
    """
    cover = official.groupby("number")["lap_number"].max()
    covered = live["lap_number"].to_numpy() <= live["number"].map(cover).fillna(0).to_numpy()
    rest = live.loc[~covered, SOURCE_COLUMNS].copy()
    # The file knows each car's class and team as the series writes them.
    last = official.sort_values("lap_number").groupby("number").tail(1).set_index("number")
    for column in ("class", "team", "manufacturer", "group_code"):
        known = rest["number"].map(last[column])
        rest[column] = known.where(known.notna(), rest[column])
    names = official.dropna(subset=["driver_name"]).drop_duplicates(["number", "driver_name"])
    by_name = {(n, str(d).lower()): int(k) for n, d, k in zip(
        names["number"], names["driver_name"], names["driver_number"], strict=True)}
    rest["driver_number"] = [by_name.get((n, str(d).lower()), k) for n, d, k in zip(
        rest["number"], rest["driver_name"], rest["driver_number"], strict=True)]
    estimated = set(zip(markers.loc[markers["reason"].eq(ELAPSED_ESTIMATED), "number"],
                        markers.loc[markers["reason"].eq(ELAPSED_ESTIMATED), "lap_number"]
                        .astype(int), strict=True))
    resolved: set[tuple[str, int]] = set()
    last_elapsed = official.groupby("number")["elapsed_s"].max()
    rest = rest.sort_values(["number", "lap_number"], kind="stable")
    elapsed = rest["elapsed_s"].to_numpy(dtype=float).copy()
    lap_time = rest["lap_time_s"].to_numpy(dtype=float)
    numbers = rest["number"].to_numpy()
    laps = rest["lap_number"].to_numpy()
    previous_car, chain = None, None
    for i in range(len(rest)):
        if numbers[i] != previous_car:
            previous_car = numbers[i]
            start = last_elapsed.get(numbers[i])
            chain = None if start is None or pd.isna(start) else round(float(start) * 1000)
            if chain is not None and laps[i] != cover.get(numbers[i], 0) + 1:
                chain = None
        if chain is not None and not np.isnan(lap_time[i]):
            chain += round(lap_time[i] * 1000)
            elapsed[i] = chain / 1000.0
            if (numbers[i], int(laps[i])) in estimated:
                resolved.add((numbers[i], int(laps[i])))
        else:
            chain = None
    rest["elapsed_s"] = elapsed
    merged = pd.concat([official[SOURCE_COLUMNS], rest], ignore_index=True)
    merged = merged.sort_values(["number", "lap_number"], kind="stable").reset_index(drop=True)
    merged["driver_number"] = merged["driver_number"].fillna(1).astype("int64")
    rest_keys = set(zip(rest["number"], rest["lap_number"].astype(int), strict=True))
    still = markers[[(n, int(k)) in rest_keys for n, k in zip(
        markers["number"], markers["lap_number"], strict=True)]]
    still = still[~(still["reason"].eq(ELAPSED_ESTIMATED) & pd.Series(
        [(n, int(k)) in resolved for n, k in zip(still["number"], still["lap_number"],
                                                   strict=True)], index=still.index,
        dtype=bool))]
    return merged, still.reset_index(drop=True), int(covered.sum())


def backfill_race(store: RaceStore, race_id: str | None, data: bytes, name: str, *,
                  series: str | None = None, event: str | None = None,
                  year: int | None = None) -> BackfillResult:
    """Bring an official lap file (bytes) into the store.

    Into a race followed live (``race_id`` with live laps): merged as described above.
    Otherwise: an ordinary official import through ``race.importer.import_lap_file``.

    Raises:
        RaceDataError: the file does not parse; nothing is written but the ingest log.
    """
    started = datetime.now(UTC).replace(tzinfo=None)
    live_state = store.live_state(race_id) if race_id else None
    if live_state is None:
        result: ImportResult = import_lap_file(store, Path(name), series=series, event=event,
                                               year=year, data=data)
        return BackfillResult(result.race_id, "imported", result.laps, 0, 0, name)
    try:
        official = parse_lap_file(data, name)
    except RaceDataError as exc:
        store.log_ingest(kind="backfill", source=name, status="error", race_id=race_id,
                         message=str(exc), started_at=started)
        raise
    assert race_id is not None
    live = store.table("laps", race_id)
    markers = store.backfill_markers(race_id)
    merged, still, filled = merge_official(official, live, markers)
    frames = build_race_frames(merged)
    race = store.race(race_id)
    derived = frames["laps"]
    classes = sorted(derived["class"].dropna().unique().tolist())
    source = str(race.get("source") or "")
    if "official" not in source:
        source = f"{source} + official file".strip(" +")
    frames["races"] = pd.DataFrame([{**race, "laps": len(derived),
                                     "cars": derived["number"].nunique(),
                                     "classes": ",".join(classes), "has_flags": True,
                                     "source": source}]).drop(columns=["race_id"])
    for table in KEPT_TABLES:
        frames[table] = store.table(table, race_id)
    state = dict(live_state)
    state["revision"] = int(state.get("revision") or 0) + 1
    state["updated_at"] = datetime.now(UTC).replace(tzinfo=None)
    frames["live_state"] = pd.DataFrame([state]).drop(columns=["race_id"])
    frames["live_backfill"] = still.assign(created_at=datetime.now(UTC).replace(tzinfo=None))
    store.replace_race(race_id, frames)
    message = (f"{filled} live laps replaced by {name}; {len(still)} marker(s) still open")
    store.log_ingest(kind="backfill", source=name, status="ok", race_id=race_id,
                     rows=len(derived), message=message, started_at=started)
    log.info("%s: %s", race_id, message)
    return BackfillResult(race_id, "backfilled", len(derived), filled, len(still), name)
