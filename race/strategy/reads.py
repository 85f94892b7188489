"""Stored race → strategy engine inputs (the read side used by ``race.present.queries``)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from race.errors import RaceDataError
from race.store import RaceStore
from race.strategy.history import History, summarise_race
from race.strategy.live import StrategySnapshot, build_snapshot
from race.strategy.tracks import track_key

log = logging.getLogger(__name__)

STRATEGY_LAP_COLUMNS = [
    "number", "driver_number", "driver_name", "lap_number", "lap_time_s", "elapsed_s",
    "start_s", "pit_time_s", "crossing_in_pit", "in_lap", "out_lap", "stint_number",
    "lap_in_stint", "neutralised", "restart_lap", "clean", "class", "team", "manufacturer",
    "flag",
]


def race_meta(store: RaceStore, race_id: str) -> tuple[str, str, float | None]:
    """(series, track key, scheduled end in s) of a stored race."""
    row = store.race(race_id)
    end = row.get("duration_s")
    end = float(end) if end is not None and np.isfinite(end) and end > 0 else None
    return str(row.get("series") or ""), track_key(str(row.get("event") or "")), end


def strategy_laps(store: RaceStore, race_id: str) -> pd.DataFrame:
    """The stored laps the engine reads, sorted by car then lap."""
    return store.table("laps", race_id, STRATEGY_LAP_COLUMNS, via_arrow=True)


def strategy_history(store: RaceStore, race_id: str) -> History:
    """Every other stored race of the same series, summarised (stints, stops, cautions)."""
    races = store.races()
    series, _, _ = race_meta(store, race_id)
    summaries = []
    for row in races.to_dict("records"):
        if row["race_id"] == race_id or str(row.get("series")) != series:
            continue
        try:
            laps = strategy_laps(store, row["race_id"])
            summaries.append(summarise_race(laps, race_id=row["race_id"], series=series,
                                            track=track_key(str(row.get("event") or ""))))
        except (RaceDataError, KeyError, ValueError) as exc:
            log.warning("history: %s skipped (%s)", row["race_id"], exc)
    return History.from_summaries(summaries)


def strategy_snapshot(store: RaceStore, race_id: str, t_s: float | None = None, *,
                      history: History | None = None, laps: pd.DataFrame | None = None,
                      draws: int = 200) -> StrategySnapshot:
    """The strategy picture of a stored race at ``t_s`` (None = the latest crossing).

    Args:
        history: ``strategy_history`` (pass a cached one; built here when None).
        laps: ``strategy_laps`` (pass a cached one; read here when None).
    """
    series, track, end_s = race_meta(store, race_id)
    laps = strategy_laps(store, race_id) if laps is None else laps
    history = strategy_history(store, race_id) if history is None else history
    drivers = store.table("drivers", race_id)
    ratings = None
    if "licence" in drivers and drivers["licence"].notna().any():
        # A driver the results list without a licence (Indianapolis 2023) has no rating.
        ratings = drivers.set_index(["number", "driver_number"])["licence"].dropna()
    return build_snapshot(laps, history, track=track, series=series, end_s=end_s, t_s=t_s,
                          draws=draws, ratings=ratings,
                          roster=drivers[["number", "driver_number", "driver_name"]])
