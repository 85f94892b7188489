"""Cached reads for the pages, keyed by (database, race, data version).

``store.data_version()`` (the newest ingest id, one cheap query) changes whenever anything is
imported or polled, so a rerun with no new data is served from the cache and costs nothing.
Objects from ``st.cache_resource`` are shared between sessions: treat them as read-only.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from race import views
from race.analysis.standings import PreparedLaps
from race.queries import load_prepared, race_state
from ui.state import get_store


@st.cache_data(max_entries=8, show_spinner=False)
def races(path: str, version: int) -> pd.DataFrame:
    return get_store(path).races()


@st.cache_data(max_entries=32, show_spinner=False)
def race_row(path: str, race_id: str, version: int) -> dict:
    return get_store(path).race(race_id)


@st.cache_data(max_entries=32, show_spinner=False)
def table(path: str, race_id: str, version: int, name: str) -> pd.DataFrame:
    """A whole race table (cars, stints, pit_stops, flag_periods …)."""
    return get_store(path).table(name, race_id)


@st.cache_resource(max_entries=4, show_spinner=False)
def prepared(path: str, race_id: str, version: int) -> PreparedLaps:
    """Laps prepared for running-order queries (shared, read-only)."""
    return load_prepared(get_store(path), race_id)


@st.cache_data(max_entries=256, show_spinner=False)
def leaderboard(path: str, race_id: str, version: int,
                t_s: float | None) -> tuple[pd.DataFrame, str, float]:
    """(leaderboard rows, flag, race time) as of ``t_s`` (None = the latest crossing)."""
    state = race_state(get_store(path), race_id, t_s,
                       prepared=prepared(path, race_id, version))
    board = views.leaderboard(state.standings, table(path, race_id, version, "cars"))
    return board, state.flag, state.t_s


@st.cache_data(max_entries=16, show_spinner=False)
def race_end_s(path: str, race_id: str, version: int) -> float:
    """The latest line crossing of a race (s)."""
    laps = prepared(path, race_id, version).laps
    return float(laps["elapsed_s"].max()) if len(laps) else 0.0


@st.cache_resource(max_entries=4, show_spinner=False)
def lap_history(path: str, race_id: str, version: int) -> pd.DataFrame:
    """Every lap with position, class position and gap to the class leader (read-only)."""
    laps = get_store(path).table("laps", race_id, views.LAP_CHART_COLUMNS)
    return views.lap_history(laps)


@st.cache_data(max_entries=8, show_spinner=False)
def ingest_log(path: str, version: int, limit: int = 200) -> pd.DataFrame:
    return get_store(path).ingest_log(limit)
